"""A local emulator ("sandbox") of the Intercom REST API subset Baton uses, in API version 2.14 shapes.

It follows https://developers.intercom.com/docs/references/2.14/rest-api/ for admins, teams, contacts,
companies, tags and conversations (retrieve with ``statistics`` and ``conversation_rating``, reply and
note, assign, close/open, tag, custom attributes, search); ``PUT /conversations/{id}`` takes
``priority`` only with ``Intercom-Version: Preview``. Calls need ``Authorization: Bearer <access
token>``; errors are ``error.list`` bodies; responses carry ``X-RateLimit-*``.

Webhooks go out as Intercom sends them: one Developer Hub subscription (url + topics), checked with a
``HEAD`` request and then a ``ping``; ``notification_event`` envelopes signed with ``X-Hub-Signature:
sha1=<hex HMAC-SHA1 of the raw body>``, keyed by the app's client secret, which every workspace that
installs the app shares. No timestamp is signed, so a redelivered body carries the same signature.
Deliveries run on a background thread, retried on 5xx and connection errors (not on 429).

The app platform, for Baton's public app (``register_app``, as its Developer Hub settings): OAuth
(``/oauth`` consent page for the signed-in teammate, ``POST /auth/eagle/token``; tokens act as the
teammate who authorized and never expire), the App Store page with the app's Installation URL
(*Install now*; once the app is installed in the workspace, *Open*, to the same URL: [U] what
Intercom's listing offers an installed app), uninstalling (``uninstall_app``: tokens revoked, then a ``{"app_id"}`` POST to the uninstall URL),
and the inbox (``/a/inbox/conversation/<id>?as=<admin id>``): the conversation with the app's
Canvas Kit card in its details, fetched with a signed initialize request and rendered as HTML; the
card's buttons post back through the sandbox, which sends the signed submit request. Canvas Kit
requests carry ``X-Body-Signature``: hex HMAC-SHA256 of the body keyed with the app's client secret.
The web pages (``/oauth``, ``/a/…``) use a sign-in cookie, not the API's bearer token.

Fin, Intercom's AI agent (``fin_answer``, ``fin_verdict``): its replies are parts by a bot author
flagged ``from_ai_agent``/``is_ai_answer``, sent on *both* ``conversation.operator.replied`` and
``conversation.admin.replied`` as Intercom does (a community forum report, 2026); a conversation it
took part in shows ``ai_agent_participated`` and ``ai_agent.resolution_state`` (API 2.15+ words; the
2.14 answer uses that version's ``routed_to_team``). Whether an API assignment stops a running "Let
Fin handle" step is not documented anywhere, so the sandbox plays both: ``fin_stops_on_assignment``
(True: Fin stays silent once the conversation is assigned to a teammate or team; False: it keeps
answering).

Test knobs: ``throttle``, ``delay``, ``fin_stops_on_assignment``, ``requests_log``, ``deliveries``, ``wait_for_deliveries``,
``redeliver``, ``signed_request``, ``canvas_requests``. State lives in memory; public methods are
thread-safe; seed helpers raise ``ApiError`` (404) for unknown ids.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import html
import json
import math
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests
from flask import Flask, g, redirect, render_template_string, request
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from connectors.intercom import webhook
from connectors.sandbox import JSON, AppSetup, Driver, Outgoing, Person, Sandbox, Setup, TicketView, html_to_text, sid, stars

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
CANVAS_LIMIT = 64 * 1024  # a canvas over 64 KB is not shown
INTERACTIVE = ("input", "textarea", "dropdown", "single-select")
WEB_PATHS = ("/oauth", "/auth/", "/a/")  # Intercom's web app and OAuth: no API token, not API calls
SIGN_IN = "intercom_sandbox_admin"  # the sign-in cookie of the sandbox's web pages
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

    # -- the app platform: a public app, OAuth, the inbox's Canvas Kit card -------------------------
    def register_app(self, registration: AppRegistration) -> None:
        """The app's settings as saved in the Developer Hub (again: replace)."""
        with self._lock:
            self.registered_app = registration

    def uninstall_app(self) -> int | None:
        """The workspace removes the app: every token it issued stops working, then its uninstall URL
        gets ``{"app_id": …}`` signed like a Canvas Kit request. What that URL answered (None: no answer)."""
        with self._lock:
            app = self._require_app()
            self._oauth_tokens.clear()
            self._grants.clear()
            self.app_installed = False
        if not app.uninstall_url:
            return None
        body = json.dumps({"app_id": self.app_id}).encode()
        try:
            return requests.post(app.uninstall_url, data=body, headers=self.canvas_headers(body), timeout=10).status_code
        except requests.RequestException:
            return None

    def canvas_headers(self, body: bytes) -> dict[str, str]:
        """The headers of a Canvas Kit (or uninstall) request: ``X-Body-Signature`` = hex HMAC-SHA256 of
        the body, keyed with the app's client secret."""
        secret = self._require_app().client_secret
        return {"Content-Type": "application/json", "Accept": "application/json",
                "X-Body-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}

    def initialize_request(self, conversation_id: str, admin_id: str) -> JSON:
        """What Intercom POSTs to the initialize URL when a teammate opens the conversation (inbox
        capability, the conversation details): Intercom-OpenAPI 2.11 ``initialize_request``."""
        with self._lock:
            conv, admin = self._find("conversation", conversation_id), self._find("admin", admin_id)
            return {"workspace_id": self.app_id, "workspace_region": "us", "admin": self._teammate(admin),
                    "card_creation_options": {},
                    "context": {"conversation_id": int(conv["id"]), "location": "conversation", "locale": "en"},
                    "conversation": self._conversation_json(conv),
                    "contact": copy.deepcopy(self._find("contact", conv["contact_id"]))}

    def submit_request(self, conversation_id: str, admin_id: str, component_id: str, input_values: JSON,
                       current_canvas: JSON) -> JSON:
        """What Intercom POSTs to the submit URL when the teammate uses a component with a submit action.
        2.11's ``submit_request`` wraps the canvas once more (``current_canvas.current_canvas``)."""
        request_ = self.initialize_request(conversation_id, admin_id)
        del request_["card_creation_options"]
        return {**request_, "component_id": component_id, "input_values": input_values,
                "current_canvas": {"current_canvas": current_canvas}, "user": request_["contact"]}

    def _require_app(self) -> AppRegistration:
        if self.registered_app is None:
            raise ApiError(404, "not_found", "No app is registered")
        return self.registered_app

    @staticmethod
    def _teammate(admin: JSON) -> JSON:
        """An admin as Canvas Kit requests show it (the Admin model: numeric team ids, a job title)."""
        return {**copy.deepcopy(admin), "job_title": admin.get("job_title") or "",
                "team_ids": [int(t) for t in admin["team_ids"]]}

    def _card(self, kind: str, view: _View, body: JSON) -> str | None:
        """Send a Canvas Kit request and keep the canvas it answers in ``view``; what went wrong, if anything
        (Intercom then shows the app's card as failed to load)."""
        app = self._require_app()
        raw = json.dumps(body).encode()
        entry: JSON = {"kind": kind, "body": body, "status": None, "answer": None}
        with self._lock:
            self.canvas_requests.append(entry)
        try:
            answer = requests.post(app.initialize_url if kind == "initialize" else app.submit_url, data=raw,
                                   headers=self.canvas_headers(raw), timeout=10)
        except requests.RequestException as e:
            return f"the app did not answer ({type(e).__name__})"
        entry["status"] = answer.status_code
        if answer.status_code != 200:
            return f"the app answered {answer.status_code}"
        try:
            entry["answer"] = answer.json()
            canvas = entry["answer"]["canvas"]
            components = canvas["content"]["components"]
        except (ValueError, KeyError, TypeError):
            return "the app answered something that is not a canvas"
        if not isinstance(components, list) or len(answer.content) > CANVAS_LIMIT:
            return "the app's canvas is not a list of components under 64 KB"
        view.canvas = canvas
        return None

    @staticmethod
    def _input_values(canvas: JSON, form: Any) -> JSON:
        """The values of the card's interactive components, keyed by component id, as Intercom sends them."""
        values: JSON = {}
        for c in canvas.get("content", {}).get("components", []):
            name = f"in.{c.get('id')}"
            if c.get("type") == "checkbox":
                values[c["id"]] = form.getlist(name)
            elif c.get("type") in INTERACTIVE and form.get(name) is not None:
                values[c["id"]] = form.get(name)
        return values

    @staticmethod
    def _submits(canvas: JSON, component_id: str) -> bool:
        """``component_id`` is on the card and has a submit action (a button, a list item, a select …)."""
        for c in canvas.get("content", {}).get("components", []):
            for item in [c, *(c.get("items") or [] if c.get("type") == "list" else [])]:
                if item.get("id") == component_id and (item.get("action") or {}).get("type") == "submit":
                    return True
        return False

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

    def _search(self, data: JSON) -> JSON:
        query, pagination = data.get("query"), data.get("pagination") or {}
        if isinstance(query, dict) and query.get("field") == "updated_at":
            return self._search_updated(query, pagination, data.get("sort"))
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

    def _search_updated(self, query: JSON, pagination: Any, sort: Any) -> JSON:
        """Conversations changed after a time (``{"field": "updated_at", "operator": ">", "value": <Unix
        seconds>}``; the 2.14 reference calls ``>`` "greater (or equal) than" and so does the sandbox),
        sorted as the search guide's ``sort`` asks (``updated_at`` or ``created_at``, ``ascending`` or
        ``descending``; newest first without one), ``per_page`` up to 150 (20 by default) and the next
        page's ``pages.next.starting_after`` cursor while more remain; lists carry no parts."""
        value = query.get("value")
        if query.get("operator") != ">" or isinstance(value, bool) or not isinstance(value, (int, str)) \
                or not str(value).isdigit():
            raise invalid('the sandbox searches updated_at only with ">" and a Unix timestamp')
        per_page = pagination.get("per_page", 20) if isinstance(pagination, dict) else None
        if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= 150:
            raise invalid("per_page must be between 1 and 150")
        sort = sort if isinstance(sort, dict) else {"field": "updated_at", "order": "descending"}
        if sort.get("field") not in ("updated_at", "created_at") or sort.get("order") not in ("ascending", "descending"):
            raise invalid("sort must name updated_at or created_at, ascending or descending")
        found = [c for c in self._tables["conversation"].values() if c["updated_at"] >= int(value)]
        found.sort(key=lambda c: (c[sort["field"]], int(c["id"])), reverse=sort["order"] == "descending")
        try:  # the cursor is where the previous page ended, as an index into this ordering
            start = int(base64.urlsafe_b64decode(str(pagination.get("starting_after") or "MA==")).decode())
        except ValueError:
            raise invalid("starting_after is not a cursor from this search") from None
        page = found[start:start + per_page]
        pages: JSON = {"type": "pages", "page": start // per_page + 1, "per_page": per_page,
                       "total_pages": max(1, math.ceil(len(found) / per_page))}
        if start + per_page < len(found):
            pages["next"] = {"page": pages["page"] + 1,
                             "starting_after": base64.urlsafe_b64encode(str(start + per_page).encode()).decode()}
        return {"type": "conversation.list", "pages": pages, "total_count": len(found),
                "conversations": [self._conversation_json(c, with_parts=False) for c in page]}

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
            """The teammate the token acts as: for an OAuth token, who authorized the app."""
            token = request.authorization.token if request.authorization else ""
            with self._lock:
                admin = copy.deepcopy(self._tables["admin"][self._oauth_tokens.get(token or "", self.api_admin_id)])
            return {**admin, "app": {"type": "app", "id_code": self.app_id}}

        self._add_web_routes(app)

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
            version = request.headers.get("Intercom-Version")
            with self._lock:
                return self._conversation_json(self._find("conversation", conv_id), plaintext, version == "Preview",
                                               version=version)

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


    # -- the web app: sign-in, App Store, OAuth consent, the inbox ----------------------------------
    def _add_web_routes(self, app: Flask) -> None:
        @app.get("/a/login")
        def sign_in() -> Any:
            """Sign in as a teammate (a cookie), then go on to ``next`` (a path on this host)."""
            admin_id, after = request.args.get("as", ""), request.args.get("next", "/a/appstore")
            with self._lock:
                known = admin_id in self._tables["admin"]
            if not known:
                return self._page("Sign in", SIGN_IN_PAGE, 200, next=after)
            response = redirect(after if after.startswith("/") and not after.startswith("//") else "/a/appstore")
            response.set_cookie(SIGN_IN, admin_id, httponly=True, samesite="Lax")
            return response

        @app.get("/a/appstore")
        def app_store() -> Any:
            return self._page("App Store", APP_STORE_PAGE, 200, reg=self.registered_app, admin=self._signed_in(),
                              installed=self.app_installed)

        @app.post("/a/appstore/uninstall")
        def app_store_uninstall() -> Any:
            if self._signed_in() is None:
                return self._page("Sign in", SIGN_IN_PAGE, 401, next="/a/appstore")
            status = self.uninstall_app()
            return self._page("App Store", APP_STORE_PAGE, 200, reg=self.registered_app, admin=self._signed_in(),
                              installed=self.app_installed, notice=f"Uninstalled; the app's uninstall URL answered {status}.")

        @app.get("/oauth")
        def oauth_consent() -> Any:
            client_id, state = request.args.get("client_id", ""), request.args.get("state", "")
            redirect_uri, problem = self._oauth_target(client_id, request.args.get("redirect_uri"))
            if problem:
                return self._page("Authorization error", ERROR_PAGE, 400, message=problem)
            admin = self._signed_in()
            if admin is None:
                return self._page("Sign in", SIGN_IN_PAGE, 200, next=request.full_path)
            return self._page("Authorize", CONSENT_PAGE, 200, reg=self.registered_app, admin=admin,
                              client_id=client_id, state=state, redirect_uri=redirect_uri)

        @app.post("/oauth/authorize")
        def oauth_authorize() -> Any:
            form = request.form
            redirect_uri, problem = self._oauth_target(form.get("client_id", ""), form.get("redirect_uri"))
            admin = self._signed_in()
            if problem or admin is None:
                return self._page("Authorization error", ERROR_PAGE, 400, message=problem or "Sign in first.")
            if form.get("decision") != "allow":
                return redirect(_with_query(redirect_uri, {"error": "access_denied", "state": form.get("state", "")}))
            code = secrets.token_urlsafe(24)
            with self._lock:
                self._grants[code] = _Grant(admin["id"], form["client_id"], redirect_uri, time.monotonic() + 600)
            return redirect(_with_query(redirect_uri, {"code": code, "state": form.get("state", "")}))

        @app.post("/auth/eagle/token")
        def oauth_token() -> JSON:
            """A code (once, within 10 minutes) and the app's client credentials, form- or JSON-encoded."""
            data = request.get_json(silent=True) if request.is_json else request.form.to_dict()
            reg = self.registered_app
            if (reg is None or not isinstance(data, dict) or data.get("client_id") != reg.client_id
                    or not hmac.compare_digest(str(data.get("client_secret") or "").encode(), reg.client_secret.encode())):
                raise ApiError(401, "unauthorized", "Invalid client credentials")
            with self._lock:
                grant = self._grants.pop(str(data.get("code") or ""), None)
                if grant is None or grant.expires < time.monotonic() or grant.client_id != reg.client_id:
                    raise ApiError(400, "invalid_grant", "The code is unknown, used or expired")
                token = f"tok_{secrets.token_urlsafe(24)}"
                self._oauth_tokens[token] = grant.admin_id
                self.app_installed = True
            return {"token_type": "Bearer", "token": token, "access_token": token}

        @app.get("/a/inbox/<workspace>/inbox/conversation/<conv_id>")
        def inbox_address(workspace: str, conv_id: str) -> Any:
            """A conversation's address as Intercom gives it (the client's ``url``): the inbox below."""
            query = request.query_string.decode()
            return redirect(f"/a/inbox/conversation/{quote(conv_id, safe='')}" + (f"?{query}" if query else ""))

        @app.get("/a/inbox/conversation/<conv_id>")
        def inbox(conv_id: str) -> Any:
            """The conversation, and the app's card in its details: a fresh initialize request each time."""
            admin = self._signed_in(request.args.get("as"))
            if admin is None:
                return self._page("Sign in", SIGN_IN_PAGE, 200, next=request.full_path)
            view = _View(self._find_locked("conversation", conv_id)["id"], admin["id"])
            error = self._card("initialize", view, self.initialize_request(conv_id, admin["id"])) \
                if self.registered_app else None
            return self._inbox(view, admin, error)

        @app.post("/a/inbox/conversation/<conv_id>/app")
        def inbox_submit(conv_id: str) -> Any:
            """The card's form: Intercom sends the submit request with the inputs' values."""
            with self._lock:
                view = self._views.get(request.form.get("_view", ""))
            admin = self._signed_in(view.admin_id if view else None)
            component = request.form.get("component", "")
            if view is None or admin is None or view.conversation_id != conv_id or not self._submits(view.canvas, component):
                return self._page("Inbox", ERROR_PAGE, 400, message="This card is out of date: reload the conversation.")
            body = self.submit_request(conv_id, admin["id"], component, self._input_values(view.canvas, request.form),
                                       view.canvas)
            return self._inbox(view, admin, self._card("submit", view, body))

    def _inbox(self, view: _View, admin: JSON, error: str | None) -> Any:
        view_id = secrets.token_urlsafe(12)
        with self._lock:
            self._views[view_id] = view
            conv = self._conversation_json(self._find("conversation", view.conversation_id), plaintext=True)
            contact = copy.deepcopy(self._find("contact", self._tables["conversation"][view.conversation_id]["contact_id"]))
            admins = copy.deepcopy(self._tables["admin"])
        parts = [{"who": (conv["source"]["author"] or {}).get("name"), "kind": "comment", "body": conv["source"]["body"]}]
        parts += [{"who": (p["author"] or {}).get("name"), "kind": p["part_type"], "body": p["body"]}
                  for p in conv["conversation_parts"]["conversation_parts"] if p["part_type"] in ("comment", "note")]
        return self._page(f"Inbox · {contact['name']}", INBOX_PAGE, 200, conv=conv, contact=contact, parts=parts,
                          admin=admin, reg=self.registered_app, view_id=view_id, canvas=view.canvas, error=error,
                          assignee=admins.get(str(conv["admin_assignee_id"]), {}).get("name"),
                          components=view.canvas.get("content", {}).get("components", []))

    def _oauth_target(self, client_id: str, redirect_uri: str | None) -> tuple[str, str | None]:
        """Where the consent sends the teammate back: a redirect URL the app registered (the first if none
        is named). The second value says what is wrong, if anything."""
        reg = self.registered_app
        if reg is None or client_id != reg.client_id:
            return "", "No app has this client_id."
        if redirect_uri is None:
            return reg.redirect_urls[0], None
        if redirect_uri not in reg.redirect_urls:
            return "", "redirect_uri is not one of the app's redirect URLs."
        return redirect_uri, None

    def _signed_in(self, as_admin: str | None = None) -> JSON | None:
        """The teammate using the web pages: ``?as=`` if given, else the sign-in cookie."""
        admin_id = as_admin or request.cookies.get(SIGN_IN, "")
        with self._lock:
            admin = self._tables["admin"].get(admin_id)
            return copy.deepcopy(admin) if admin else None

    def _find_locked(self, kind: str, key: str) -> JSON:
        with self._lock:
            return copy.deepcopy(self._find(kind, key))

    def _page(self, title: str, body: str, status: int, **context: Any) -> tuple[str, int]:
        with self._lock:
            admins = copy.deepcopy(list(self._tables["admin"].values()))
        return render_template_string(LAYOUT.replace("{{BODY}}", body), title=title, app_id=self.app_id,
                                      admins=admins, md=markdown, **context), status


def _with_query(url: str, params: dict[str, str]) -> str:
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(params)}"


