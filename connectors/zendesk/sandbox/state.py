"""The Zendesk sandbox's state: users, organizations, groups, tickets with their comments and
metrics, and the rules Zendesk applies to them (validation, ``safe_update`` conflicts, closed tickets
read-only, tags split on whitespace), what people do in Zendesk's UI, the account's authentication
and rate-limit headers. Its webhooks (``webhooks.py``), API routes (``api.py``) and pages
(``pages.py``) are mixed in by :class:`ZendeskSandbox` (``__init__.py``).
"""
from __future__ import annotations

import copy
import dataclasses
import hmac
import html
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from flask import g, has_request_context, request

from connectors.sandbox import JSON, ApiError, Sandbox, html_to_text, iso, sid
from connectors.zendesk.sandbox.conversations import SUNCO_RETRY_DELAYS, ConversationsEmulator

ACCOUNT_ID = 12514403
PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")  # trigger "less_than" order
EVENT_PREFIX = "zen:event-type:"
CONDITIONAL = "conditional_ticket_events"
CONDITIONS = {"update_type": {"is", "is_not"}, "comment_is_public": {"is", "is_not"},
              "current_user": {"is", "is_not"}, "status": {"is", "is_not", "less_than", "greater_than"},
              "current_tags": {"includes", "not_includes"}}
NOT_FOUND = {"error": "RecordNotFound", "description": "Not found"}
CONFLICT = {"error": "UpdateConflict", "description": "Safe Update prevented the update due to outdated ticket "
                                                      "data. Please fetch the latest ticket data and try again."}
# Distinct id ranges per kind, so that a ticket id mistaken for a user id is a 404, not another record.
ID_BASES = {"ticket": 1001, "user": 5001, "organization": 7001, "group": 8001, "trigger": 9001,
            "comment": 100001, "audit": 500001, "audit_event": 600001, "app_installation": 30001,
            "ticket_metric": 700001, "satisfaction_rating": 800001, "brand": 360001,
            "sunco": int("5f74a0d52b5315fc00000000", 16)}  # Conversations API ids: 24 hex characters
SOLVED = ("solved", "closed")
MESSAGING = ("native_messaging", "messaging", "sunshine_conversations_api", "mobile_sdk", "whatsapp", "sms", "line")
CHANGE_EVENTS = {"status": "status_changed", "priority": "priority_changed", "tags": "tags_changed",
                 "group_id": "group_assignment_changed", "assignee_id": "agent_assignment_changed"}
# Baton's app as the vendor registered it: its id and its global OAuth client (the values Baton's
# test deployments are configured with, tests/browser/conftest.py APP_SETTINGS).
APP_ID = 4242
OAUTH_CLIENTS = {"baton-zendesk": "zendesk-client-secret"}


def invalid(field: str, description: str) -> ApiError:
    return ApiError(422, {"error": "RecordInvalid", "description": "Record validation errors",
                          "details": {field: [{"description": description, "error": "InvalidValue"}]}})


def webhook_error(status: int, code: str, detail: str) -> ApiError:
    # The webhooks API reports errors as a list, unlike the Support API.
    return ApiError(status, {"errors": [{"code": code, "title": code, "detail": detail}]})


def upper(value: str | None) -> str | None:
    return value.upper() if value else None


def norm_tags(tags: Iterable[str] | str) -> list[str]:
    # Zendesk splits tags on whitespace and keeps each once.
    return list(dict.fromkeys(word for tag in ([tags] if isinstance(tags, str) else tags) for word in str(tag).split()))


@dataclasses.dataclass(frozen=True)
class _Job:
    webhook_id: str
    body: bytes
    event_id: str | None
    # Kept across a job's retries, as Zendesk does; a redelivery is a new invocation.
    invocation_id: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))
    sunco: bool = False  # a Conversations API webhook (X-API-Key, its own retry policy)


