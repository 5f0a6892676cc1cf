"""A local emulator ("sandbox") of the Zendesk Support API subset Baton uses.

It follows the documented behaviour of https://developer.zendesk.com/api-reference/ for tickets
(show, create, update with ``safe_update``, comments, metrics, the cursor-based incremental export), users, organizations, groups, webhooks
(with signing secrets) and triggers, and it sends webhooks as Zendesk does: event-subscription
payloads (``zen:event-type:ticket.*``) or trigger notifications (``conditional_ticket_events``),
signed with HMAC-SHA256, delivered from a background queue and retried on 409/429/5xx.

What agents and customers do in Zendesk's UI: ``add_comment``, ``update_as`` (an agent assigns, solves,
reopens: the ticket's metrics follow, its events fire) and ``rate`` (the legacy CSAT rating on the
ticket, good or bad, offered once the ticket is solved; Zendesk sends no event for it).

Test knobs: ``throttle`` (429 + Retry-After), ``delay``, ``requests_log``, ``deliveries``,
``wait_for_deliveries``, ``redeliver`` and ``signed_request``. ``/agent/tickets`` is a read-only
HTML view for humans. State lives in memory and every public method is thread-safe.

The app platform, for Baton's Zendesk app (``manifests/zendesk``): ``install_app`` installs it
(creating its requirements: the webhook), ``uninstall_app`` removes it (and them, as Zendesk
removes an app's requirements). A signed-in user (``?as=<user id>`` once, then a cookie, standing
in for Zendesk's session) sees the app in ``/agent/apps/baton`` (nav_bar) and on
``/agent/tickets/<id>`` (ticket_sidebar): an ``<iframe name="baton-app">`` loaded as Zendesk loads
signed URLs, by a POST carrying ``token``, an RS256 JWT signed with this sandbox's app key (served
at ``/api/v2/apps/{app id}/public_key.pem``); the page then answers the ZAF SDK's postMessage
calls (handshake, ``get`` of ``ticket.id``/``currentUser``, ``invoke`` of ``resize``). OAuth for
Baton's global client: ``/oauth/authorizations/new`` (a consent page), ``POST /oauth/tokens``, and
the bearer tokens issued, which act as the user who allowed them.
"""
from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import hmac
import html
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode, urlsplit
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, abort, g, has_request_context, redirect, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from connectors.sandbox import (JSON, ApiError, AppSetup, Driver, Outgoing, Person, Sandbox, Setup, TicketView, fill, html_to_text,
                                iso, sanitize, sid, stars)
from connectors.zendesk import conversations, webhook
from connectors.zendesk.sandbox_conversations import (SUNCO_NOT_RETRIED, SUNCO_RETRY_DELAYS, SUNCO_TIMEOUT, SUNCO_TRIES,
                                                      ConversationsEmulator)

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

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
CSP = "default-src 'none'; style-src 'unsafe-inline'"
# Baton's app as the vendor registered it: its id and its global OAuth client (the values Baton's
# test deployments are configured with, tests/browser/conftest.py APP_SETTINGS).
APP_ID = 4242
OAUTH_CLIENTS = {"baton-zendesk": "zendesk-client-secret"}
APP_SLUG = "baton"  # the nav_bar app's page is /agent/apps/<slug of the app's name>
APP_TOKEN_SECONDS = 300  # Zendesk's signed-URL JWTs live about five minutes
CODE_SECONDS = 600
SESSION_COOKIE = "zendesk_sandbox_user"  # stands in for Zendesk's own sign-in
APP_PACKAGE = Path(__file__).resolve().parents[2] / "manifests" / "zendesk"


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


