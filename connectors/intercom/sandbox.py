"""A local emulator ("sandbox") of the Intercom REST API subset Baton uses, in API version 2.14 shapes.

It follows https://developers.intercom.com/docs/references/2.14/rest-api/ for admins, teams, contacts,
companies, tags and conversations (retrieve, reply and note, assign, close/open, tag, custom attributes,
search); ``PUT /conversations/{id}`` takes ``priority`` only with ``Intercom-Version: Preview``. Calls need
``Authorization: Bearer <access token>``; errors are ``error.list`` bodies; responses carry ``X-RateLimit-*``.

Webhooks go out as Intercom sends them: one Developer Hub subscription (url + topics), checked with a
``HEAD`` request and then a ``ping``; ``notification_event`` envelopes signed with ``X-Hub-Signature:
sha1=<hex HMAC-SHA1 of the raw body>``, keyed by the app's client secret, which every workspace that
installs the app shares. No timestamp is signed, so a redelivered body carries the same signature.
Deliveries run on a background thread, retried on 5xx and connection errors (not on 429).

Test knobs: ``throttle``, ``delay``, ``requests_log``, ``deliveries``, ``wait_for_deliveries``,
``redeliver``, ``signed_request``. State lives in memory; public methods are thread-safe; seed helpers
raise ``ApiError`` (404) for unknown ids.
"""
from __future__ import annotations

import copy
import hashlib
import hmac
import html
import json
import math
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from flask import Flask, g, request
from werkzeug.exceptions import HTTPException

from connectors.intercom import webhook
from connectors.sandbox import JSON, Driver, Outgoing, Person, Sandbox, Setup, TicketView, html_to_text, sid

USER_AGENT = "Intercom-Webhooks-Bot"
PING = {"type": "ping", "message": "something something interzen"}
PREVIEW_PRIORITIES = ("none", "low", "medium", "high", "urgent")
# Distinct id ranges per kind, so that a conversation id mistaken for a contact id is a 404, not another record.
ID_BASES = {"admin": 991267001, "team": 5017001, "company": 6001001, "contact": 7001001, "tag": 8001001,
            "conversation": 100000000001, "part": 20000000001}
