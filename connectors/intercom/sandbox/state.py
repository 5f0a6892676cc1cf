"""The Intercom sandbox's state: admins, teams, contacts, companies, tags and conversations with
their parts, statistics and Fin's participation; the rules Intercom applies to them (replies, notes,
assignments, close and open, custom attributes); what happens in Intercom (``start_conversation``,
``fin_answer`` …); the webhook subscription and its notifications; the workspace's authentication
and per-minute rate limit. Its API routes (``api.py``) and pages (``pages.py``) are mixed in by
:class:`IntercomSandbox` (``__init__.py``).
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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests
from flask import g, request
from werkzeug.exceptions import HTTPException

from connectors.sandbox import JSON, Outgoing, Sandbox, html_to_text

USER_AGENT = "Intercom-Webhooks-Bot"
PING = {"type": "ping", "message": "something something interzen"}
PREVIEW_PRIORITIES = ("none", "low", "medium", "high", "urgent")
# ai_agent.resolution_state in API 2.15 and 2.16 (the ai_agent schema); 2.14 and older know
# assumed_resolution, confirmed_resolution, routed_to_team and abandoned instead
FIN_STATES = ("assumed_resolution", "confirmed_resolution", "escalated", "negative_feedback", "procedure_handoff")
FIN_STATES_2_14 = {"escalated": "routed_to_team", "procedure_handoff": "routed_to_team", "negative_feedback": None}
# Distinct id ranges per kind, so that a conversation id mistaken for a contact id is a 404, not another record.
ID_BASES = {"admin": 991267001, "team": 5017001, "company": 6001001, "contact": 7001001, "tag": 8001001,
            "conversation": 100000000001, "part": 20000000001}
SINGULAR = {"admins": "admin", "teams": "team", "tags": "tag", "contacts": "contact", "companies": "company"}
WEB_PATHS = ("/oauth", "/auth/", "/a/")  # Intercom's web app and OAuth: no API token, not API calls
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
class AppRegistration:
    """A public app's settings in the Developer Hub (``manifests/intercom/app.json`` for Baton's)."""

    client_id: str
    client_secret: str  # signs Canvas Kit and uninstall requests
    name: str
    installation_url: str
    redirect_urls: tuple[str, ...]
    initialize_url: str
    submit_url: str
    uninstall_url: str | None = None
    permissions: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class _Grant:
    admin_id: str
    client_id: str
    redirect_uri: str
    expires: float


@dataclass
class _View:
    """A card as a teammate sees it in the inbox: what Intercom keeps to send ``current_canvas``."""

    conversation_id: str
    admin_id: str
    canvas: JSON = field(default_factory=dict)


@dataclass(frozen=True)
class _Job:
    url: str
    topic: str
    notification_id: str
    body: bytes


class IntercomState(Sandbox[_Job]):
    """The workspace's records and the rules that change them."""

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
        # the workspace's admin, whose authorization an operator's install uses (an access token acts as
        # the teammate who granted it: Baton's notes and assignments are written in their name)
        self.api_admin_id: str = self.add_admin("Ada Admin", "ada@yourco.example")["id"]
        self.registered_app: AppRegistration | None = None
        self.app_installed = False  # the registered app is installed in this workspace (the App Store says so)
        self.canvas_requests: list[JSON] = []  # each Canvas Kit request sent: kind, body, status, answer
        self._grants: dict[str, _Grant] = {}  # OAuth code → who authorized
        self._oauth_tokens: dict[str, str] = {}  # access token → the teammate it acts as
        self._views: dict[str, _View] = {}
        self.fin_stops_on_assignment = True  # the [U] of the reference: both answers are played
        self.fin_id: str | None = None  # the admin Fin posts as (the Operator); made on Fin's first answer
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
                    "fin": {"participated": False, "stopped": False, "resolution_state": None},
                    "source": {"type": "conversation", "id": self._new_id("part"), "delivered_as": "customer_initiated",
                               "subject": "", "body": f"<p>{html.escape(body)}</p>", "author": self._author(contact)}}
            self._tables["conversation"][conv["id"]] = conv
            self._notify("conversation.user.created", self._conversation_json(conv))
            return self._conversation_json(conv)

    def user_reply(self, conversation_id: str, contact_id: str, body: str) -> JSON:
        with self._lock:
            conv, contact = self._find("conversation", conversation_id), self._find("contact", contact_id)
            self._reopen(conv)  # a customer reply reopens a closed conversation
            return self._commit(conv, self._part("comment", f"<p>{html.escape(body)}</p>", contact),
                                "conversation.user.replied")

    def admin_reply(self, conversation_id: str, admin_id: str, body: str, author_type: str = "admin") -> JSON:
        """A teammate's reply, or with ``author_type="bot"`` an AI agent's (authored by that bot admin)."""
        if author_type not in ("admin", "bot"):
            raise ValueError(f"unknown author type {author_type!r}")
        with self._lock:
            conv, admin = self._find("conversation", conversation_id), self._find("admin", admin_id)
            part = self._part("comment", f"<p>{html.escape(body)}</p>", admin, author_type=author_type)
            if author_type == "bot":  # a bot's reply comes on both topics, as Intercom sends it
                return self._commit(conv, part, "conversation.operator.replied", "conversation.admin.replied")
            return self._commit(conv, part, "conversation.admin.replied")

    def fin_answer(self, conversation_id: str, body: str) -> JSON | None:
        """Fin answers in its running "Let Fin handle" step; None when that step has ended (the
        conversation was assigned while ``fin_stops_on_assignment``, or closed). The reply goes out
        on operator.replied and admin.replied, one part."""
        with self._lock:
            conv = self._find("conversation", conversation_id)
            if conv["fin"]["stopped"] or conv["state"] == "closed":
                return None
            conv["fin"]["participated"] = True
            if self.fin_id is None:
                self.fin_id = self.add_admin("Fin", f"operator+{self.app_id}@intercom.io")["id"]
            author = {**self._author(self._find("admin", self.fin_id), "bot"), "from_ai_agent": True, "is_ai_answer": True}
            part = {**self._part("comment", f"<p>{html.escape(body)}</p>", self._find("admin", self.fin_id)),
                    "author": author}
            return self._commit(conv, part, "conversation.operator.replied", "conversation.admin.replied")

    def fin_verdict(self, conversation_id: str, resolution_state: str) -> JSON:
        """Fin's own verdict on the conversation (``ai_agent.resolution_state``), as Fin records it
        when it resolves, escalates, hands over by a procedure or hears negative feedback; an
        escalation or a procedure's handoff ends its step."""
        if resolution_state not in FIN_STATES:
            raise ValueError(f"resolution_state is one of {', '.join(FIN_STATES)}")
        with self._lock:
            conv = self._find("conversation", conversation_id)
            conv["fin"].update(participated=True, resolution_state=resolution_state)
            if resolution_state in ("escalated", "procedure_handoff"):
                conv["fin"]["stopped"] = True
            return self._commit(conv, None, None)

    def close(self, conversation_id: str, admin_id: str) -> JSON:
        with self._lock:
            conv = self._find("conversation", conversation_id)
            return self._manage(conv, {"message_type": "close", "type": "admin", "admin_id": admin_id})

    def open(self, conversation_id: str, admin_id: str) -> JSON:
        """A teammate reopens the conversation."""
        with self._lock:
            conv = self._find("conversation", conversation_id)
            return self._manage(conv, {"message_type": "open", "type": "admin", "admin_id": admin_id})

    def assign(self, conversation_id: str, admin_id: str, assignee_id: str) -> JSON:
        """A teammate (``admin_id``) assigns the conversation to a teammate (themselves, often)."""
        with self._lock:
            conv = self._find("conversation", conversation_id)
            return self._manage(conv, {"message_type": "assignment", "type": "admin", "admin_id": admin_id,
                                       "assignee_id": assignee_id})

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

    def add_tag(self, name: str) -> JSON:
        """A tag made in Intercom's settings (Settings > Tags), on nothing yet."""
        with self._lock:
            return copy.deepcopy(self._tag(name))

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

    def _commit(self, conv: JSON, part: JSON | None, topic: str | None, *more_topics: str) -> JSON:
        """Store a change (and its part), send its notification(s) and return the conversation."""
        conv["updated_at"] = self._now()
        if part is not None:
            conv["parts"].append(part)
            self._count(conv, part)
        for each in (topic, *more_topics) if topic is not None else ():
            self._notify(each, self._conversation_json(conv))
        return self._conversation_json(conv)

    @staticmethod
    def _count(conv: JSON, part: JSON) -> None:
        """The conversation's ``statistics`` after a new part, as Intercom keeps them (the Conversation
        model's conversation_statistics: times in epoch seconds, counts since the customer wrote);
        the sandbox shows them from a conversation's first part on."""
        at, kind, author = part["created_at"], part["part_type"], part["author"]
        stats = conv.setdefault("statistics", {
            "type": "conversation_statistics", "first_contact_reply_at": conv["created_at"],
            "last_contact_reply_at": conv["created_at"], "count_reopens": 0, "count_assignments": 0,
            "count_conversation_parts": 0})
        stats["count_conversation_parts"] += 1
        if kind == "assignment" and part["assigned_to"] is not None:
            stats.setdefault("first_assignment_at", at)
            stats["last_assignment_at"] = at
            stats["count_assignments"] += 1
        elif kind == "comment" and author["type"] == "admin":  # a teammate's reply; bots (Fin) are not admins
            stats.setdefault("first_admin_reply_at", at)
            stats["last_admin_reply_at"] = at
        elif kind == "comment" and author["type"] == "user":
            stats["last_contact_reply_at"] = at
        elif kind == "close":
            stats.setdefault("first_close_at", at)
            stats["last_close_at"], stats["last_closed_by_id"] = at, author["id"]

    @staticmethod
    def _reopen(conv: JSON) -> None:
        """The conversation is open again: a reopen, if it was closed (and so has statistics)."""
        if conv["state"] == "closed":
            conv["statistics"]["count_reopens"] += 1
        conv["state"] = "open"

    def _conversation_json(self, conv: JSON, plaintext: bool = False, preview: bool = False,
                           with_parts: bool = True, version: str | None = None) -> JSON:
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
               "custom_attributes": conv["custom_attributes"], "conversation_rating": conv["rating"],
               "ai_agent_participated": conv["fin"]["participated"], "ai_agent": self._ai_agent(conv, version)}
        if "statistics" in conv:
            out["statistics"] = conv["statistics"]
        if with_parts:
            parts = [{**part, "body": text(part["body"])} for part in conv["parts"]]
            out["conversation_parts"] = {"type": "conversation_part.list", "conversation_parts": parts,
                                         "total_count": len(parts)}
        return copy.deepcopy(out)

    @staticmethod
    def _ai_agent(conv: JSON, version: str | None) -> JSON | None:
        """The ai_agent object (null when Fin never took part), in the words of the version asked
        for: the notifications and calls without a version header get the app's, 2.14 here."""
        fin = conv["fin"]
        if not fin["participated"]:
            return None
        state = fin["resolution_state"]
        if state is not None and (version or "2.14") not in ("2.15", "2.16", "Preview"):
            state = FIN_STATES_2_14.get(state, state)
        return {"source_type": "workflow", "source_title": "Let Fin handle", "last_answer_type": "ai_answer",
                "resolution_state": state, "rating": None, "rating_remark": None}

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
            self._reopen(conv)
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
            if assignee != "0" and self.fin_stops_on_assignment:
                conv["fin"]["stopped"] = True  # the one of the two behaviours this sandbox plays now
            assigned_to = None if assignee == "0" else {"type": kind, "id": assignee}
            return self._commit(conv, self._part("assignment", note, admin, assigned_to), "conversation.admin.assigned")
        if message_type in ("close", "open") and kind == "admin":
            if message_type == "close":
                conv["state"] = "closed"
            else:
                self._reopen(conv)
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

    def _before(self) -> Any:
        if request.path.startswith(WEB_PATHS):
            return None
        return super()._before()

    def _authenticated(self) -> bool:
        """The workspace's own access token, or one its OAuth flow issued to an app."""
        auth = request.authorization
        if auth is None or auth.type != "bearer":
            return False
        given = (auth.token or "").encode()
        with self._lock:
            tokens = [self.access_token, *self._oauth_tokens]
        return any(hmac.compare_digest(given, token.encode()) for token in tokens)

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