class ZendeskSandbox(ConversationsEmulator, Sandbox[_Job]):
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

    def _add_picker_routes(self, app: Flask) -> None:
        """Brands, tags (cursor pagination: ``page[size]`` up to 100, ``page[after]``) and skills-based
        routing's attributes and values, as the console's pickers read them."""
        @app.get("/api/v2/brands")
        def brands() -> JSON:
            with self._lock:
                return self._page("brands", [copy.deepcopy(self._brands[k]) for k in sorted(self._brands)])

        @app.get("/api/v2/tags")
        def tags() -> JSON:
            try:
                size = max(1, min(int(request.args.get("page[size]", 100)), 100))
                start = int(request.args.get("page[after]") or 0)
            except ValueError:
                raise invalid("page", "must be a number") from None
            with self._lock:
                rows = self._popular_tags()
            more = start + size < len(rows)
            after = str(start + size) if more else None
            next_url = f"{request.base_url}?" + urlencode({"page[size]": size, "page[after]": after}) if more else None
            return {"tags": rows[start:start + size], "meta": {"has_more": more, "after_cursor": after,
                                                                "before_cursor": None}, "links": {"next": next_url, "prev": None}}

        @app.get("/api/v2/routing/attributes")
        def attributes() -> JSON:
            with self._lock:
                rows = [copy.deepcopy(a["attribute"]) for a in self._attributes.values()]
            return {"attributes": rows, "count": len(rows), "next_page": None, "previous_page": None}

        @app.get("/api/v2/routing/attributes/<attribute_id>/values")
        def attribute_values(attribute_id: str) -> JSON:
            with self._lock:
                return {"attribute_values": copy.deepcopy(self._find(self._attributes, attribute_id)["values"])}

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

    def signed_request(self, webhook_id: str, body: bytes, timestamp: str | None = None,
                       invocation_id: str | None = None) -> dict[str, str]:
        """The headers Zendesk sends with ``body``: signature = base64(HMAC-SHA256(secret, timestamp + body))."""
        with self._lock:
            secret = self._secrets[webhook_id]
        stamp = timestamp or iso(self.clock())
        digest = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
        return {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Zendesk Webhook",
                "X-Zendesk-Webhook-Id": webhook_id,
                "X-Zendesk-Webhook-Invocation-Id": invocation_id or str(uuid.uuid4()),
                "X-Zendesk-Webhook-Signature-Timestamp": stamp,
                "X-Zendesk-Webhook-Signature": base64.b64encode(digest).decode()}

    # -- the app platform ------------------------------------------------------------------------
    def install_app(self, settings: Mapping[str, Any], locations: Mapping[str, str],
                    requirements: Mapping[str, Any] | None = None) -> JSON:
        """An admin installs Baton's app: its settings, its locations (``{"nav_bar": URL template}``,
        ``{{setting.x}}`` filled from the settings) and the requirements Zendesk creates with it
        (webhooks only here)."""
        values = {f"setting.{key}": str(value) for key, value in settings.items()}
        with self._lock:
            now = iso(self.clock())
            inst = {"id": next(self._ids["app_installation"]), "app_id": self.app_id, "product": "support",
                    "settings": dict(settings), "enabled": True, "created_at": now, "updated_at": now}
            self._app_installations[inst["id"]] = inst
            self._app_locations[inst["id"]] = {name: fill(url, values) for name, url in locations.items()}
            self._requirement_hooks[inst["id"]] = [
                self._create_webhook({**spec, "endpoint": fill(spec.get("endpoint", ""), values)})["id"]
                for spec in ((requirements or {}).get("webhooks") or {}).values()]
            return copy.deepcopy(inst)

    def uninstall_app(self, installation_id: int | None = None) -> None:
        """An admin uninstalls the app (the only one when no id is given): Zendesk deletes what its
        requirements created, and tells no one."""
        with self._lock:
            ids = [installation_id] if installation_id is not None else list(self._app_installations)
            for inst_id in ids:
                self._find(self._app_installations, inst_id)
                del self._app_installations[inst_id], self._app_locations[inst_id]
                for hook_id in self._requirement_hooks.pop(inst_id, []):
                    self._webhooks.pop(hook_id, None)
                    self._secrets.pop(hook_id, None)

    def app_installation(self) -> JSON | None:
        with self._lock:
            return copy.deepcopy(next(iter(self._app_installations.values()), None))

    def requirement_webhooks(self) -> list[JSON]:
        """The webhooks the app's requirements created, as they are now."""
        with self._lock:
            return [copy.deepcopy(self._webhooks[h]) for hooks in self._requirement_hooks.values() for h in hooks
                    if h in self._webhooks]

    def rotate_app_key(self) -> None:
        """A new key pair for the app: tokens are signed with it from now on."""
        with self._lock:
            self._app_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def app_public_key(self) -> str:
        return self._key().public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def app_token(self, user_id: int, location: str, *, installation_id: int | None = None,
                  lifetime: int = APP_TOKEN_SECONDS, **overrides: Any) -> str:
        """The JWT Zendesk POSTs as ``token`` when it loads an app location for ``user_id``
        (``overrides`` replace claims, for tests of what Baton refuses)."""
        with self._lock:
            inst_id = installation_id if installation_id is not None else next(iter(self._app_installations), 0)
        base = self.url
        now = int(time.time())  # real time, not the sandbox clock: Baton checks it against its own
        claims = {"iss": urlsplit(base).netloc, "aud": f"{base}/api/v2/apps/installations/{inst_id}.json",
                  "sub": f"{base}/api/v2/users/{user_id}.json", "iat": now, "nbf": now, "exp": now + lifetime,
                  "cnf": {"jku": f"{base}/api/v2/apps/{self.app_id}/public_key.pem"},
                  # A hash of the request, like Atlassian Connect's; its recipe is not documented.
                  "qsh": hashlib.sha256(f"POST&{location}".encode()).hexdigest(),
                  "context": {"product": "support", "location": location}, **overrides}
        return jwt.encode(claims, self._key(), algorithm="RS256")

    def _key(self) -> rsa.RSAPrivateKey:
        with self._lock:
            if self._app_key is None:
                self._app_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return self._app_key

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

    # -- webhooks --------------------------------------------------------------------------------
    def _dispatch(self, ticket: JSON, actor_id: int, changes: list[tuple[str, JSON]], comment: JSON | None,
                  create: bool) -> None:
        """Queue the deliveries one change causes; bodies are rendered now, from this snapshot."""
        for hook in self._webhooks.values():
            if hook["status"] != "active":
                continue
            if hook["subscriptions"] == [CONDITIONAL]:
                for trigger in self._triggers.values():
                    for action in trigger["actions"]:
                        if (trigger["active"] and action.get("field") == "notification_webhook"
                                and action["value"][0] == hook["id"]
                                and self._fires(trigger, ticket, actor_id, comment, create)):
                            body = self._render(action["value"][1], ticket, actor_id).encode()
                            self._enqueue(_Job(hook["id"], body, None))
                continue
            for kind, event in changes:
                if f"{EVENT_PREFIX}ticket.{kind}" in hook["subscriptions"]:
                    payload = {"type": f"{EVENT_PREFIX}ticket.{kind}", "account_id": ACCOUNT_ID,
                               "id": str(uuid.uuid4()), "time": ticket["updated_at"],
                               "zendesk_event_version": "2022-11-06", "subject": f"zen:ticket:{ticket['id']}",
                               "detail": self._detail(ticket, actor_id), "event": event}
                    self._enqueue(_Job(hook["id"], json.dumps(payload).encode(), payload["id"]))

    @staticmethod
    def _detail(ticket: JSON, actor_id: int) -> JSON:
        return {"actor_id": str(actor_id), "assignee_id": sid(ticket["assignee_id"]),
                "created_at": ticket["created_at"], "description": ticket["description"],
                "group_id": sid(ticket["group_id"]), "id": str(ticket["id"]), "is_public": True,
                "organization_id": sid(ticket["organization_id"]), "priority": upper(ticket["priority"]),
                "requester_id": str(ticket["requester_id"]), "status": ticket["status"].upper(),
                "subject": ticket["subject"], "submitter_id": str(ticket["submitter_id"]),
                "tags": list(ticket["tags"]), "updated_at": ticket["updated_at"], "via": dict(ticket["via"])}

    @staticmethod
    def _fires(trigger: JSON, ticket: JSON, actor_id: int, comment: JSON | None, create: bool) -> bool:
        def holds(cond: JSON) -> bool:
            field, op, value = cond["field"], cond["operator"], cond.get("value")
            if field == "status" and op in ("less_than", "greater_than"):
                current, bound = STATUSES.index(ticket["status"]), STATUSES.index(value)
                return current < bound if op == "less_than" else current > bound
            if field == "current_tags":
                return bool(set(str(value).split()) & set(ticket["tags"])) == (op == "includes")
            actual: Any = {"update_type": "Create" if create else "Change", "status": ticket["status"],
                           "current_user": str(actor_id),
                           "comment_is_public": None if comment is None else comment["public"]}[field]
            expected = str(value).lower() == "true" if field == "comment_is_public" else str(value)
            return (actual == expected) == (op == "is")

        conditions = trigger["conditions"]
        return all(map(holds, conditions["all"])) and (not conditions["any"] or any(map(holds, conditions["any"])))

    def _render(self, template: str, ticket: JSON, actor_id: int) -> str:
        comments = self._comments[ticket["id"]]
        # Zendesk renders status and priority placeholders as their display titles ("Open", "High").
        values = {"ticket.id": str(ticket["id"]), "ticket.updated_at_with_timestamp": ticket["updated_at"],
                  "ticket.status": ticket["status"].title(), "ticket.priority": (ticket["priority"] or "").title(),
                  "ticket.requester.id": str(ticket["requester_id"]), "current_user.id": str(actor_id),
                  "ticket.latest_comment.id": str(comments[-1]["id"]) if comments else "",
                  "ticket.tags": " ".join(ticket["tags"])}
        return fill(template, values)

    def _still_wanted(self, job: _Job) -> bool:
        if job.sunco:
            return self._sc_hook_secret(job.webhook_id) is not None
        with self._lock:  # a webhook deleted meanwhile gets no more attempts
            return job.webhook_id in self._webhooks

    def _enqueue_sunco(self, hook_id: str, body: bytes, event_id: str) -> None:
        self._enqueue(_Job(hook_id, body, event_id, sunco=True))

    def _outgoing(self, job: _Job) -> Outgoing:
        if job.sunco:  # the Conversations API sends its webhook's secret as is: no signature, no timestamp
            return Outgoing("POST", str(self._sc_target(job.webhook_id)),
                            {"Content-Type": "application/json", "X-API-Key": str(self._sc_hook_secret(job.webhook_id))})
        with self._lock:
            hook = self._webhooks[job.webhook_id]
        # Signed per attempt: the signature covers the attempt's timestamp.
        return Outgoing(hook["http_method"], hook["endpoint"],
                        self.signed_request(job.webhook_id, job.body, None, job.invocation_id))

    def _deliver(self, job: _Job) -> None:
        """Support webhooks as the base retries them; Conversations API webhooks "up to 5 times over
        a 15 minute window", never after a non-recoverable 400/401/403/404/406."""
        if not job.sunco:
            return super()._deliver(job)
        for attempt in range(1, SUNCO_TRIES + 1):
            if self._halted.is_set() or not self._still_wanted(job):
                return
            status, _ = self._send(job, attempt)
            if status is not None and (200 <= status < 300 or status in SUNCO_NOT_RETRIED):
                return
            wait = self.sunco_retry_delays[min(attempt, len(self.sunco_retry_delays)) - 1]
            if attempt < SUNCO_TRIES and self._halted.wait(wait):
                return

    def _timeout(self, job: _Job) -> float:
        return SUNCO_TIMEOUT if job.sunco else self.delivery_timeout

    def _delivery(self, job: _Job, headers: dict[str, str]) -> JSON:
        return {"webhook_id": job.webhook_id, "event_id": job.event_id, "invocation_id": job.invocation_id,
                "sunco": job.sunco}

    def _redelivery(self, old: JSON) -> _Job:
        """A new invocation of the same body: fresh invocation id, timestamp and signature."""
        return _Job(old["webhook_id"], old["body"], old["event_id"], sunco=old.get("sunco", False))

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

    def _http_error(self, error: HTTPException) -> ResponseReturnValue:
        if request.path.startswith("/sc/"):
            code = "not_found" if error.code == 404 else "bad_request" if error.code == 400 else str(error.name).lower()
            return {"errors": [{"code": code, "title": error.description or error.name}]}, error.code or 500
        if not request.path.startswith("/api/"):
            return error  # the agent pages keep werkzeug's HTML errors
        body = NOT_FOUND if error.code == 404 else {"error": error.name, "description": error.description}
        return body, error.code or 500

    @staticmethod
    def _body(root: str) -> JSON:
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get(root), dict):
            raise ApiError(400, {"error": "InvalidJSON", "description": f"Expected a JSON object under {root!r}"})
        return data[root]

    def _build_app(self) -> Flask:
        app = super()._build_app()
        app.wsgi_app = _strip_json_suffix(app.wsgi_app)  # type: ignore[method-assign]
        return app

    @staticmethod
    def _page(key: str, rows: list[JSON]) -> JSON:
        """Offset pagination as Zendesk does it: ``page`` and ``per_page`` (100 at most, the default),
        ``next_page``/``previous_page`` as full URLs or null, ``count`` of all rows."""
        try:
            page, per_page = int(request.args.get("page", 1)), int(request.args.get("per_page", 100))
        except ValueError:
            raise invalid("page", "must be a number") from None
        per_page = max(1, min(per_page, 100))
        start = (max(page, 1) - 1) * per_page
        base = request.base_url

        def link(n: int) -> str:
            query = [(k, v) for k, v in request.args.items(multi=True) if k not in ("page", "per_page")]
            return f"{base}?" + urlencode([*query, ("page", n), ("per_page", per_page)])
        return {key: rows[start:start + per_page], "next_page": link(page + 1) if start + per_page < len(rows) else None,
                "previous_page": link(page - 1) if page > 1 else None, "count": len(rows)}

    def _export(self, args: Mapping[str, str]) -> JSON:
        """Incremental Ticket Export, cursor based (https://developer.zendesk.com/api-reference/ticketing/
        ticket-management/incremental_exports/): ``start_time`` (Unix seconds, at least a minute in the
        past, else 422) on the first request, ``cursor`` after; tickets oldest change first (their
        ``updated_at``, which every change here moves, stands for Zendesk's ``generated_timestamp``),
        ``per_page`` up to 1,000 (the default); ``after_url``/``after_cursor`` always, ``end_of_stream``
        once nothing is left. Zendesk leaves out the most recent minute; the sandbox serves changes at
        once, so tests need not wait a minute (the sweep's overlap reads the held-back minute)."""
        try:
            per_page = max(1, min(int(args.get("per_page", 1000)), 1000))
            if "cursor" in args:
                stamp, _, rest = base64.b64decode(args["cursor"], validate=True).decode().partition("||")
                position = (int(float(stamp)), int(rest.strip("|")))
            else:
                start = int(args["start_time"])
                if start > self.clock().timestamp() - 60:
                    raise invalid("start_time", "Too recent start_time. Use a start_time older than one minute.")
                position = (start, -1)  # every ticket changed at or after start_time
        except (KeyError, ValueError, UnicodeDecodeError):
            raise ApiError(400, {"error": "InvalidPaginationParameter",
                                 "description": "start_time or a valid cursor is required"}) from None

        def key(ticket: JSON) -> tuple[int, int]:
            return int(datetime.fromisoformat(ticket["updated_at"]).timestamp()), int(ticket["id"])

        with self._lock:
            rows = sorted((t for t in self._tickets.values() if key(t) > position), key=key)
            page = [{**self._ticket_json(t), "generated_timestamp": key(t)[0]} for t in rows[:per_page]]
            last = key(rows[per_page - 1]) if len(rows) >= per_page else key(rows[-1]) if rows else position

        def cursor(at: tuple[int, int]) -> str:
            return base64.b64encode(f"{at[0]}.0||{max(at[1], 0)}|".encode()).decode()

        after = cursor(last)
        return {"tickets": page, "after_url": f"{request.host_url}api/v2/incremental/tickets/cursor.json?cursor={after}",
                "after_cursor": after, "before_url": None, "before_cursor": None,
                "end_of_stream": len(rows) <= per_page}

    def _add_routes(self, app: Flask) -> None:
        self._add_picker_routes(app)

        @app.get("/api/v2/users/me")
        def me() -> JSON:
            with self._lock:
                return {"user": copy.deepcopy(self._users[self._caller()])}

        @app.get("/api/v2/users/<int:user_id>")
        def user(user_id: int) -> JSON:
            with self._lock:
                return {"user": copy.deepcopy(self._find(self._users, user_id))}

        @app.get("/api/v2/users/<int:user_id>/tickets/requested")
        def requested(user_id: int) -> JSON:
            with self._lock:
                self._find(self._users, user_id)
                mine = [t for t in self._tickets.values() if t["requester_id"] == user_id]
                mine.sort(key=lambda t: (t["created_at"], t["id"]), reverse=True)
                return self._page("tickets", [self._ticket_json(t) for t in mine])

        @app.get("/api/v2/organizations/<int:org_id>")
        def organization(org_id: int) -> JSON:
            with self._lock:
                return {"organization": copy.deepcopy(self._find(self._orgs, org_id))}

        @app.get("/api/v2/users")
        def users() -> JSON:
            roles = request.args.getlist("role[]") or ["end-user", "agent", "admin"]
            with self._lock:
                rows = [copy.deepcopy(u) for _, u in sorted(self._users.items()) if u["role"] in roles]
            return self._page("users", rows)

        @app.get("/api/v2/group_memberships")
        def memberships() -> JSON:
            with self._lock:
                rows = copy.deepcopy(self._memberships)
            return self._page("group_memberships", rows)

        @app.get("/api/v2/agent_availabilities")
        def availabilities() -> JSON:
            with self._lock:
                groups = {}
                for m in self._memberships:
                    groups.setdefault(m["user_id"], []).append(m["group_id"])
                data = [{"type": "agent_availabilities", "id": str(uid), "attributes": {
                    "agent_id": uid, "agent_status": {"id": a["status"], "name": a["status"]},
                    "group_ids": groups.get(uid, []), "skills": [{"id": sk} for sk in a["skills"]],
                    "channels": [{"name": "support", "status": a["status"], "max_capacity": a["max_capacity"],
                                  "work_item_count": a["work_item_count"]}]}}
                    for uid, a in sorted(self._availability.items())]
            return {"data": data, "meta": {"has_more": False}}

        @app.get("/api/v2/groups")
        def groups() -> JSON:
            with self._lock:
                rows = [copy.deepcopy(self._groups[key]) for key in sorted(self._groups)]
            return self._page("groups", rows)

        @app.get("/api/v2/tickets/<int:ticket_id>")
        def show_ticket(ticket_id: int) -> JSON:
            with self._lock:
                return {"ticket": self._ticket_json(self._find(self._tickets, ticket_id))}

        @app.get("/api/v2/tickets/<int:ticket_id>/metrics")
        def ticket_metrics(ticket_id: int) -> JSON:
            """Show Ticket Metrics By Ticket: one ``ticket_metric`` object."""
            with self._lock:
                self._find(self._tickets, ticket_id)
                return {"ticket_metric": copy.deepcopy(self._metrics[ticket_id])}

        @app.post("/api/v2/tickets")
        def create_ticket() -> tuple[JSON, int]:
            data = self._body("ticket")
            comment = data.get("comment") if isinstance(data.get("comment"), dict) else {}
            with self._lock:
                ticket = self._new_ticket(data.get("requester_id", self._caller()), self._caller(),
                                          data.get("subject", ""), comment.get("body"), comment.get("html_body"),
                                          data.get("priority"), data.get("tags") or [], data.get("status", "new"),
                                          "api", None)
                return {"ticket": self._ticket_json(ticket)}, 201

        @app.put("/api/v2/tickets/<int:ticket_id>")
        def update_ticket(ticket_id: int) -> JSON:
            data = self._body("ticket")
            with self._lock:
                ticket, audit = self._update_ticket(ticket_id, data)
                return {"ticket": self._ticket_json(ticket), "audit": audit}

        @app.get("/api/v2/tickets/<int:ticket_id>/comments")
        def comments(ticket_id: int) -> JSON:
            with self._lock:
                self._find(self._tickets, ticket_id)
                rows = copy.deepcopy(self._comments[ticket_id])
            return self._page("comments", rows)

        @app.get("/api/v2/incremental/tickets/cursor")
        def incremental_tickets() -> JSON:
            return self._export(request.args)

        @app.post("/api/v2/webhooks")
        def create_webhook() -> tuple[JSON, int]:
            return {"webhook": self._create_webhook(self._body("webhook"))}, 201

        @app.get("/api/v2/webhooks")
        def list_webhooks() -> JSON:
            part = request.args.get("filter[name_contains]", "").lower()
            with self._lock:
                rows = [copy.deepcopy(h) for h in self._webhooks.values() if part in h["name"].lower()]
            return {"webhooks": rows, "meta": {"has_more": False}}

        @app.patch("/api/v2/webhooks/<webhook_id>")
        def patch_webhook(webhook_id: str) -> tuple[str, int]:
            """Patch Webhook: the fields given replace the webhook's (https://developer.zendesk.com/
            api-reference/webhooks/webhooks-api/webhooks/#patch-webhook); 204 No Content."""
            changes = self._body("webhook")
            with self._lock:
                hook = self._webhooks.get(webhook_id)
                if hook is None:
                    raise webhook_error(404, "RecordNotFound", "Webhook not found")
                if "endpoint" in changes and not str(changes["endpoint"]).startswith(("http://", "https://")):
                    raise webhook_error(422, "InvalidInput", "the endpoint must be an http(s) URL")
                if changes.get("status", "active") not in ("active", "inactive"):
                    raise webhook_error(422, "InvalidInput", "status must be active or inactive")
                for key in ("name", "endpoint", "status"):
                    if key in changes:
                        hook[key] = changes[key]
            return "", 204

        @app.get("/api/v2/apps/<int:app_id>/public_key.pem")
        def app_public_key(app_id: int) -> Response:
            if app_id != self.app_id:
                raise ApiError(404, NOT_FOUND)
            return Response(self.app_public_key(), mimetype="application/x-pem-file")

        @app.get("/api/v2/apps/installations")
        def app_installations() -> JSON:
            with self._lock:
                return {"installations": copy.deepcopy(list(self._app_installations.values()))}

        @app.delete("/api/v2/apps/installations/<int:installation_id>")
        def delete_app_installation(installation_id: int) -> tuple[str, int]:
            self.uninstall_app(installation_id)
            return "", 204

        self._add_oauth_routes(app)
        self._add_app_pages(app)
        self._add_conversations_routes(app)

        @app.get("/api/v2/webhooks/<webhook_id>/signing_secret")
        def signing_secret(webhook_id: str) -> JSON:
            with self._lock:
                if webhook_id not in self._secrets:
                    raise webhook_error(404, "RecordNotFound", "Webhook not found")
                return {"signing_secret": {"algorithm": "SHA256", "secret": self._secrets[webhook_id]}}

        @app.delete("/api/v2/webhooks/<webhook_id>")
        def delete_webhook(webhook_id: str) -> tuple[str, int]:
            with self._lock:
                if self._webhooks.pop(webhook_id, None) is None:
                    raise webhook_error(404, "RecordNotFound", "Webhook not found")
                del self._secrets[webhook_id]
            return "", 204

        @app.post("/api/v2/triggers")
        def create_trigger() -> tuple[JSON, int]:
            return {"trigger": self._create_trigger(self._body("trigger"))}, 201

        @app.get("/api/v2/triggers")
        def list_triggers() -> JSON:
            with self._lock:
                rows = copy.deepcopy(list(self._triggers.values()))
            return {"triggers": rows, "next_page": None, "previous_page": None, "count": len(rows)}

        @app.get("/agent/tickets")
        def agent_tickets() -> Response:
            with self._lock:
                rows = "".join(
                    "<tr>" + "".join(f"<td>{cell}</td>" for cell in (
                        f"<a href='/agent/tickets/{t['id']}'>#{t['id']}</a>",
                        html.escape(t["subject"]) + (" <small>(messaging)</small>" if t["via"]["channel"] in MESSAGING else ""),
                        t["status"] + (" <small>(AI agent ticket)</small>" if t["id"] in self._ai_tickets else ""),
                        t["priority"] or "-", self._name(self._users, t["assignee_id"]),
                        self._name(self._groups, t["group_id"]), html.escape(" ".join(t["tags"])))) + "</tr>"
                    for t in sorted(self._tickets.values(), key=lambda t: t["id"], reverse=True))
            head = "".join(f"<th>{h}</th>" for h in ("Id", "Subject", "Status", "Priority", "Assignee", "Group",
                                                      "Tags"))
            return _page("Tickets", f"<h1>Tickets</h1><table cellpadding='6'><tr>{head}</tr>{rows}</table>")

        @app.get("/agent/tickets/<int:ticket_id>")
        def agent_ticket(ticket_id: int) -> Response:
            with self._lock:
                if ticket_id not in self._tickets:
                    abort(404)
                t = self._tickets[ticket_id]
                parts: list[str] = []
                for c in self._comments[ticket_id]:
                    who = f"<b>{self._name(self._users, c['author_id'])}</b> <small>{c['created_at']}</small>"
                    if c["public"]:
                        parts.append(f"<div style='border:1px solid #ddd;padding:8px;margin:8px 0'>{who}"
                                     f"<div style='white-space:pre-wrap'>{html.escape(c['body'])}</div></div>")
                    else:  # internal notes show their HTML, as Zendesk does
                        parts.append(f"<div class='internal-note' style='background:#fff8c4;border:1px solid #e0c84a;"
                                     f"padding:8px;margin:8px 0'>{who} <i>internal note</i>"
                                     f"<div>{sanitize(c['html_body'])}</div></div>")
                meta = " · ".join((
                    t["status"], f"priority {t['priority'] or '-'}",
                    f"requester {self._name(self._users, t['requester_id'])}",
                    f"assignee {self._name(self._users, t['assignee_id'])}",
                    f"group {self._name(self._groups, t['group_id'])}", f"tags {html.escape(' '.join(t['tags']))}"))
                title = f"#{t['id']} {html.escape(t['subject'])}"
                messaging = self._sc_ticket_html(ticket_id)
            body = f"<p><a href='/agent/tickets'>All tickets</a></p><h1>{title}</h1><p>{meta}</p>{messaging}" + "".join(parts)
            user = self._signed_in()
            frame = self._app_frame("ticket_sidebar", user, ticket_id) if user is not None else None
            if frame is None:
                return _page(title, body)
            layout = (f"<div style='display:flex;gap:16px;align-items:flex-start'><div style='flex:1'>{body}</div>"
                      f"<aside style='width:320px;flex:none'>{frame[0]}</aside></div>")  # Zendesk's app sidebar is 320 px
            return self._signing_in(_page(title, layout, frame[1], width="1300px"), user)

    # -- the app platform's pages and OAuth --------------------------------------------------------
    def _signed_in(self) -> int | None:
        """The staff user viewing an agent page: ``?as=<id>`` signs them in, the cookie keeps them."""
        raw = request.args.get("as") or request.cookies.get(SESSION_COOKIE) or ""
        with self._lock:
            user = self._users.get(int(raw)) if raw.isdigit() else None
        return None if user is None or user["role"] == "end-user" else int(user["id"])

    @staticmethod
    def _signing_in(response: Response, user_id: int) -> Response:
        if request.args.get("as"):
            response.set_cookie(SESSION_COOKIE, str(user_id), httponly=True, samesite="Lax")
        return response

    def _app_frame(self, location: str, user_id: int, ticket_id: int | None = None) -> tuple[str, str] | None:
        """The app's iframe at ``location`` with the form that loads it as Zendesk loads signed URLs
        (POST, ``token`` field, ``origin`` and ``app_guid`` in the query), and the CSP the page needs
        for them; None when no installed app has that location."""
        with self._lock:
            found = [(i, urls[location]) for i, urls in self._app_locations.items() if location in urls]
            if not found:
                return None
            inst_id, url = found[0]
            settings, user = dict(self._app_installations[inst_id]["settings"]), dict(self._users[user_id])
        guid = str(uuid.uuid4())
        action = _with_query(url, origin=request.host_url.rstrip("/"), app_guid=guid)
        context: JSON = {"product": "support", "location": location, "instanceGuid": guid,
                         "account": {"subdomain": self.subdomain}}
        values: JSON = {"currentUser": {"id": user_id, "name": user["name"], "role": user["role"]},
                        "currentUser.id": user_id}
        if ticket_id is not None:
            context["ticketId"] = values["ticket.id"] = ticket_id
        metadata = {"appId": self.app_id, "installationId": inst_id, "name": "Baton", "settings": settings}

        def attr(value: Any) -> str:
            return html.escape(value if isinstance(value, str) else json.dumps(value), quote=True)
        height = "800px" if location == "nav_bar" else "560px"
        markup = (f'<form id="baton-app-launch" method="post" action="{attr(action)}" target="baton-app" '
                  f'data-app-guid="{guid}" data-context="{attr(context)}" data-values="{attr(values)}" '
                  f'data-metadata="{attr(metadata)}"><input type="hidden" name="token" '
                  f'value="{attr(self.app_token(user_id, location, installation_id=inst_id))}"></form>'
                  f'<iframe id="baton-app" name="baton-app" title="Baton" '
                  f'style="width:100%;height:{height};border:1px solid #d8dcde"></iframe>'
                  '<script src="/agent/assets/zaf_host.js"></script>')
        app = _origin(url)
        csp = f"default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; frame-src {app}; form-action {app}"
        return markup, csp

    def _add_app_pages(self, app: Flask) -> None:
        @app.get("/agent/assets/zaf_host.js")
        def zaf_host() -> Response:
            return Response(ZAF_HOST_JS, mimetype="text/javascript")

        @app.get("/agent/apps/<slug>")
        def agent_app(slug: str) -> Response:
            user = self._signed_in()
            if user is None:
                return _page("Zendesk", "<p>Sign in first: add <code>?as=&lt;your user id&gt;</code>.</p>", status=401)
            frame = self._app_frame("nav_bar", user) if slug == APP_SLUG else None
            if frame is None:
                abort(404)
            body = "<p><a href='/agent/tickets'>Tickets</a></p>" + frame[0]
            return self._signing_in(_page("Baton", body, frame[1], width="1200px"), user)

    def _add_oauth_routes(self, app: Flask) -> None:
        """Zendesk's OAuth authorization code grant for Baton's global client (https://developer.zendesk.com/
        documentation/api-basics/authentication/using-oauth-to-implement-an-oauth-flow/)."""

        def problem(params: Mapping[str, str]) -> str | None:
            if params.get("response_type") != "code":
                return "response_type must be code"
            if params.get("client_id") not in self.oauth_clients:
                return "unknown client_id"
            if not str(params.get("redirect_uri", "")).startswith(("http://", "https://")):
                return "redirect_uri must be an http(s) URL"
            return None

        @app.get("/oauth/authorizations/new")
        def oauth_consent() -> Response:
            wrong = problem(request.args)
            if wrong:
                return _page("Zendesk", f"<p>Invalid authorization request: {html.escape(wrong)}.</p>", status=400)
            user = self._signed_in()
            if user is None:
                return _page("Zendesk", "<p>Sign in to Zendesk first.</p>", status=401)
            fields = "".join(f'<input type="hidden" name="{key}" value="{html.escape(request.args.get(key, ""))}">'
                             for key in ("response_type", "client_id", "redirect_uri", "scope", "state"))
            body = (f"<h1>Allow access?</h1><p><b>{html.escape(request.args['client_id'])}</b> asks for access to "
                    f"your account as <b>{self._name(self._users, user)}</b>: "
                    f"{html.escape(request.args.get('scope', 'read'))}.</p>"
                    f'<form method="post" action="/oauth/authorizations">{fields}'
                    '<button name="decision" value="allow" id="allow">Allow</button> '
                    '<button name="decision" value="deny" id="deny">Deny</button></form>')
            # Chrome applies form-action to the redirect that follows the form, too.
            csp = f"{CSP}; form-action 'self' {_origin(request.args['redirect_uri'])}"
            return self._signing_in(_page("Allow access?", body, csp), user)

        @app.post("/oauth/authorizations")
        def oauth_decide() -> Response:
            user = self._signed_in()
            if problem(request.form) or user is None:
                abort(400)
            params = {"state": request.form.get("state", "")}
            if request.form.get("decision") == "allow":
                code = secrets.token_urlsafe(24)
                with self._lock:
                    self._codes[code] = {"client_id": request.form["client_id"], "user": user,
                                         "redirect_uri": request.form["redirect_uri"],
                                         "scope": request.form.get("scope", "read"),
                                         "expires": time.monotonic() + CODE_SECONDS}
                params = {"code": code, **params}
            else:
                params = {"error": "access_denied", **params}
            return redirect(_with_query(request.form["redirect_uri"], **params), code=302)  # type: ignore[return-value]

        @app.post("/oauth/tokens")
        def oauth_token() -> tuple[JSON, int]:
            data: Any = request.get_json(silent=True) if request.is_json else request.form
            data = data if isinstance(data, Mapping) else {}

            def refuse(status: int, error: str, description: str) -> tuple[JSON, int]:
                return {"error": error, "error_description": description}, status
            secret = self.oauth_clients.get(str(data.get("client_id")))
            if secret is None or not hmac.compare_digest(str(data.get("client_secret", "")).encode(), secret.encode()):
                return refuse(401, "invalid_client", "Client authentication failed.")
            if data.get("grant_type") != "authorization_code":
                return refuse(400, "unsupported_grant_type", "The authorization grant type is not supported.")
            with self._lock:
                grant = self._codes.pop(str(data.get("code")), None)  # a code is used once, right or wrong
                if (grant is None or grant["expires"] < time.monotonic() or grant["client_id"] != data.get("client_id")
                        or grant["redirect_uri"] != data.get("redirect_uri")):
                    return refuse(400, "invalid_grant", "The provided authorization grant is invalid, expired, or "
                                                        "revoked.")
                token = secrets.token_urlsafe(32)
                self._tokens[token] = grant["user"]
            return {"access_token": token, "token_type": "bearer", "scope": grant["scope"]}, 200

    @staticmethod
    def _name(table: dict[int, JSON], key: int | None) -> str:
        return html.escape(table[key]["name"]) if key in table else "-"

    def _create_webhook(self, spec: JSON) -> JSON:
        subs = spec.get("subscriptions")
        if not spec.get("name") or not str(spec.get("endpoint", "")).startswith(("http://", "https://")):
            raise webhook_error(422, "InvalidInput", "name and an http(s) endpoint are required")
        if not isinstance(subs, list) or not subs or not all(
                s == CONDITIONAL or str(s).startswith(EVENT_PREFIX) for s in subs):
            raise webhook_error(422, "InvalidInput", "subscriptions must be event types or conditional_ticket_events")
        if CONDITIONAL in subs and len(subs) > 1:
            raise webhook_error(422, "InvalidInput", "event types cannot be mixed with conditional_ticket_events")
        with self._lock:
            hook_id = "01H" + "".join(secrets.choice("0123456789ABCDEFGHJKMNPQRSTVWXYZ") for _ in range(23))
            hook = {"id": hook_id, "name": spec["name"], "status": spec.get("status", "active"),
                    "endpoint": spec["endpoint"], "http_method": spec.get("http_method", "POST"),
                    "request_format": spec.get("request_format", "json"), "subscriptions": list(subs),
                    "created_at": iso(self.clock()), "created_by": str(self._caller())}
            self._webhooks[hook_id], self._secrets[hook_id] = hook, secrets.token_urlsafe(32)
            return copy.deepcopy(hook)

    def _create_trigger(self, spec: JSON) -> JSON:
        raw = spec.get("conditions") if isinstance(spec.get("conditions"), dict) else {}
        conditions = {"all": list(raw.get("all") or []), "any": list(raw.get("any") or [])}
        actions = spec.get("actions")
        if not spec.get("title"):
            raise invalid("title", "Title: cannot be blank")
        if not isinstance(actions, list) or not actions:
            raise invalid("actions", "Actions: cannot be blank")
        for cond in conditions["all"] + conditions["any"]:
            if cond.get("operator") not in CONDITIONS.get(cond.get("field"), ()):
                raise invalid("conditions", f"the sandbox does not support the condition {cond!r}")
            if cond["field"] == "status" and cond.get("value") not in STATUSES:
                raise invalid("conditions", f"unknown status {cond.get('value')!r}")
        with self._lock:
            for action in actions:
                if action.get("field") == "notification_webhook" and not (
                        isinstance(action.get("value"), list) and len(action["value"]) == 2
                        and action["value"][0] in self._webhooks):
                    raise invalid("actions", "notification_webhook needs [existing webhook id, body]")
            now = iso(self.clock())
            trigger = {"id": next(self._ids["trigger"]), "title": spec["title"], "active": spec.get("active", True),
                       "position": len(self._triggers) + 1, "conditions": conditions, "actions": actions,
                       "created_at": now, "updated_at": now}
            self._triggers[trigger["id"]] = trigger
            return copy.deepcopy(trigger)