SINGULAR = {"admins": "admin", "teams": "team", "tags": "tag", "contacts": "contact", "companies": "company"}
NOT_FOUND = {"admin": "Admin Not Found", "team": "Team Not Found", "company": "Company Not Found",
             "contact": "User Not Found", "tag": "Tag Not Found", "conversation": "Resource Not Found"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message

    def body(self) -> JSON:
        return {"type": "error.list", "request_id": str(uuid.uuid4()),
                "errors": [{"code": self.code, "message": self.message}]}


def invalid(message: str) -> ApiError:
    return ApiError(400, "parameter_invalid", message)


def as_html(body: str) -> str:
    """API bodies may be HTML (kept as sent); plain text is escaped and wrapped in a paragraph."""
    return body if re.search(r"<[a-zA-Z/]", body) else f"<p>{html.escape(body)}</p>"


@dataclass(frozen=True)
class _Job:
    url: str
    topic: str
    notification_id: str
    body: bytes


class IntercomSandbox(Sandbox[_Job]):
    vendor = "intercom"
    id_bases = ID_BASES
    api_prefix = ""  # the whole host is the API
    rate_limit = 10000  # per app and minute
    retried_statuses = frozenset()  # Intercom does not retry a 429
    retry_after_limit = None  # nor read Retry-After: it waits out its own schedule
    delivery_timeout = 5.0  # Intercom gives an endpoint 5 seconds to answer

    def __init__(self, access_token: str = "sandbox-token", client_secret: str = "sandbox-client-secret",
                 app_id: str = "sbx12345", *, clock: Callable[[], datetime] | None = None,
                 retry_delays: Sequence[float] = (1.0, 1.0, 1.0)) -> None:
        super().__init__(clock=clock, retry_delays=retry_delays)
        self.access_token, self.client_secret, self.app_id = access_token, client_secret, app_id
        self._tables: dict[str, dict[str, JSON]] = {kind: {} for kind in NOT_FOUND}
        self._subscription: JSON | None = None
        self._window, self._window_count = -1, 0
        self.api_admin_id: str = self.add_admin("Baton", "baton@example.com")["id"]
        self.app = self._build_app()

    # -- seeding ---------------------------------------------------------------------------------
    def add_admin(self, name: str, email: str, team_ids: Iterable[str] = (), away: bool = False) -> JSON:
        with self._lock:
            teams = [self._find("team", team_id) for team_id in team_ids]
            admin = {"type": "admin", "id": self._new_id("admin"), "name": name, "email": email,
                     "away_mode_enabled": away, "away_mode_reassign": False, "has_inbox_seat": True,
                     "team_ids": [team["id"] for team in teams]}
            for team in teams:
                team["admin_ids"].append(admin["id"])
            self._tables["admin"][admin["id"]] = admin
            return copy.deepcopy(admin)

    def add_team(self, name: str, admin_ids: Iterable[str] = ()) -> JSON:
        with self._lock:
            admins = [self._find("admin", admin_id) for admin_id in admin_ids]
            team = {"type": "team", "id": self._new_id("team"), "name": name, "admin_ids": [a["id"] for a in admins]}
            for admin in admins:
                admin["team_ids"].append(team["id"])
            self._tables["team"][team["id"]] = team
            return copy.deepcopy(team)

    def add_company(self, name: str, plan: str | None = None, custom_attributes: dict[str, Any] | None = None) -> JSON:
        with self._lock:
            company = {"type": "company", "id": self._new_id("company"), "name": name,
                       "plan": {"type": "plan", "name": plan} if plan else {},
                       "custom_attributes": dict(custom_attributes or {}), "created_at": self._now()}
            self._tables["company"][company["id"]] = company
            return copy.deepcopy(company)

    def add_contact(self, name: str, email: str, company_ids: Iterable[str] = (),
                    custom_attributes: dict[str, Any] | None = None, language_override: str | None = None,
                    tags: Iterable[str] = ()) -> JSON:
        with self._lock:
            companies = [self._find("company", company_id)["id"] for company_id in company_ids]
            now = self._now()
            contact = {"type": "contact", "id": self._new_id("contact"), "role": "user", "email": email, "name": name,
                       "created_at": now, "signed_up_at": now, "language_override": language_override,
                       "custom_attributes": dict(custom_attributes or {}),
                       "tags": {"type": "list", "data": [{"type": "tag", "id": self._tag(t)["id"]} for t in tags]},
                       "companies": {"type": "list", "data": [{"type": "company", "id": c} for c in companies]}}
            self._tables["contact"][contact["id"]] = contact
            return copy.deepcopy(contact)

    # -- simulated activity in Intercom (each fires its webhook topic) ----------------------------
    def start_conversation(self, contact_id: str, body: str) -> JSON:
        """A conversation the customer starts from the Messenger; its first message is the ``source``."""
        with self._lock:
            contact = self._find("contact", contact_id)
            now = self._now()
            conv = {"id": self._new_id("conversation"), "created_at": now, "updated_at": now, "state": "open",
                    "priority": "none", "admin_assignee_id": None, "team_assignee_id": None, "tag_ids": [],
                    "contact_id": contact["id"], "custom_attributes": {}, "rating": None, "parts": [],
                    "source": {"type": "conversation", "id": self._new_id("part"), "delivered_as": "customer_initiated",
                               "subject": "", "body": f"<p>{html.escape(body)}</p>", "author": self._author(contact)}}
            self._tables["conversation"][conv["id"]] = conv
            self._notify("conversation.user.created", self._conversation_json(conv))
            return self._conversation_json(conv)

    def user_reply(self, conversation_id: str, contact_id: str, body: str) -> JSON:
        with self._lock:
            conv, contact = self._find("conversation", conversation_id), self._find("contact", contact_id)
            conv["state"] = "open"  # a customer reply reopens a closed conversation
            return self._commit(conv, self._part("comment", f"<p>{html.escape(body)}</p>", contact),
                                "conversation.user.replied")

    def admin_reply(self, conversation_id: str, admin_id: str, body: str, author_type: str = "admin") -> JSON:
        """A teammate's reply, or with ``author_type="bot"`` an AI agent's (authored by that bot admin)."""
        if author_type not in ("admin", "bot"):
            raise ValueError(f"unknown author type {author_type!r}")
        with self._lock:
            conv, admin = self._find("conversation", conversation_id), self._find("admin", admin_id)
            part = self._part("comment", f"<p>{html.escape(body)}</p>", admin, author_type=author_type)
            return self._commit(conv, part, "conversation.admin.replied")

    def close(self, conversation_id: str, admin_id: str) -> JSON:
        with self._lock:
            conv, admin = self._find("conversation", conversation_id), self._find("admin", admin_id)
            conv["state"] = "closed"
            return self._commit(conv, self._part("close", None, admin), "conversation.admin.closed")

    def rate(self, conversation_id: str, rating: int, remark: str = "") -> JSON:
        if rating not in range(1, 6):
            raise ValueError("a rating is 1 to 5")
        with self._lock:
            conv = self._find("conversation", conversation_id)
            teammate = conv["admin_assignee_id"]
            conv["rating"] = {"rating": rating, "remark": remark, "created_at": self._now(),
                              "contact": {"type": "contact", "id": conv["contact_id"]},
                              "teammate": {"type": "admin", "id": teammate} if teammate else None}
            return self._commit(conv, None, "conversation.rating.added")

    def get_conversation(self, conversation_id: str) -> JSON:
        with self._lock:
            return self._conversation_json(self._find("conversation", conversation_id))

    def get_parts(self, conversation_id: str) -> list[JSON]:
        with self._lock:
            return copy.deepcopy(self._find("conversation", conversation_id)["parts"])

    # -- webhook subscription --------------------------------------------------------------------
    def add_webhook(self, url: str, topics: Iterable[str]) -> JSON:
        """Save the app's endpoint and topics as in the Developer Hub (again: replace). The ``HEAD`` check must
        succeed (else ``ValueError``, nothing saved); then a ``ping`` goes out whatever the topics."""
        wanted = list(dict.fromkeys(topics))
        if not url.startswith(("http://", "https://")) or not wanted or not all(isinstance(t, str) for t in wanted):
            raise ValueError("an http(s) url and at least one topic are required")
        try:
            status: int | None = requests.head(url, headers={"User-Agent": USER_AGENT}, timeout=5).status_code
        except requests.RequestException:
            status = None
        if status is None or not 200 <= status < 300:
            raise ValueError(f"Intercom could not validate {url}: HEAD answered {status}")
        with self._lock:
            self._subscription = {"url": url, "topics": wanted}
            self._notify("ping", dict(PING))
            return copy.deepcopy(self._subscription)

    def signed_request(self, body: bytes) -> dict[str, str]:
        """The headers Intercom sends with ``body``: ``X-Hub-Signature`` is keyed by the client secret."""
        digest = hmac.new(self.client_secret.encode(), body, hashlib.sha1).hexdigest()
        return {"Content-Type": "application/json", "User-Agent": USER_AGENT, "X-Hub-Signature": f"sha1={digest}"}

    # -- model -----------------------------------------------------------------------------------
    def _now(self) -> int:
        return int(self.clock().timestamp())

    def _new_id(self, kind: str) -> str:
        return str(next(self._ids[kind]))

    def _find(self, kind: str, key: Any) -> JSON:
        table = self._tables[kind]
        if isinstance(key, bool) or not isinstance(key, (str, int)) or str(key) not in table:
            raise ApiError(404, "not_found", NOT_FOUND[kind])
        return table[str(key)]

    def _tag(self, name: str) -> JSON:
        """The tag with this name, created if there is none."""
        for tag in self._tables["tag"].values():
            if tag["name"] == name:
                return tag
        tag = {"type": "tag", "id": self._new_id("tag"), "name": name}
        self._tables["tag"][tag["id"]] = tag
        return tag

    @staticmethod
    def _author(who: JSON, author_type: str | None = None) -> JSON:
        kind = author_type or ("user" if who["type"] == "contact" else "admin")
        return {"type": kind, "id": who["id"], "name": who["name"], "email": who["email"]}

    def _part(self, part_type: str, body: str | None, author: JSON, assigned_to: JSON | None = None,
              author_type: str | None = None) -> JSON:
        now = self._now()
        return {"type": "conversation_part", "id": self._new_id("part"), "part_type": part_type, "body": body,
                "created_at": now, "updated_at": now, "notified_at": now, "assigned_to": assigned_to,
                "author": self._author(author, author_type)}

    def _commit(self, conv: JSON, part: JSON | None, topic: str | None) -> JSON:
        """Store a change (and its part), send its notification and return the conversation."""
        conv["updated_at"] = self._now()
        if part is not None:
            conv["parts"].append(part)
        if topic is not None:
            self._notify(topic, self._conversation_json(conv))
        return self._conversation_json(conv)

    def _conversation_json(self, conv: JSON, plaintext: bool = False, preview: bool = False,
                           with_parts: bool = True) -> JSON:
        def text(body: str | None) -> str | None:
            return html_to_text(body) if plaintext and body is not None else body

        out = {"type": "conversation", "id": conv["id"], "created_at": conv["created_at"],
               "updated_at": conv["updated_at"], "title": None, "state": conv["state"],
               "open": conv["state"] == "open", "read": False,
               # 2.14 only knows priority/not_priority; the Preview version shows the level.
               "priority": conv["priority"] if preview else ("not_priority" if conv["priority"] == "none"
                                                             else "priority"),
               "admin_assignee_id": conv["admin_assignee_id"], "team_assignee_id": conv["team_assignee_id"],
               "tags": {"type": "tag.list", "tags": [self._tables["tag"][t] for t in conv["tag_ids"]]},
               "source": {**conv["source"], "body": text(conv["source"]["body"])},
               "contacts": {"type": "contact.list", "contacts": [{"type": "contact", "id": conv["contact_id"]}]},
               "custom_attributes": conv["custom_attributes"], "conversation_rating": conv["rating"]}
        if with_parts:
            parts = [{**part, "body": text(part["body"])} for part in conv["parts"]]
            out["conversation_parts"] = {"type": "conversation_part.list", "conversation_parts": parts,
                                         "total_count": len(parts)}
        return copy.deepcopy(out)

    @staticmethod
    def _ref(data: JSON, field: str) -> str:
        value = data.get(field)
        if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).isdigit():
            raise invalid(f"{field} is required and must be an id")
        return str(value)

    @staticmethod
    def _text(data: JSON, field: str, required: bool = True) -> str | None:
        value = data.get(field)
        if (value is not None or required) and (not isinstance(value, str) or not value.strip()):
            raise invalid(f"{field} is required")
        return value

    def _reply(self, conv: JSON, data: JSON) -> JSON:
        message_type, kind = data.get("message_type"), data.get("type")
        if kind == "admin" and message_type in ("comment", "note"):
            body, author = self._text(data, "body"), self._find("admin", self._ref(data, "admin_id"))
            topic = "conversation.admin.noted" if message_type == "note" else "conversation.admin.replied"
        elif kind == "user" and message_type == "comment":
            body, author = self._text(data, "body"), self._find("contact", self._ref(data, "intercom_user_id"))
            topic = "conversation.user.replied"
            conv["state"] = "open"
        else:
            raise invalid("message_type must be comment or note for an admin, comment for a user")
        return self._commit(conv, self._part(str(message_type), as_html(str(body)), author), topic)

    def _manage(self, conv: JSON, data: JSON) -> JSON:
        message_type, kind = data.get("message_type"), data.get("type")
        admin = self._find("admin", self._ref(data, "admin_id"))
        body = self._text(data, "body", required=False)
        note = None if body is None else as_html(body)
        if message_type == "assignment":
            if kind not in ("admin", "team"):
                raise invalid("type must be admin or team")
            assignee = self._ref(data, "assignee_id")
            if assignee != "0":  # "0" unassigns
                self._find(str(kind), assignee)
            conv[f"{kind}_assignee_id"] = None if assignee == "0" else assignee
            assigned_to = None if assignee == "0" else {"type": kind, "id": assignee}
            return self._commit(conv, self._part("assignment", note, admin, assigned_to), "conversation.admin.assigned")
        if message_type in ("close", "open") and kind == "admin":
            conv["state"] = "closed" if message_type == "close" else "open"
            topic = "conversation.admin.closed" if message_type == "close" else "conversation.admin.opened"
            return self._commit(conv, self._part(message_type, note, admin), topic)
        raise invalid("message_type must be assignment, close or open (close and open by an admin)")

    def _update(self, conv: JSON, data: JSON, preview: bool) -> JSON:
        attributes = data.get("custom_attributes", {})
        if not isinstance(attributes, dict):
            raise invalid("custom_attributes must be an object")
        if "priority" in data:
            if not preview:
                raise invalid("priority is not a valid parameter in this API version")
            if data["priority"] not in PREVIEW_PRIORITIES:
                raise invalid(f"priority must be one of {', '.join(PREVIEW_PRIORITIES)}")
            self._find("admin", self._ref(data, "admin_id"))
            conv["priority"] = data["priority"]
        conv["custom_attributes"].update(attributes)
        self._commit(conv, None, None)
        return self._conversation_json(conv, preview=preview)

    def _search(self, data: JSON) -> JSON:
        query, pagination = data.get("query"), data.get("pagination") or {}
        if not (isinstance(query, dict) and query.get("field") == "contact_ids" and query.get("operator") == "="
                and isinstance(query.get("value"), (str, int))):
            raise invalid('the sandbox searches only {"field": "contact_ids", "operator": "=", "value": id}')
        per_page = pagination.get("per_page", 20) if isinstance(pagination, dict) else None
        if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= 150:
            raise invalid("per_page must be between 1 and 150")
        found = [c for c in self._tables["conversation"].values() if c["contact_id"] == str(query["value"])]
        found.sort(key=lambda c: (c["created_at"], int(c["id"])), reverse=True)
        return {"type": "conversation.list",  # like Intercom, lists carry no conversation parts
                "conversations": [self._conversation_json(c, with_parts=False) for c in found[:per_page]],
                "total_count": len(found),
                "pages": {"type": "pages", "page": 1, "per_page": per_page,
                          "total_pages": max(1, math.ceil(len(found) / per_page))}}

    # -- webhooks --------------------------------------------------------------------------------
    def _notify(self, topic: str, item: JSON) -> None:
        """Queue the notification for ``topic`` if the subscription wants it; the body is rendered now."""
        sub = self._subscription
        if sub is None or (topic != "ping" and topic not in sub["topics"]):
            return
        now = self._now()
        envelope = {"type": "notification_event", "app_id": self.app_id,
                    "data": {"type": "notification_event_data", "item": item}, "links": {},
                    "id": f"notif_{uuid.uuid4()}", "topic": topic, "delivery_status": "pending",
                    "delivery_attempts": 1, "delivered_at": 0, "first_sent_at": now, "created_at": now, "self": None}
        self._enqueue(_Job(sub["url"], topic, envelope["id"], json.dumps(envelope).encode()))

    def _outgoing(self, job: _Job) -> Outgoing:
        return Outgoing("POST", job.url, self.signed_request(job.body))

    def _delivery(self, job: _Job, headers: dict[str, str]) -> JSON:
        return {"topic": job.topic, "notification_id": job.notification_id}

    def _redelivery(self, old: JSON) -> _Job:
        """The same body to the current endpoint; no timestamp is signed, so the signature is the same."""
        url = self._subscription["url"] if self._subscription else ""
        return _Job(url, old["topic"], old["notification_id"], old["body"])

    # -- HTTP ------------------------------------------------------------------------------------
    def _log_details(self) -> JSON:
        return {"query": request.args.to_dict(), "headers": request.headers.get("Intercom-Version")}

    def _count_call(self, entry: JSON) -> None:
        # Intercom counts calls per clock minute, and X-RateLimit-Reset announces that minute's end.
        window = self._now() // 60
        self._window, self._window_count = window, (self._window_count if window == self._window else 0) + 1

    def _calls_this_minute(self) -> int:
        return self._window_count

    def _authenticated(self) -> bool:
        auth = request.authorization
        return auth is not None and auth.type == "bearer" and hmac.compare_digest(
            (auth.token or "").encode(), self.access_token.encode())

    def _unauthorized(self) -> JSON:
        return ApiError(401, "unauthorized", "Access Token Invalid").body()

    def _too_many_requests(self, retry_after: float) -> JSON:
        g.reset = self._now() + math.ceil(retry_after)  # when a throttled client may call again
        return ApiError(429, "rate_limit_exceeded", "Exceeded rate limit").body()

    def _rate_limit_headers(self, remaining: int) -> dict[str, str]:
        reset = g.get("reset") or (self._window + 1) * 60
        return {"X-RateLimit-Limit": str(self.rate_limit), "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": str(reset)}

    def _http_error(self, error: HTTPException) -> tuple[JSON, int]:
        status = error.code or 500
        code = "not_found" if status in (404, 405) else re.sub(r"\W+", "_", error.name.lower())
        return ApiError(status, code, "Resource Not Found" if code == "not_found" else error.name).body(), status

    @staticmethod
    def _body() -> JSON:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise invalid("the request body must be a JSON object")
        return data

    def _add_routes(self, app: Flask) -> None:
        # Intercom's error.list carries a fresh request_id per response, so its errors are its own type.
        app.register_error_handler(ApiError, lambda e: (e.body(), e.status))

        @app.get("/me")
        def me() -> JSON:
            with self._lock:
                admin = copy.deepcopy(self._tables["admin"][self.api_admin_id])
            return {**admin, "app": {"type": "app", "id_code": self.app_id}}

        @app.get("/<any(admins, teams, tags):plural>")
        def listing(plural: str) -> JSON:
            with self._lock:
                rows = copy.deepcopy(list(self._tables[SINGULAR[plural]].values()))
            if plural == "tags":
                return {"type": "list", "data": rows}
            return {"type": f"{SINGULAR[plural]}.list", plural: rows}

        @app.get("/<any(admins, contacts, companies):plural>/<key>")
        def show(plural: str, key: str) -> JSON:
            with self._lock:
                return copy.deepcopy(self._find(SINGULAR[plural], key))

        @app.get("/contacts/<contact_id>/companies")
        def contact_companies(contact_id: str) -> JSON:
            with self._lock:
                links = self._find("contact", contact_id)["companies"]["data"]
                return {"type": "list", "data": [copy.deepcopy(self._find("company", c["id"])) for c in links]}

        @app.get("/conversations/<conv_id>")
        def conversation(conv_id: str) -> JSON:
            plaintext = request.args.get("display_as") == "plaintext"
            preview = request.headers.get("Intercom-Version") == "Preview"
            with self._lock:
                return self._conversation_json(self._find("conversation", conv_id), plaintext, preview)

        @app.post("/conversations/<conv_id>/<any(reply, parts):action>")
        def act(conv_id: str, action: str) -> JSON:
            data = self._body()
            with self._lock:
                conv = self._find("conversation", conv_id)
                return self._reply(conv, data) if action == "reply" else self._manage(conv, data)

        @app.put("/conversations/<conv_id>")
        def update(conv_id: str) -> JSON:
            data, preview = self._body(), request.headers.get("Intercom-Version") == "Preview"
            with self._lock:
                return self._update(self._find("conversation", conv_id), data, preview)

        @app.post("/conversations/search")
        def search() -> JSON:
            with self._lock:
                return self._search(self._body())

        @app.post("/tags")
        def create_tag() -> JSON:
            with self._lock:
                return copy.deepcopy(self._tag(str(self._text(self._body(), "name"))))

        @app.post("/conversations/<conv_id>/tags")
        def tag_conversation(conv_id: str) -> JSON:
            data = self._body()
            with self._lock:
                conv, tag = self._find("conversation", conv_id), self._find("tag", self._ref(data, "id"))
                self._find("admin", self._ref(data, "admin_id"))
                if tag["id"] not in conv["tag_ids"]:  # tagging twice changes nothing
                    conv["tag_ids"].append(tag["id"])
                    self._commit(conv, None, None)
                return copy.deepcopy(tag)

        @app.delete("/conversations/<conv_id>/tags/<tag_id>")
        def untag_conversation(conv_id: str, tag_id: str) -> JSON:
            data = request.get_json(silent=True)
            with self._lock:
                conv, tag = self._find("conversation", conv_id), self._find("tag", tag_id)
                if isinstance(data, dict) and "admin_id" in data:
                    self._find("admin", self._ref(data, "admin_id"))
                if tag["id"] in conv["tag_ids"]:
                    conv["tag_ids"].remove(tag["id"])
                    self._commit(conv, None, None)
                return copy.deepcopy(tag)