def markdown(text: Any) -> Markup:
    """A text component's Markdown as Intercom renders it: bold and links; a backslash escapes."""
    kept: list[str] = []

    def keep(m: re.Match[str]) -> str:
        kept.append(m.group(1))
        return f"\x00{len(kept) - 1}\x00"

    out = str(escape(re.sub(r"\\(.)", keep, str(text or ""))))
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"\[([^\]]+)\]\((https?://[^)\s\"]+)\)", r'<a href="\2" target="_blank" rel="noopener">\1</a>', out)
    return Markup(re.sub("\x00(\\d+)\x00", lambda m: str(escape(kept[int(m.group(1))])), out))


LAYOUT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ title }} · Intercom sandbox</title>
<style>
body{margin:0;font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1a1a1a;background:#f5f5f4}
header.top{display:flex;gap:16px;align-items:center;padding:10px 18px;background:#fff;border-bottom:1px solid #e5e5e5}
header.top strong{font-size:15px}header.top .who{margin-left:auto;color:#6b6b6b}
main{padding:18px}.card{background:#fff;border:1px solid #e5e5e5;border-radius:8px;padding:16px;max-width:560px}
.inbox{display:grid;grid-template-columns:1fr 360px;gap:0;min-height:calc(100vh - 45px)}
.thread{padding:18px 24px}.thread h1{font-size:18px;margin:0 0 12px}
.part{background:#fff;border:1px solid #e5e5e5;border-radius:8px;padding:10px 12px;margin:8px 0;max-width:640px}
.part.note{background:#fef8e7;border-color:#f3d98b}.part .body{white-space:pre-wrap}.part small{color:#6b6b6b;display:block;margin-bottom:2px}
.details{background:#fff;border-left:1px solid #e5e5e5;padding:14px 16px}
.details h2{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#6b6b6b;margin:6px 0 10px}
.app-card{border:1px solid #e5e5e5;border-radius:8px;padding:12px;margin-top:12px}
.app-card>h3{font-size:13px;margin:0 0 8px;color:#6b6b6b}
.ck-text{margin:0 0 8px}.ck-text--header{font-weight:600;font-size:14px;margin-top:6px}
.ck-text--muted{color:#6b6b6b}.ck-text--error{color:#c52d2d}.ck-align--center{text-align:center}.ck-align--right{text-align:right}
.ck-table{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:0 0 8px}.ck-table dt{color:#6b6b6b}.ck-table dd{margin:0}
.ck-label{display:block;font-weight:600;margin:8px 0 4px}
.ck-input{width:100%;box-sizing:border-box;border:1px solid #d4d4d4;border-radius:6px;padding:6px 8px;font:inherit}
.ck-failed{border-color:#c52d2d!important;background:#fff6f6}
fieldset.ck-select{border:1px solid #e5e5e5;border-radius:6px;margin:8px 0;padding:6px 10px}fieldset.ck-select label{display:block}
.ck-button{display:block;width:100%;margin:10px 0 4px;padding:8px 12px;border-radius:6px;border:1px solid #0057ff;font:inherit;font-weight:600;cursor:pointer;text-align:center;text-decoration:none}
.ck-button--primary{background:#0057ff;color:#fff}.ck-button--secondary{background:#fff;color:#0057ff}.ck-button--link{border:0;background:none;color:#0057ff}
.ck-divider{border:0;border-top:1px solid #e5e5e5;margin:10px 0}.ck-spacer--xs{height:4px}.ck-spacer--s{height:8px}
.ck-spacer--m{height:16px}.ck-spacer--l{height:24px}.ck-spacer--xl{height:32px}
.ck-list{list-style:none;margin:0;padding:0}.ck-list button{all:unset;cursor:pointer;display:block;padding:6px 0}
.failed{color:#c52d2d}.btn{padding:8px 14px;border-radius:6px;border:1px solid #0057ff;background:#0057ff;color:#fff;font:inherit;cursor:pointer;text-decoration:none;display:inline-block}
.btn.secondary{background:#fff;color:#0057ff}
</style></head><body>
<header class="top"><strong>Intercom</strong><span>workspace {{ app_id }} (sandbox)</span>
{% if admin %}<span class="who">Signed in as {{ admin.name }}</span>{% endif %}</header>
{{BODY}}
</body></html>"""

SIGN_IN_PAGE = """<main><div class="card"><h1>Sign in to Intercom</h1><ul id="teammates">
{% for a in admins %}<li><a href="/a/login?{{ {'as': a.id, 'next': next}|urlencode }}">{{ a.name }}</a> <small>{{ a.email }}</small></li>{% endfor %}
</ul></div></main>"""

ERROR_PAGE = """<main><div class="card"><h1>{{ title }}</h1><p class="failed" id="error">{{ message }}</p></div></main>"""

APP_STORE_PAGE = """<main><div class="card"><h1>App Store</h1>
{% if notice %}<p id="notice">{{ notice }}</p>{% endif %}
{% if reg %}<h2>{{ reg.name }}</h2><p>{{ reg.description }}</p>
{% if installed %}<p id="installed">Installed in this workspace.</p>
<a class="btn" id="open" href="{{ reg.installation_url }}">Open {{ reg.name }}</a>
<form method="post" action="/a/appstore/uninstall" style="display:inline"><button class="btn secondary" id="uninstall">Uninstall</button></form>
{% else %}<a class="btn" id="install" href="{{ reg.installation_url }}">Install now</a>{% endif %}
{% else %}<p>No app is listed.</p>{% endif %}</div></main>"""

CONSENT_PAGE = """<main><div class="card" id="consent"><h1>{{ reg.name }} would like to access your Intercom workspace</h1>
<p>Workspace <strong>{{ app_id }}</strong>, as <strong>{{ admin.name }}</strong>. {{ reg.name }} will be able to:</p>
<ul>{% for p in reg.permissions %}<li>{{ p }}</li>{% endfor %}</ul>
<form method="post" action="/oauth/authorize"><input type="hidden" name="client_id" value="{{ client_id }}">
<input type="hidden" name="state" value="{{ state }}"><input type="hidden" name="redirect_uri" value="{{ redirect_uri }}">
<button class="btn" name="decision" value="allow" id="authorize">Authorize access</button>
<button class="btn secondary" name="decision" value="deny" id="cancel">Cancel</button></form></div></main>"""

INBOX_PAGE = """<div class="inbox"><section class="thread" aria-label="Conversation"><h1>{{ contact.name }}</h1>
{% for p in parts %}<div class="part {{ p.kind }}"><small>{{ p.who }}{% if p.kind == 'note' %} · note{% endif %}</small><div class="body">{{ p.body }}</div></div>{% endfor %}
</section><aside class="details" aria-label="Conversation details"><h2>Conversation details</h2>
<dl class="ck-table"><dt>Assignee</dt><dd>{{ assignee or "Unassigned" }}</dd><dt>Contact</dt><dd>{{ contact.email }}</dd></dl>
{% if reg %}<div class="app-card" id="app-card" data-app="{{ reg.name }}"><h3>{{ reg.name }}</h3>
{% if error %}<p class="failed" id="app-error">The app could not be loaded: {{ error }}.</p>{% else %}
<form method="post" action="/a/inbox/conversation/{{ conv.id }}/app" id="canvas"><input type="hidden" name="_view" value="{{ view_id }}">
{% for c in components %}{% set cid = 'in.' ~ c.id %}
{% if c.type == 'text' %}<p class="ck-text ck-text--{{ c.style or 'paragraph' }} ck-align--{{ c.align or 'left' }}" data-id="{{ c.id }}">{{ md(c.text) }}</p>
{% elif c.type == 'data-table' %}<dl class="ck-table" data-id="{{ c.id }}">{% for i in c['items'] %}<dt>{{ i.field }}</dt><dd>{{ i.value }}</dd>{% endfor %}</dl>
{% elif c.type == 'divider' %}<hr class="ck-divider">
{% elif c.type == 'spacer' %}<div class="ck-spacer ck-spacer--{{ c.size or 's' }}"></div>
{% elif c.type == 'image' %}<img src="{{ c.url }}" width="{{ c.width }}" height="{{ c.height }}" alt="">
{% elif c.type == 'button' %}{% if c.action.type == 'url' %}<a class="ck-button ck-button--{{ c.style or 'primary' }}" href="{{ c.action.url }}" target="_blank" rel="noopener" data-id="{{ c.id }}">{{ c.label }}</a>
{% else %}<button class="ck-button ck-button--{{ c.style or 'primary' }}" type="submit" name="component" value="{{ c.id }}" data-id="{{ c.id }}"{% if c.disabled %} disabled{% endif %}>{{ c.label }}</button>{% endif %}
{% elif c.type == 'single-select' %}<fieldset class="ck-select{% if c.save_state == 'failed' %} ck-failed{% endif %}" data-id="{{ c.id }}"{% if c.save_state == 'failed' %} aria-invalid="true"{% endif %}><legend class="ck-label">{{ c.label }}</legend>
{% for o in c.options %}<label><input type="radio" name="{{ cid }}" value="{{ o.id }}"{% if c.value == o.id %} checked{% endif %}{% if o.disabled or c.disabled %} disabled{% endif %}{% if c.action %} onchange="this.form.requestSubmit(this.form.querySelector('[data-submit=&quot;{{ c.id }}&quot;]'))"{% endif %}> {{ o.text }}</label>{% endfor %}
{% if c.action %}<button hidden type="submit" name="component" value="{{ c.id }}" data-submit="{{ c.id }}"></button>{% endif %}</fieldset>
{% elif c.type == 'dropdown' %}<label class="ck-label" for="{{ cid }}">{{ c.label }}</label><select class="ck-input{% if c.save_state == 'failed' %} ck-failed{% endif %}" id="{{ cid }}" name="{{ cid }}" data-id="{{ c.id }}"{% if c.save_state == 'failed' %} aria-invalid="true"{% endif %}{% if c.disabled %} disabled{% endif %}>
{% for o in c.options %}<option value="{{ o.id }}"{% if c.value == o.id %} selected{% endif %}{% if o.disabled %} disabled{% endif %}>{{ o.text }}</option>{% endfor %}</select>
{% elif c.type == 'textarea' %}<label class="ck-label" for="{{ cid }}">{{ c.label }}</label><textarea class="ck-input{% if c.error %} ck-failed{% endif %}" id="{{ cid }}" name="{{ cid }}" rows="3" data-id="{{ c.id }}" placeholder="{{ c.placeholder or '' }}"{% if c.error %} aria-invalid="true"{% endif %}{% if c.disabled %} disabled{% endif %}>{{ c.value or '' }}</textarea>
{% elif c.type == 'input' %}<label class="ck-label" for="{{ cid }}">{{ c.label }}</label><input class="ck-input{% if c.save_state == 'failed' %} ck-failed{% endif %}" id="{{ cid }}" name="{{ cid }}" value="{{ c.value or '' }}" placeholder="{{ c.placeholder or '' }}" data-id="{{ c.id }}"{% if c.disabled %} disabled{% endif %}>
{% if c.action %}<button class="ck-button ck-button--secondary" type="submit" name="component" value="{{ c.id }}">Submit</button>{% endif %}
{% elif c.type == 'checkbox' %}<fieldset class="ck-select" data-id="{{ c.id }}"><legend class="ck-label">{{ c.label }}</legend>{% for o in c.option %}<label><input type="checkbox" name="{{ cid }}" value="{{ o.id }}"{% if o.id in (c.value or []) %} checked{% endif %}> {{ o.text }}</label>{% endfor %}</fieldset>
{% elif c.type == 'list' %}<ul class="ck-list" data-id="{{ c.id }}">{% for i in c['items'] %}<li>{% if i.action and i.action.type == 'submit' %}<button type="submit" name="component" value="{{ i.id }}"><strong>{{ i.title }}</strong> {{ i.subtitle or '' }}</button>
{% elif i.action and i.action.type == 'url' %}<a href="{{ i.action.url }}" target="_blank" rel="noopener"><strong>{{ i.title }}</strong> {{ i.subtitle or '' }}</a>{% else %}<strong>{{ i.title }}</strong> {{ i.subtitle or '' }}{% endif %}</li>{% endfor %}</ul>
{% else %}<p class="failed">Unsupported component {{ c.type }}</p>{% endif %}
{% endfor %}</form>{% endif %}</div>{% else %}<p>No app installed.</p>{% endif %}
</aside></div>"""


class IntercomDriver(Driver):
    """Plays an admin, customers, a bot and teammates on the Intercom sandbox."""

    sandbox_class = IntercomSandbox
    key, write_method = "intercom", "POST"
    api_prefix = "/"
    lists_tags = True  # GET /tags; Intercom has no skills, and brands in its Preview version only

    def add_tag(self, name: str) -> bool:
        self.sandbox.add_tag(name)
        return True

    def show_app(self, app: AppSetup) -> None:
        """Baton's app in the sandbox's Developer Hub, from ``manifests/intercom/app.json`` with the
        deployment's OAuth client; its Installation URL names the sandbox (``?host=``), as a
        development deployment's does."""
        self._installation = app.installation
        self.sandbox.app_installed = app.installation is not None  # installed by the operator's command
        m = json.loads((Path(__file__).resolve().parents[2] / "manifests" / "intercom" / "app.json").read_text())

        def url(template: str) -> str:
            return template.replace("{public_url}", app.baton_url.rstrip("/"))

        self.sandbox.register_app(AppRegistration(
            client_id=app.client_id, client_secret=app.client_secret, name=m["name"], description=m["description"],
            installation_url=f"{url(m['installation']['installation_url'])}?{urlencode({'host': self.url})}",
            redirect_urls=tuple(url(u) for u in m["authentication"]["redirect_urls"]),
            initialize_url=url(m["canvas_kit"]["initialize_url"]), submit_url=url(m["canvas_kit"]["submit_url"]),
            uninstall_url=url(m["installation"]["uninstall_url"]), permissions=tuple(m["authentication"]["permissions"])))

    def teammate(self, user: str) -> str:
        """Who plays ``user``: "admin" is whose authorization Baton acts with (the installation's
        teammate, or a new one about to install Baton); "agent" a support teammate; else an id."""
        if user == "admin":
            inst = getattr(self, "_installation", None)
            return str(inst.settings["api_user_id"]) if inst is not None else str(self.sandbox.api_admin_id)
        return self.human() if user == "agent" else user

    def console_url(self, user: str = "admin") -> str:
        """Intercom has no settings page for apps: the teammate signs in and installs Baton from the
        App Store, which leads through Intercom's consent page to Baton's console; once installed,
        the App Store opens it (*Open*, to the same Installation URL)."""
        return f"{self.url}/a/login?{urlencode({'as': self.teammate(user), 'next': '/a/appstore'})}"

    def panel_url(self, ticket_id: Any, user: str = "agent") -> str:
        return f"{self.url}/a/inbox/conversation/{ticket_id}?{urlencode({'as': self.teammate(user)})}"


    def setup(self) -> Setup:
        # Fin is an admin the workspace lists (bots post on behalf of admins): the installation names it a bot
        self.bot_id = self.sandbox.fin_id = self.sandbox.add_admin("Fin", f"operator+{self.sandbox.app_id}@intercom.io")["id"]
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

    def assign(self, cid: Any, agent_id: str) -> None:
        self.sandbox.assign(str(cid), agent_id, agent_id)

    def solve(self, cid: Any) -> None:
        self.sandbox.close(str(cid), self._agent_of(cid))

    def reopen(self, cid: Any) -> None:
        self.sandbox.open(str(cid), self._agent_of(cid))

    def rate(self, cid: Any, good: bool | int, comment: str = "") -> None:
        self.sandbox.rate(str(cid), stars(good), comment)

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