def _page(title: str, body: str, csp: str = CSP, status: int = 200, width: str = "960px") -> Response:
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body style='font-family:sans-serif;max-width:{width};margin:2em auto'>{body}</body></html>")
    return Response(page, status=status, mimetype="text/html", headers={"Content-Security-Policy": csp})


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _with_query(url: str, **params: str) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


# The host side of the ZAF SDK's postMessage protocol (zendesk_app_framework_sdk lib/client.js): the
# app posts JSON strings to its parent with the page's origin as target; the host answers the
# handshake with "zaf.app.registered" (context and metadata) and each request {id, request, params}
# with {id, result}; a path it does not know comes back in result.errors, as ZAF does.
ZAF_HOST_JS = """(function () {
  var form = document.getElementById("baton-app-launch"), frame = document.getElementById("baton-app");
  var appOrigin = new URL(form.action).origin, guid = form.dataset.appGuid;
  var context = JSON.parse(form.dataset.context), values = JSON.parse(form.dataset.values);
  window.addEventListener("message", function (event) {
    if (event.origin !== appOrigin || event.source !== frame.contentWindow) { return; }
    var data;
    try { data = JSON.parse(event.data); } catch (e) { return; }
    if (!data || data.appGuid !== guid) { return; }
    function reply(message) { frame.contentWindow.postMessage(JSON.stringify(message), appOrigin); }
    if (data.key === "iframe.handshake") {
      reply({key: "zaf.app.registered", message: {context: context, metadata: JSON.parse(form.dataset.metadata)}});
    } else if (data.request === "get") {
      var result = {}, errors = {};
      data.params.forEach(function (path) {
        if (Object.prototype.hasOwnProperty.call(values, path)) { result[path] = values[path]; }
        else { errors[path] = {name: "APIUnavailable", message: "is not available here", path: path}; }
      });
      if (Object.keys(errors).length) { result.errors = errors; }
      reply({id: data.id, result: result});
    } else if (data.request === "invoke") {
      var size = (data.params.resize || [])[0];
      if (size && size.height) { frame.style.height = String(size.height).replace(/[^0-9a-z%.]/gi, ""); }
      reply({id: data.id, result: {}});
    }
  });
  form.submit();
})();
"""