class IntercomDriver(Driver):
    """Plays an admin, customers, a bot and teammates on the Intercom sandbox."""

    sandbox_class = IntercomSandbox
    key, write_method = "intercom", "POST"
    api_prefix = "/"


    def setup(self) -> Setup:
        self.bot_id = self.sandbox.add_admin("Fin Bot", "fin@sandbox.example")["id"]
        return Setup({"access_token": self.sandbox.access_token, "client_secret": self.sandbox.client_secret},
                     {"bot_user_ids": [str(self.bot_id)]}, "webhooks")

    def connect(self, installation: Any, endpoint: str) -> None:
        self.sandbox.add_webhook(endpoint, webhook.SUPPORTED_TOPICS)  # what the admin sets in the Developer Hub

    def _new_group(self, name: str) -> str:
        return str(self.sandbox.add_team(name)["id"])  # Intercom's groups are teams

    def _new_agent(self, name: str, group_id: str, online: bool) -> str:
        # Intercom's agents are admins; away mode is how they go offline
        return str(self.sandbox.add_admin(name, f"{name.lower()}@yourco.example", team_ids=[group_id], away=not online)["id"])

    def _add_customer(self, person: Person) -> str:
        fields = dict(person.fields)
        companies: tuple[str, ...] = ()
        if person.organization:
            companies = (self.sandbox.add_company(person.organization, plan=fields.pop("plan", None))["id"],)
        if "vip" in person.tags:
            fields["tier"] = "vip"  # Intercom contacts carry a segment as a custom attribute
        return str(self.sandbox.add_contact(person.name, person.email, company_ids=companies, custom_attributes=fields)["id"])

    def _open(self, customer: str, subject: str, text: str) -> str:
        return str(self.sandbox.start_conversation(customer, text)["id"])

    def _reply(self, cid: str, author: Any, text: str, role: str) -> None:
        if role == "customer":
            self.sandbox.user_reply(cid, str(author), text)
        else:
            self.sandbox.admin_reply(cid, str(author), text, author_type="bot" if role == "bot" else "admin")

    def view(self, cid: Any) -> TicketView:
        c = self.sandbox.get_conversation(str(cid))
        parts = self.sandbox.get_parts(str(cid))
        # Intercom knows "priority" or "not_priority" (the Preview API's values) and nothing between
        return TicketView("priority" if c.get("priority") == "priority" else None, sid(c["team_assignee_id"]),
                          sid(c["admin_assignee_id"]), tuple(t["name"] for t in c["tags"]["tags"]),
                          tuple(p["body"] for p in parts if p["part_type"] == "note"),
                          tuple(html_to_text(p["body"]) for p in parts if p["part_type"] == "comment"
                                and str(p["author"]["id"]) == str(self.sandbox.api_admin_id)))

    def writes(self, cid: Any) -> list[JSON]:
        return [r for r in self.sandbox.requests_log if r["method"] in ("PUT", "POST")
                and r["path"].startswith(f"/conversations/{cid}")]

    def api_log(self) -> list[JSON]:
        return list(self.sandbox.requests_log)

    def forged(self) -> bytes:
        return json.dumps({"type": "notification_event", "app_id": "sbx12345", "id": "notif_forged", "topic":
                           "conversation.user.replied", "data": {"item": {"id": "4242"}}}).encode()

    def auth(self, installation: Any, body: bytes, secret: str | None = None) -> dict[str, str]:
        return {webhook.SIGNATURE: webhook.sign(secret or installation.webhook_secret, body)}


DRIVER = IntercomDriver