class ZendeskState(ConversationsEmulator, Sandbox[_Job]):
    """The account's records and the rules that change them."""

    vendor = "zendesk"
    id_bases = ID_BASES
    api_prefix = ("/api/v2/", "/sc/v2/")  # the Support API and the Conversations API
    rate_limit = 700
    retried_statuses = frozenset({409, 429})
    retry_after_limit = 10.0  # Zendesk gives up rather than wait that long
    delivery_timeout = 10.0

    def __init__(self, api_email: str = "baton@example.com", api_token: str = "sandbox-token",
                 subdomain: str = "sandbox", *, oauth_token: str | None = None,
                 clock: Callable[[], datetime] | None = None,
                 retry_delays: Sequence[float] = (1.0, 1.0, 1.0),
                 sunco_retry_delays: Sequence[float] = SUNCO_RETRY_DELAYS) -> None:
        super().__init__(clock=clock, retry_delays=retry_delays)
        self.api_email, self.api_token, self.subdomain, self.oauth_token = api_email, api_token, subdomain, oauth_token
        self._users: dict[int, JSON] = {}
        self._memberships: list[JSON] = []
        self._availability: dict[int, JSON] = {}
        self._orgs: dict[int, JSON] = {}
        self._groups: dict[int, JSON] = {}
        self._tickets: dict[int, JSON] = {}
        self._comments: dict[int, list[JSON]] = {}
        self._metrics: dict[int, JSON] = {}  # ticket → its ticket_metric
        self._webhooks: dict[str, JSON] = {}
        self._secrets: dict[str, str] = {}
        self._triggers: dict[int, JSON] = {}
        # what the console's pickers read: brands, skills (routing attributes and their values), tags in use
        self._brands: dict[int, JSON] = {}
        self._attributes: dict[str, JSON] = {}  # skill type id → {"attribute", "values"}
        self._tag_uses: dict[str, int] = {}  # tags used on records the sandbox does not hold (macros, deleted tickets)
        # the app platform
        self.app_id = APP_ID
        self.oauth_clients = dict(OAUTH_CLIENTS)
        self._app_key: rsa.RSAPrivateKey | None = None  # made on first use: most tests never sign
        self._app_installations: dict[int, JSON] = {}
        self._app_locations: dict[int, dict[str, str]] = {}  # installation → location → URL template
        self._requirement_hooks: dict[int, list[str]] = {}
        self._codes: dict[str, JSON] = {}
        self._tokens: dict[str, int] = {}  # OAuth access token → the user who allowed it
        self.api_user_id: int = self.add_user("Baton API", api_email, role="admin")["id"]
        self._init_conversations(tuple(sunco_retry_delays))
        self.app = self._build_app()

    # -- seeding and simulated UI activity -------------------------------------------------------
    def add_user(self, name: str, email: str, role: str = "end-user", organization_id: int | None = None,
                 tags: Iterable[str] = (), time_zone: str = "UTC", locale: str = "en-US",
                 user_fields: dict[str, Any] | None = None) -> JSON:
        if role not in ("end-user", "agent", "admin"):
            raise ValueError(f"unknown role {role!r}")
        with self._lock:
            user = {"id": next(self._ids["user"]), "name": name, "email": email, "role": role,
                    "organization_id": organization_id, "tags": norm_tags(tags), "time_zone": time_zone,
                    "locale": locale, "user_fields": dict(user_fields or {}), "created_at": iso(self.clock())}
            self._users[user["id"]] = user
            return copy.deepcopy(user)

    def add_organization(self, name: str, tags: Iterable[str] = (),
                         organization_fields: dict[str, Any] | None = None) -> JSON:
        with self._lock:
            org = {"id": next(self._ids["organization"]), "name": name, "tags": norm_tags(tags),
                   "organization_fields": dict(organization_fields or {}), "created_at": iso(self.clock())}
            self._orgs[org["id"]] = org
            return copy.deepcopy(org)

    def add_group(self, name: str) -> JSON:
        with self._lock:
            group = {"id": next(self._ids["group"]), "name": name}
            self._groups[group["id"]] = group
            return copy.deepcopy(group)

    def add_membership(self, user_id: int, group_id: int) -> None:
        with self._lock:
            self._memberships.append({"id": len(self._memberships) + 1, "user_id": user_id, "group_id": group_id})

    def set_availability(self, user_id: int, status: str = "online", skills: Iterable[str] = (),
                         max_capacity: int = 5, work_item_count: int = 0) -> None:
        """Omnichannel agent availability (https://developer.zendesk.com/api-reference/agent-availability/)."""
        with self._lock:
            self._availability[user_id] = {"status": status, "skills": list(skills), "max_capacity": max_capacity,
                                            "work_item_count": work_item_count}

    def add_brand(self, name: str) -> JSON:
        """A brand (https://developer.zendesk.com/api-reference/ticketing/account-configuration/brands/);
        the first is the account's default."""
        with self._lock:
            bid = next(self._ids["brand"])
            slug = re.sub(r"[^a-z0-9]+", "", name.lower()) or f"brand{bid}"
            brand = {"id": bid, "name": name, "active": True, "default": not self._brands, "subdomain": slug,
                     "brand_url": f"https://{slug}.zendesk.com", "has_help_center": False, "is_deleted": False,
                     "created_at": iso(self.clock()), "updated_at": iso(self.clock())}
            self._brands[bid] = brand
            return copy.deepcopy(brand)

    def add_skill(self, name: str, skill_type: str = "Skills", agent_ids: Iterable[int] = ()) -> str:
        """A skill (an attribute value of skills-based routing, under its skill type, an attribute), given
        to ``agent_ids`` in their availability; returns its id, a UUID as Zendesk's are."""
        with self._lock:
            kind = next((a for a in self._attributes.values() if a["attribute"]["name"] == skill_type), None)
            if kind is None:
                aid = str(uuid.uuid4())
                kind = self._attributes[aid] = {"attribute": {"id": aid, "name": skill_type, "created_at": iso(self.clock()),
                                                              "updated_at": iso(self.clock())}, "values": []}
            value = {"id": str(uuid.uuid4()), "name": name, "attribute_id": kind["attribute"]["id"],
                     "created_at": iso(self.clock()), "updated_at": iso(self.clock())}
            kind["values"].append(value)
            for agent in agent_ids:
                self._availability.setdefault(agent, {"status": "online", "skills": [], "max_capacity": 5,
                                                      "work_item_count": 0})["skills"].append(value["id"])
            return str(value["id"])

    def use_tag(self, name: str, times: int = 1) -> None:
        """A tag used ``times`` on records the sandbox does not hold; ``GET /api/v2/tags`` counts these
        with the tags of its tickets, users and organizations."""
        with self._lock:
            for tag in norm_tags(name):
                self._tag_uses[tag] = self._tag_uses.get(tag, 0) + times

    def _popular_tags(self) -> list[JSON]:
        """List Tags: the tags in use, the most used first (Zendesk: "up to the 20,000 most popular tags
        in the last 60 days, in decreasing popularity")."""
        counts = dict(self._tag_uses)
        for record in (*self._tickets.values(), *self._users.values(), *self._orgs.values()):
            for tag in record.get("tags") or ():
                counts[tag] = counts.get(tag, 0) + 1
        return [{"name": t, "count": n} for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]

    def create_ticket(self, requester_id: int, subject: str, description: str, priority: str | None = None,
                      tags: Iterable[str] = (), status: str = "new", via: str = "web",
                      created_at: datetime | None = None) -> JSON:
        with self._lock:
            return self._ticket_json(self._new_ticket(requester_id, requester_id, subject, description, None,
                                                      priority, tags, status, via, created_at))

    def add_comment(self, ticket_id: int, author_id: int, body: str, public: bool = True,
                    at: datetime | None = None) -> JSON:
        """A comment made in Zendesk's UI (by the customer or a bot user): stored, then webhooks fire.
        The requester's reply to a solved ticket reopens it, as Zendesk does ("If the requester
        responds to a solved ticket, it's reopened", Zendesk Help, About ticket statuses)."""
        with self._lock:
            ticket = self._tickets[ticket_id]
            if author_id not in self._users:
                raise KeyError(f"unknown user {author_id}")
            comment = self._make_comment(author_id, body, None, public)
            after = copy.deepcopy(ticket)
            if author_id == ticket["requester_id"] and ticket["status"] == "solved":
                after["status"] = "open"
            self._commit(ticket, after, comment, author_id, at)
            return copy.deepcopy(comment)

    def update_as(self, ticket_id: int, user_id: int, changes: JSON) -> JSON:
        """An agent changes the ticket in Zendesk's UI (``status``, ``assignee_id`` … as Update Ticket
        takes them): stored, metrics kept, then webhooks fire with that agent as the actor."""
        with self._lock:
            if self._users.get(user_id, {}).get("role") in (None, "end-user"):
                raise KeyError(f"unknown agent {user_id}")
            return self._ticket_json(self._update_ticket(ticket_id, changes, actor=user_id)[0])

    def rate(self, ticket_id: int, score: str, comment: str = "") -> JSON:
        """The requester rates a ticket that was solved (legacy CSAT: ``good`` or ``bad``, with a comment):
        the ticket's ``satisfaction_rating`` changes. Zendesk sends no webhook event for it."""
        if score not in ("good", "bad"):
            raise ValueError("a Zendesk rating is good or bad")
        with self._lock:
            ticket = self._tickets[ticket_id]
            if self._metrics[ticket_id]["solved_at"] is None:
                raise ValueError("only a solved ticket can be rated")
            new = copy.deepcopy(ticket)
            new["satisfaction_rating"] = {"id": next(self._ids["satisfaction_rating"]), "score": score,
                                          "comment": comment or None}
            self._commit(ticket, new, None, ticket["requester_id"], None)
            return copy.deepcopy(new["satisfaction_rating"])

    def get_ticket(self, ticket_id: int) -> JSON:
        with self._lock:
            return self._ticket_json(self._tickets[ticket_id])

    def get_metrics(self, ticket_id: int) -> JSON:
        with self._lock:
            return copy.deepcopy(self._metrics[ticket_id])

    def get_comments(self, ticket_id: int) -> list[JSON]:
        with self._lock:
            return copy.deepcopy(self._comments[ticket_id])

    # -- test knobs ------------------------------------------------------------------------------
    def delay(self, seconds: float, method: str = "PUT") -> None:
        # Baton's writes to Zendesk are ticket PUTs, so those are what a test holds by default.
        super().delay(seconds, method)

    # -- ticket model ----------------------------------------------------------------------------
    @staticmethod
    def _find(table: dict[Any, JSON], key: Any) -> JSON:
        if key not in table:
            raise ApiError(404, NOT_FOUND)
        return table[key]

    def _ticket_json(self, ticket: JSON) -> JSON:
        base = self._url or f"https://{self.subdomain}.zendesk.com"
        return {"id": ticket["id"], "url": f"{base}/api/v2/tickets/{ticket['id']}.json", **copy.deepcopy(ticket)}

    def _make_comment(self, author_id: int, body: str | None, html_body: str | None, public: bool) -> JSON:
        if html_body is None:
            html_body = f"<p>{html.escape(body or '')}</p>"
        elif body is None:
            body = html_to_text(html_body)
        return {"id": next(self._ids["comment"]), "type": "Comment", "author_id": author_id, "body": body,
                "html_body": html_body, "plain_body": body, "public": public, "created_at": None}

    def _new_ticket(self, requester_id: int, submitter_id: int, subject: str, body: str | None,
                    html_body: str | None, priority: str | None, tags: Iterable[str], status: str, via: str,
                    at: datetime | None) -> JSON:
        if requester_id not in self._users:
            raise invalid("requester_id", "Requester: is invalid")
        if priority not in (None, *PRIORITIES):
            raise invalid("priority", f"Priority: {priority!r} is not valid")
        if status not in STATUSES:
            raise invalid("status", f"Status: {status!r} is not valid")
        if not (body or html_body):
            raise invalid("comment", "Description: cannot be blank")
        comment = self._make_comment(submitter_id, body, html_body, True)
        comment["created_at"] = stamp = self._stamp(None, at)
        ticket = {"id": next(self._ids["ticket"]), "subject": subject, "description": comment["body"],
                  "status": status, "priority": priority, "requester_id": requester_id, "submitter_id": submitter_id,
                  "assignee_id": None, "group_id": None,
                  "organization_id": self._users[requester_id]["organization_id"], "tags": norm_tags(tags),
                  "created_at": stamp, "updated_at": stamp, "via": {"channel": via}}
        self._tickets[ticket["id"]], self._comments[ticket["id"]] = ticket, [comment]
        self._metrics[ticket["id"]] = self._new_metric(ticket)
        self._dispatch(ticket, submitter_id, [("created", {})], comment, create=True)
        return ticket

    def _update_ticket(self, ticket_id: int, data: JSON, actor: int | None = None) -> tuple[JSON, JSON]:
        ticket = self._find(self._tickets, ticket_id)
        if ticket_id in self._ai_tickets:  # read-only while the bot holds the conversation
            return self._refuse_ai_ticket_write(ticket, data)
        if data.get("safe_update") and data.get("updated_stamp") != ticket["updated_at"]:
            raise ApiError(409, CONFLICT)
        if ticket["status"] == "closed":
            raise invalid("status", "Status: closed prevents ticket update")
        new, comment, actor = copy.deepcopy(ticket), None, self._caller() if actor is None else actor
        if "comment" in data:
            spec = data["comment"] if isinstance(data["comment"], dict) else {}
            author = spec.get("author_id", actor)
            if author not in self._users:
                raise invalid("author_id", "Author: is invalid")
            if not (spec.get("body") or spec.get("html_body")):
                raise invalid("comment", "Comment: cannot be blank")
            public = spec.get("public", True) is not False
            comment = self._make_comment(author, spec.get("body"), spec.get("html_body"), public)
        if "priority" in data:
            if data["priority"] not in (None, *PRIORITIES):
                raise invalid("priority", f"Priority: {data['priority']!r} is not valid")
            new["priority"] = data["priority"]
        if "status" in data:
            if data["status"] not in STATUSES or (data["status"] == "new" and ticket["status"] != "new"):
                raise invalid("status", f"Status: {data['status']!r} is not valid")
            new["status"] = data["status"]
        agents = {key for key, user in self._users.items() if user["role"] != "end-user"}
        for field, allowed in (("group_id", self._groups.keys()), ("assignee_id", agents)):
            if field in data:
                if data[field] is not None and (not isinstance(data[field], int) or data[field] not in allowed):
                    raise invalid(field, f"{field}: {data[field]!r} is not a valid {field[:-3]}")
                new[field] = data[field]
        if "tags" in data:
            new["tags"] = norm_tags(data["tags"] or [])
        if "additional_tags" in data:
            new["tags"] = norm_tags([*new["tags"], *norm_tags(data["additional_tags"] or [])])
        if "remove_tags" in data:
            dropped = set(norm_tags(data["remove_tags"] or []))
            new["tags"] = [tag for tag in new["tags"] if tag not in dropped]
        audit = self._commit(ticket, new, comment, actor, None)
        return new, audit

    def _commit(self, old: JSON, new: JSON, comment: JSON | None, actor_id: int, at: datetime | None) -> JSON:
        """Store an update, deliver its webhooks and return its audit."""
        new["updated_at"] = self._stamp(old["updated_at"], at)
        changes: list[tuple[str, JSON]] = []
        events: list[JSON] = []
        if comment is not None:
            comment["created_at"] = new["updated_at"]
            self._comments[new["id"]].append(comment)
            author = self._users[comment["author_id"]]
            changes.append(("comment_added", {"comment": {
                "id": str(comment["id"]), "body": comment["body"], "is_public": comment["public"],
                "author": {"id": str(author["id"]), "is_staff": author["role"] != "end-user",
                           "name": author["name"]}}}))
            events.append({key: comment[key] for key in ("id", "type", "author_id", "body", "html_body", "public")})
        for field, kind in CHANGE_EVENTS.items():
            before, after = old[field], new[field]
            if before == after:
                continue
            events.append({"id": next(self._ids["audit_event"]), "type": "Change", "field_name": field,
                           "value": after, "previous_value": before})
            if field == "tags":
                event = {"tags_added": [t for t in after if t not in before],
                         "tags_removed": [t for t in before if t not in after]}
            elif field.endswith("_id"):
                event = {"current": {"id": sid(after)}, "previous": {"id": sid(before)}}
            else:
                event = {"current": upper(after), "previous": upper(before)}
            changes.append((kind, event))
        self._measure(old, new, comment, actor_id)
        self._tickets[new["id"]] = new
        self._dispatch(new, actor_id, changes, comment, create=False)
        if new["status"] == "closed" and old["status"] != "closed":
            self._ticket_closed(new["id"])
        return {"id": next(self._ids["audit"]), "ticket_id": new["id"], "created_at": new["updated_at"],
                "author_id": actor_id, "events": events}

    def _new_metric(self, ticket: JSON) -> JSON:
        """The ticket's ticket_metric as Show Ticket Metrics returns it (https://developer.zendesk.com/
        api-reference/ticketing/tickets/ticket_metrics/); business hours are calendar hours here."""
        metric_id = next(self._ids["ticket_metric"])
        base = self._url or f"https://{self.subdomain}.zendesk.com"
        return {"id": metric_id, "ticket_id": ticket["id"], "url": f"{base}/api/v2/ticket_metrics/{metric_id}.json",
                "created_at": ticket["created_at"], "updated_at": ticket["created_at"], "group_stations": 0,
                "assignee_stations": 0, "reopens": 0, "replies": 0, "assignee_updated_at": None,
                "requester_updated_at": ticket["created_at"], "status_updated_at": ticket["created_at"],
                "initially_assigned_at": None, "assigned_at": None, "solved_at": None,
                "latest_comment_added_at": ticket["created_at"],
                "reply_time_in_minutes": {"calendar": None, "business": None},
                "first_resolution_time_in_minutes": {"calendar": None, "business": None},
                "full_resolution_time_in_minutes": {"calendar": None, "business": None}}

    def _measure(self, old: JSON, new: JSON, comment: JSON | None, actor_id: int) -> None:
        """Keep the ticket's metrics as Zendesk does: assignments, the first public reply by an agent
        (any staff user, bots and API users too), solves and reopens. The satisfaction survey counts as
        offered once the ticket is solved."""
        metric, now = self._metrics[new["id"]], new["updated_at"]
        metric["updated_at"] = now
        elapsed = int((datetime.fromisoformat(now) - datetime.fromisoformat(new["created_at"])).total_seconds())
        minutes = {"calendar": elapsed // 60, "business": elapsed // 60}
        if new["assignee_id"] is not None and new["assignee_id"] != old["assignee_id"]:
            metric["assigned_at"] = now
            metric["initially_assigned_at"] = metric["initially_assigned_at"] or now
            metric["assignee_stations"] += 1
        if new["group_id"] is not None and new["group_id"] != old["group_id"]:
            metric["group_stations"] += 1
        if actor_id == new["requester_id"]:
            metric["requester_updated_at"] = now
        elif actor_id == new["assignee_id"]:
            metric["assignee_updated_at"] = now
        if comment is not None:
            metric["latest_comment_added_at"] = now
            if self._users[comment["author_id"]]["role"] != "end-user" and comment["public"]:
                metric["replies"] += 1
                if metric["replies"] == 1:
                    metric["reply_time_in_minutes"] = dict(minutes)
                    if new["via"]["channel"] in MESSAGING:  # seconds only for messaging tickets
                        metric["reply_time_in_seconds"] = {"calendar": elapsed}
        if new["status"] != old["status"]:
            metric["status_updated_at"] = now
            if new["status"] == "solved":
                metric["solved_at"] = now
                if metric["first_resolution_time_in_minutes"]["calendar"] is None:
                    metric["first_resolution_time_in_minutes"] = dict(minutes)
                metric["full_resolution_time_in_minutes"] = dict(minutes)
                new.setdefault("satisfaction_rating", {"score": "offered"})
            elif old["status"] in SOLVED and new["status"] not in SOLVED:
                metric["reopens"] += 1
    # -- HTTP ------------------------------------------------------------------------------------
    def _authenticated(self) -> bool:
        def same(a: str | None, b: str) -> bool:
            return hmac.compare_digest((a or "").encode(), b.encode())

        if re.fullmatch(r"/api/v2/apps/\d+/public_key\.pem", request.path):
            return True  # the app's public key is public
        if request.path.startswith("/sc/"):
            return self._sc_authenticated()
        auth = request.authorization
        if auth is not None and auth.type == "basic":
            return same(auth.username, f"{self.api_email}/token") and same(auth.password, self.api_token)
        if auth is None or auth.type != "bearer":
            return False
        with self._lock:
            issued = [user for token, user in self._tokens.items() if same(auth.token, token)]
        if issued:
            g.zendesk_user = issued[0]
            return True
        return self.oauth_token is not None and same(auth.token, self.oauth_token)

    def _caller(self) -> int:
        """Who an API call acts as: the user who allowed its OAuth token, else the API user."""
        return int(g.get("zendesk_user", self.api_user_id)) if has_request_context() else self.api_user_id

    def _unauthorized(self) -> JSON:
        if request.path.startswith("/sc/"):
            return {"errors": [{"code": "unauthorized", "title": "Authorization is required"}]}
        return {"error": "Couldn't authenticate you"}

    def _too_many_requests(self, retry_after: float) -> JSON:
        if request.path.startswith("/sc/"):
            return {"errors": [{"code": "too_many_requests", "title": "Too Many Requests"}]}
        return {"error": "TooManyRequests", "description": "You have exceeded the rate limit."}

    def _rate_limit_headers(self, remaining: int) -> dict[str, str]:
        return {"X-Rate-Limit": str(self.rate_limit), "X-Rate-Limit-Remaining": str(remaining)}