def _strip_json_suffix(wsgi: WSGIApplication) -> WSGIApplication:
    """Zendesk accepts every API path with or without ``.json``."""
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/api/v2/") and path.endswith(".json"):
            environ["PATH_INFO"] = path[:-5]
        return wsgi(environ, start_response)
    return app


class ZendeskDriver(Driver):
    """Plays an admin, customers, a bot and agents on the Zendesk sandbox."""

    sandbox_class = ZendeskSandbox
    key, write_method = "zendesk", "PUT"
    has_brands = has_skills = lists_tags = True

    def __init__(self, retry_delays: Sequence[float] = (0.2, 0.2, 0.2)) -> None:
        super().__init__(retry_delays)
        self.sandbox.sunco_retry_delays = (0.2,) * 4  # five tries, test-sized
        self._admin: str | None = None
        self._sunco_key: JSON | None = None

    # Baton's Zendesk app, from its package as Zendesk would install it
    def install_app(self, baton_url: str) -> JSON:
        """The admin installs Baton's app (``manifests/zendesk``) with ``baton_url`` as its setting:
        its locations and its requirements (the webhook). Once: the installation if there is one."""
        current = self.sandbox.app_installation()
        if current is not None:
            return current  # type: ignore[no-any-return]
        manifest = json.loads((APP_PACKAGE / "manifest.json").read_text())
        requirements = json.loads((APP_PACKAGE / "requirements.json").read_text())
        locations = {name: spec["url"] for name, spec in manifest["location"]["support"].items()}
        settings = {"baton_url": baton_url.rstrip("/")}
        return self.sandbox.install_app(settings, locations, requirements)  # type: ignore[no-any-return]

    def uninstall_app(self) -> None:
        self.sandbox.uninstall_app()

    def staff(self, role: str) -> str:
        """A user to sign in as: ``"admin"`` (Ada, made on first use), ``"agent"`` (the human agent)."""
        if role == "agent":
            return self.human()
        if role != "admin":
            raise ValueError(f"unknown role {role!r}")
        if self._admin is None:
            self._admin = str(self.sandbox.add_user("Ada Admin", "ada@yourco.example", role="admin")["id"])
        return self._admin

    def app_page(self, user_id: str, ticket_id: str | None = None) -> str:
        """Where ``user_id`` sees Baton: the app's nav_bar page, or a ticket with the sidebar app."""
        path = f"/agent/tickets/{ticket_id}" if ticket_id is not None else f"/agent/apps/{APP_SLUG}"
        return f"{self.url}{path}?as={user_id}"

    def show_app(self, app: AppSetup) -> None:
        """Baton's app as Zendesk knows it (its id, its OAuth client), installed by the account's admin."""
        if app.app_id:
            self.sandbox.app_id = int(app.app_id)
        if app.client_id:
            self.sandbox.oauth_clients[app.client_id] = app.client_secret
        self.install_app(app.baton_url)

    def console_url(self, user: str = "admin") -> str:
        return self.app_page(self.staff(user) if user in ("admin", "agent") else user)

    def panel_url(self, ticket_id: Any, user: str = "agent") -> str:
        return self.app_page(self.staff(user) if user in ("admin", "agent") else user, str(ticket_id))


    def setup(self) -> Setup:
        self.bot_id = self.sandbox.add_user("Answer Bot", "bot@sandbox.example", role="agent")["id"]
        credentials = {"email": self.sandbox.api_email, "token": self.sandbox.api_token}
        settings: JSON = {"bot_user_ids": [str(self.bot_id)]}
        if self._sunco_key is not None:
            credentials.update({conversations.KEY_ID: self._sunco_key["id"], conversations.SECRET: self._sunco_key["secret"]})
            settings[conversations.APP_ID] = self._sunco_key["app_id"]
        return Setup(credentials, settings, "events")

    # messaging: conversations a bot holds, handed over through the Conversations API
    def enable_messaging(self) -> None:
        """The admin creates a Conversations API key (Admin Center > Apps and integrations > APIs >
        Conversations API) and gives it to Baton's install (``setup``)."""
        self._sunco_key = self.sandbox.create_key()

    def new_messaging_conversation(self, text: str, person: Person | None = None) -> str:
        """A customer writes in the Web Widget; Zendesk's AI agent holds the conversation and its
        ticket is an AI agent ticket (read-only). Returns the conversation id."""
        n = next(self._count)
        person = person or Person(f"Customer {n}", f"c{n}@example.com")
        customer = self._add_customer(person)
        cid = self.sandbox.start_conversation(customer, text, f"Conversation with {person.name}")
        self._customers[cid] = customer
        return cid

    def control(self, cid: str) -> str | None:
        """Which switchboard integration type holds a messaging conversation."""
        return self.sandbox.control(cid)  # type: ignore[no-any-return]

    def ticket_of(self, cid: Any) -> int:
        """The ticket of a conversation: itself, or a messaging conversation's (AI agent) ticket."""
        return int(self.sandbox.conversation(cid)["ticket_id"]) if conversations.is_conversation(str(cid)) else int(cid)

    def add_brand(self, name: str) -> str:
        return str(self.sandbox.add_brand(name)["id"])

    def add_skill(self, name: str, agent_ids: Sequence[str] = ()) -> str:
        return self.sandbox.add_skill(name, agent_ids=[int(a) for a in agent_ids])  # type: ignore[no-any-return]

    def add_tag(self, name: str) -> bool:
        self.sandbox.use_tag(name)
        return True

    def _new_group(self, name: str) -> int:
        return int(self.sandbox.add_group(name)["id"])

    def _new_agent(self, name: str, group_id: str, online: bool) -> int:
        agent = int(self.sandbox.add_user(name, f"{name.lower()}@yourco.example", role="agent")["id"])
        self.sandbox.add_membership(agent, int(group_id))
        self.sandbox.set_availability(agent, "online" if online else "offline")
        return agent

    def _add_customer(self, person: Person) -> int:
        org = self.sandbox.add_organization(person.organization, tags=("enterprise",)) if person.organization else None
        return int(self.sandbox.add_user(person.name, person.email, tags=person.tags,
                                         organization_id=org and org["id"], user_fields=dict(person.fields))["id"])

    def _open(self, customer: int, subject: str, text: str) -> int:
        return int(self.sandbox.create_ticket(customer, subject, text)["id"])

    def _reply(self, cid: str, author: Any, text: str, role: str) -> None:
        if conversations.is_conversation(cid):
            self.sandbox.say_in_conversation(cid, role, text, self.names.get(str(author), ""))
        else:
            self.sandbox.add_comment(int(cid), int(author), text)

    def assign(self, cid: Any, agent_id: str) -> None:
        self.sandbox.update_as(self.ticket_of(cid), int(agent_id), {"assignee_id": int(agent_id)})

    def solve(self, cid: Any) -> None:
        self.sandbox.update_as(self.ticket_of(cid), int(self._agent_of(cid)), {"status": "solved"})

    def reopen(self, cid: Any) -> None:
        self.sandbox.update_as(self.ticket_of(cid), int(self._agent_of(cid)), {"status": "open"})

    def rate(self, cid: Any, good: bool | int, comment: str = "") -> None:
        """Zendesk's ratings are good or bad: 4 and 5 stars are good."""
        self.sandbox.rate(self.ticket_of(cid), "good" if stars(good) >= 4 else "bad", comment)

    def view(self, cid: Any) -> TicketView:
        ticket = self.ticket_of(cid)
        t = self.sandbox.get_ticket(ticket)
        comments = self.sandbox.get_comments(ticket)
        if conversations.is_conversation(str(cid)):  # what Baton told the customer is in the conversation
            said = tuple(m["content"]["text"] for m in self.sandbox.conversation(cid)["messages"]
                         if (m.get("metadata") or {}).get(conversations.BATON_MARK))
        else:
            said = tuple(c["body"] for c in comments if c["public"] and c["author_id"] == self.sandbox.api_user_id)
        return TicketView(t["priority"], sid(t["group_id"]), sid(t["assignee_id"]), tuple(t["tags"]),
                          tuple(c["html_body"] for c in comments if not c["public"]), said)

    def writes(self, cid: Any) -> list[JSON]:
        """Updates of the ticket, and for a messaging conversation what was posted to it."""
        ticket = f"/tickets/{self.ticket_of(cid)}"
        return [r for r in self.sandbox.requests_log
                if (r["method"] == "PUT" and r["path"].endswith(ticket))
                or (r["method"] == "POST" and f"/conversations/{cid}/" in r["path"])]

    def forged(self) -> bytes:
        return json.dumps({"type": "zen:event-type:ticket.comment_added", "id": "forged-1", "time": "2026-11-20T10:00:00Z",
                           "detail": {"id": "4242"}, "event": {"comment": {"author": {"id": "1"}, "is_public": True}}}).encode()

    def auth(self, installation: Any, body: bytes, secret: str | None = None) -> dict[str, str]:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {webhook.TIMESTAMP: stamp, webhook.SIGNATURE: webhook.sign(secret or installation.webhook_secret, stamp, body)}


DRIVER = ZendeskDriver
