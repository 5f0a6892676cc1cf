"""A local emulator ("sandbox") of the Freshdesk API v2 subset Baton uses.

It follows https://developers.freshdesk.com/api/ for tickets (with ``include=stats``; listed by
``updated_since`` and ``order_by``/``order_type``), conversations (notes,
replies), satisfaction ratings, contacts, companies, agents and groups: API-key Basic auth,
``X-RateLimit-*`` headers, Freshdesk's error bodies. It sends what Freshdesk would: automation-rule
"Trigger Webhook" calls (a ``{{placeholder}}`` body template) and the app events an FDK app forwards
(``onTicketCreate``, ``onTicketUpdate``, ``onConversationCreate``). Freshdesk webhooks carry no
signature, so each hook sends the headers it was registered with: a per-installation secret header.
Deliveries leave from a background queue, retried on 429/5xx/network errors.

What agents and customers do in Freshdesk's UI: ``customer_reply``, ``agent_reply``, ``update_as`` (an
agent assigns, resolves, reopens: the stats follow, ``onTicketUpdate`` fires) and ``add_rating`` (the
survey answered: the rules on "customer feedback is received" fire; the FDK has no event for it).

Test knobs: ``throttle`` (429 + Retry-After), ``delay``, ``requests_log``, ``deliveries``,
``wait_for_deliveries`` and ``redeliver``. State lives in memory and every public method is thread-safe.

It also plays the Freshworks platform around Baton's marketplace app (``manifests/freshdesk/``,
FDK Platform 3.0): agents with Freshdesk's default roles (``/api/v2/roles``); the agent UI pages
that show the packaged app in ``<iframe id="baton-app">`` (``/a/apps/baton?as=<agent id>``, the
full-page app; ``/a/tickets/<id>?as=<agent id>``, the ticket sidebar); the admin's install page
around ``config/iparams.html`` (``/a/admin/apps/baton/install?as=<admin id>``); a stand-in for the
``client`` object that ``{{{appclient}}}`` loads; and the request proxy behind
``client.request.invokeTemplate``, which fills ``config/requests.json``'s templates with the
installation's iparams (secure ones kept here, never sent to a page) and the call's context,
under the platform's substitution rules, and answers ``{status, headers, response}``. Installing
the app also starts its serverless part: the product events its manifest subscribes to are
forwarded with the ``baton_event`` template; ``uninstall_app`` runs ``onAppUninstall``.
"""
from __future__ import annotations

import copy
import hmac
import html
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from flask import Flask, Response, abort, jsonify, request, send_from_directory
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from connectors.base import iso_time
from connectors.freshdesk import webhook
from connectors.freshdesk.client import AUTOMATION_BODY, FEEDBACK_BODY
from connectors.sandbox import (JSON, ApiError, AppSetup, Driver, Outgoing, Person, Refusal, Sandbox, Setup, TicketView, fill,
                                html_to_text, iso, sanitize, sid, stars)

ACCOUNT_ID = "11010177632"  # from the FDK's sample event payloads
STATUSES = {2: "Open", 3: "Pending", 4: "Resolved", 5: "Closed"}
PRIORITIES = {1: "Low", 2: "Medium", 3: "High", 4: "Urgent"}
SOURCES = {1: "Email", 2: "Portal", 3: "Phone", 7: "Chat", 9: "Feedback Widget", 10: "Outbound Email"}
REPLY, NOTE = 0, 2  # conversation sources
AUTOMATION_EVENTS = ("ticket_created", "customer_replied")  # what a rule runs on unless told otherwise
FEEDBACK_EVENT = "customer_feedback"  # a ticket-update rule's event "Customer feedback is received"
OPEN, PENDING, RESOLVED, CLOSED = 2, 3, 4, 5
# A satisfaction rating's answer (https://developers.freshdesk.com/api/#satisfaction-ratings): -103 extremely
# unhappy … 100 neutral … 103 extremely happy; 1 to 5 stars map onto it.
RATINGS = (-103, -102, -101, 100, 101, 102, 103)
RATING_OF_STARS = {1: -103, 2: -102, 3: 100, 4: 102, 5: 103}
# Distinct id ranges per kind, so that a ticket id mistaken for a contact id is a 404, not another record.
ID_BASES = {"ticket": 1, "contact": 48000000001, "agent": 48000001001, "group": 48000002001,
            "company": 48000003001, "conversation": 48000004001, "role": 48000005001, "hook": 1,
            "rating": 48000006001, "product": 48000007001, "skill": 48000008001}
# Freshdesk's four default roles, as GET /api/v2/roles lists them (https://developers.freshdesk.com/api/#roles:
# id, name, description, default, created_at, updated_at); the descriptions are abridged.
ROLES = (("Account Administrator", "Has complete control over the help desk including access to Account or "
                                   "Billing related information, and receives Invoices."),
         ("Administrator", "Can configure all features through the Admin tab, but is restricted from viewing "
                           "Account or Billing related information."),
         ("Supervisor", "Can perform all agent related activities, access reports and see unresolved tickets "
                        "analysis."),
         ("Agent", "Can log, view, reply, update and resolve tickets and manage contacts."))
ADMIN_ROLES = ("Account Administrator", "Administrator")
APP_DIR = Path(__file__).resolve().parents[2] / "manifests" / "freshdesk"  # the packaged FDK app
APP_PATH = "/a/apps/baton"  # where this sandbox serves it
# A request template's <%= iparam.x %> / <%= context.x %> (developers.freshworks.com, "Request method")
PLACEHOLDER = re.compile(r"<%=\s*(iparam|context)\.(\w+)\s*%>")
LOCAL_HOSTS = ("127.0.0.1", "localhost")
UPDATE_FIELDS = ("subject", "priority", "status", "group_id", "responder_id", "tags")
CREATE_FIELDS = {*UPDATE_FIELDS, "description", "requester_id", "email", "name", "source"}
NOTE_FIELDS = {"body", "private", "incoming", "notify_emails"}
REPLY_FIELDS = {"body", "cc_emails", "bcc_emails"}
TYPES = {"subject": str, "description": str, "body": str, "email": str, "name": str, "private": bool,
         "incoming": bool}
LIST_PARAMS = {"requester_id", "email", "company_id", "page", "per_page"}
# List All Tickets' ordering and change filter (https://developers.freshdesk.com/api/#list_all_tickets)
LIST_ORDER = {"updated_since": None, "order_by": ("created_at", "due_by", "updated_at", "status"),
              "order_type": ("asc", "desc")}
NOT_FOUND = {"description": "Not found"}
UNAUTHORIZED = {"code": "invalid_credentials", "message": "You have to be logged in to perform this action."}
INVALID_JSON = {"code": "invalid_json", "message": "Request body has invalid json format"}
BAD_CONTENT_TYPE = {"code": "invalid_content_type", "message": "Content-Type header should have application/json"}
THROTTLED = {"message": "You have exceeded the limit of requests per minute"}
NO_REQUESTER = "Please fill at least 1 of email, mobile, phone, twitter_id, fb_profile_id, unique_external_id, " \
               "requester_id fields"


def invalid(*errors: tuple[str, str, str]) -> ApiError:
    """Freshdesk's 400: every (field, message, code) found wrong, at once."""
    return ApiError(400, {"description": "Validation failed",
                          "errors": [{"field": f, "message": m, "code": c} for f, m, c in errors]})


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def text_to_html(text: str) -> str:
    return "<div>" + html.escape(text, quote=False).replace("\n", "<br>") + "</div>"


def unique(tags: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(tags))


@dataclass(frozen=True)
class _Job:
    kind: str  # "automation" | "app_event"
    url: str
    headers: dict[str, str]
    body: bytes


class FreshdeskSandbox(Sandbox[_Job]):
    vendor = "freshdesk"
    id_bases = ID_BASES
    api_prefix = "/api/v2/"
    rate_limit = 400
    retried_statuses = frozenset({429})
    retry_after_limit = 10.0  # give up rather than wait that long
    delivery_timeout = 10.0

    def __init__(self, api_key: str = "sandbox-key", domain: str = "sandbox.freshdesk.com", *,
                 clock: Callable[[], datetime] | None = None,
                 retry_delays: Sequence[float] = (1.0, 1.0, 1.0), app_dir: Path = APP_DIR) -> None:
        super().__init__(clock=clock, retry_delays=retry_delays)
        self.api_key, self.domain = api_key, domain
        self._roles: dict[int, JSON] = {}
        for role_name, description in ROLES:
            role_id = next(self._ids["role"])
            self._roles[role_id] = {"id": role_id, "name": role_name, "description": description, "default": True,
                                    "created_at": iso(self.clock()), "updated_at": iso(self.clock())}
        # the marketplace app: its package, its installation's iparams, the calls its proxy made
        self.app_dir = app_dir
        self.app_iparams: JSON = {}
        self.app_secure_iparams: JSON = {}  # only the proxy reads them
        self.app_requests: list[JSON] = []
        self._frames: dict[str, JSON] = {}  # an app page's iframe → who is looking, where
        self._app_hook: int | None = None  # the event forwarding its serverless part does
        self._agents: dict[int, JSON] = {}
        self._groups: dict[int, JSON] = {}
        self._companies: dict[int, JSON] = {}
        self._contacts: dict[int, JSON] = {}
        self._tickets: dict[int, JSON] = {}
        self._conversations: dict[int, list[JSON]] = {}
        self._stats: dict[int, JSON] = {}  # ticket → what ?include=stats shows
        self._ratings: dict[int, list[JSON]] = {}  # ticket → its satisfaction ratings
        self._automations: dict[int, JSON] = {}
        self._forwarders: dict[int, JSON] = {}
        self._products: dict[int, JSON] = {}  # Freshdesk's brands (a ticket's product_id)
        self._skills: dict[int, JSON] = {}  # Omniroute's skills (GET /api/v2/admin/skills)
        # the API key's agent administers the account (the app's install checks it can read roles)
        self.api_agent_id: int = self.add_agent("Baton API", f"baton@{domain}", role="Administrator")["id"]
        self.app = self._build_app()

    # -- seeding and simulated UI activity -------------------------------------------------------
    def add_agent(self, name: str, email: str, group_ids: Iterable[int] = (), available: bool = True,
                  language: str = "en", time_zone: str = "UTC", role: str | None = None) -> JSON:
        """An agent; with ``role`` (one of ROLES' names) it carries ``role_ids`` as Freshdesk's agents
        do. Without, it has no role: Baton treats it as a plain agent."""
        with self._lock:
            group_ids = [self._find(self._groups, key, "group")["id"] for key in group_ids]
            agent = {"id": next(self._ids["agent"]), "available": available, "occasional": False,
                     "group_ids": group_ids, "contact": {"name": name, "email": email, "language": language,
                                                         "time_zone": time_zone}, "created_at": iso(self.clock())}
            if role is not None:
                agent["role_ids"] = [r["id"] for r in self._roles.values() if r["name"] == role]
                if not agent["role_ids"]:
                    raise ValueError(f"role must be one of {[name for name, _ in ROLES]}")
            self._agents[agent["id"]] = agent
            for key in group_ids:
                self._groups[key]["agent_ids"].append(agent["id"])
            return copy.deepcopy(agent)

    def add_group(self, name: str, agent_ids: Iterable[int] = ()) -> JSON:
        with self._lock:
            agent_ids = [self._find(self._agents, key, "agent")["id"] for key in agent_ids]
            group = {"id": next(self._ids["group"]), "name": name, "agent_ids": agent_ids}
            self._groups[group["id"]] = group
            for key in agent_ids:
                self._agents[key]["group_ids"].append(group["id"])
            return copy.deepcopy(group)

    def add_product(self, name: str) -> JSON:
        """A product (https://developers.freshdesk.com/api/#products: id, name, description,
        primary_email, default, created_at, updated_at)."""
        with self._lock:
            pid = next(self._ids["product"])
            product = {"id": pid, "name": name, "description": None, "primary_email": None,
                       "default": not self._products, "created_at": iso(self.clock()), "updated_at": iso(self.clock())}
            self._products[pid] = product
            return copy.deepcopy(product)

    def add_skill(self, name: str, agent_ids: Iterable[int] = ()) -> JSON:
        """A skill of Omniroute (``/api/v2/admin/skills``: id, name, rank, agents, match_type,
        conditions), given to ``agent_ids``, whose ``skill_ids`` then list it."""
        with self._lock:
            agents = [self._find(self._agents, key, "agent")["id"] for key in agent_ids]
            skill = {"id": next(self._ids["skill"]), "name": name, "rank": len(self._skills) + 1,
                     "agents": [{"id": a} for a in agents], "match_type": "all", "conditions": [],
                     "created_at": iso(self.clock()), "updated_at": iso(self.clock())}
            self._skills[skill["id"]] = skill
            for a in agents:
                self._agents[a].setdefault("skill_ids", []).append(skill["id"])
            return copy.deepcopy(skill)

    def add_company(self, name: str, custom_fields: dict[str, Any] | None = None) -> JSON:
        with self._lock:
            company = {"id": next(self._ids["company"]), "name": name, "custom_fields": dict(custom_fields or {}),
                       "created_at": iso(self.clock())}
            self._companies[company["id"]] = company
            return copy.deepcopy(company)

    def add_contact(self, name: str, email: str, company_id: int | None = None, language: str = "en",
                    time_zone: str = "UTC", tags: Iterable[str] = (),
                    custom_fields: dict[str, Any] | None = None) -> JSON:
        with self._lock:
            if company_id is not None:
                self._find(self._companies, company_id, "company")
            if any(c["email"] == email for c in self._contacts.values()):
                raise ValueError(f"a contact already has the email {email!r}")
            now = iso(self.clock())
            contact = {"id": next(self._ids["contact"]), "name": name, "email": email, "company_id": company_id,
                       "language": language, "time_zone": time_zone, "tags": unique(tags),
                       "custom_fields": dict(custom_fields or {}), "created_at": now, "updated_at": now}
            self._contacts[contact["id"]] = contact
            return copy.deepcopy(contact)

    def create_ticket(self, requester_id: int, subject: str, description: str, priority: int = 1, status: int = 2,
                      tags: Iterable[str] = (), source: int = 2, created_at: datetime | None = None) -> JSON:
        """A ticket the customer opened (portal, email...): stored, then the "ticket created" hooks fire."""
        fields = {"priority": priority, "status": status, "source": source, "tags": unique(tags)}
        with self._lock:
            self._find(self._contacts, requester_id, "contact")
            self._check(fields, CREATE_FIELDS)
            return copy.deepcopy(self._new_ticket(requester_id, subject, text_to_html(description), description,
                                                  fields, requester_id, created_at))

    def customer_reply(self, ticket_id: int, contact_id: int, body: str) -> JSON:
        """A contact answers (email, portal): an incoming public conversation; reopens a pending/resolved ticket."""
        with self._lock:
            self._find(self._contacts, contact_id, "contact")
            return self._add_conversation(self._find(self._tickets, ticket_id, "ticket"), contact_id,
                                          text_to_html(body), body, incoming=True, private=False, source=REPLY,
                                          customer=True)

    def agent_reply(self, ticket_id: int, agent_id: int, body: str, private: bool = False) -> JSON:
        """An agent answers in Freshdesk's UI: a public reply, or a private note."""
        with self._lock:
            self._find(self._agents, agent_id, "agent")
            return self._add_conversation(self._find(self._tickets, ticket_id, "ticket"), agent_id,
                                          text_to_html(body), body, incoming=False, private=private,
                                          source=NOTE if private else REPLY)

    def update_as(self, ticket_id: int, agent_id: int, changes: JSON) -> JSON:
        """An agent changes the ticket in Freshdesk's UI (``status``, ``responder_id`` … as Update a Ticket
        takes them): stored, then the hooks fire with that agent as the actor."""
        with self._lock:
            self._find(self._agents, agent_id, "agent")
            return copy.deepcopy(self._update(ticket_id, changes, actor_id=agent_id))

    def add_rating(self, ticket_id: int, value: int, feedback: str = "") -> JSON:
        """The requester answers the satisfaction survey (``value`` on Freshdesk's -103…103 scale):
        stored as a satisfaction rating of the ticket, then the "customer feedback" rules fire."""
        if value not in RATINGS or isinstance(value, bool):
            raise ValueError(f"a rating is one of {RATINGS}")
        with self._lock:
            ticket = self._find(self._tickets, ticket_id, "ticket")
            stamp = self._stamp(None)
            rating = {"id": next(self._ids["rating"]), "survey_id": 48000000001, "user_id": ticket["requester_id"],
                      "agent_id": ticket["responder_id"], "feedback": feedback, "group_id": ticket["group_id"],
                      "ticket_id": ticket_id, "created_at": stamp, "updated_at": stamp,
                      "ratings": {"default_question": value}}
            self._ratings[ticket_id].append(rating)
            self._automate(ticket, FEEDBACK_EVENT)  # the FDK has no product event for a rating
            return copy.deepcopy(rating)

    def get_ticket(self, ticket_id: int) -> JSON:
        with self._lock:
            return copy.deepcopy(self._tickets[ticket_id])

    def get_stats(self, ticket_id: int) -> JSON:
        with self._lock:
            return copy.deepcopy(self._stats[ticket_id])

    def get_conversations(self, ticket_id: int) -> list[JSON]:
        with self._lock:
            return copy.deepcopy(self._conversations[ticket_id])

    # -- webhook targets -------------------------------------------------------------------------
    def add_automation(self, url: str, body_template: str, headers: dict[str, str],
                       on: Iterable[str] = AUTOMATION_EVENTS) -> int:
        """An automation rule whose action is "Trigger Webhook" (POST, JSON, advanced content)."""
        events = tuple(on)
        if not events or not set(events) <= {*AUTOMATION_EVENTS, FEEDBACK_EVENT}:
            raise ValueError(f"on must be among {(*AUTOMATION_EVENTS, FEEDBACK_EVENT)}")
        with self._lock:
            rule_id = next(self._ids["hook"])
            self._automations[rule_id] = {"url": url, "body_template": body_template, "headers": dict(headers),
                                          "on": events}
            return rule_id

    def add_app_forwarder(self, url: str, headers: dict[str, str]) -> int:
        """An installed FDK app that POSTs every product event payload it receives to ``url``."""
        with self._lock:
            hook_id = next(self._ids["hook"])
            self._forwarders[hook_id] = {"url": url, "headers": dict(headers)}
            return hook_id

    # -- model -----------------------------------------------------------------------------------
    @staticmethod
    def _find(table: dict[int, Any], key: int, kind: str | None = None) -> Any:
        """The record, else a 404 for API calls (or a KeyError naming ``kind`` for the seed helpers)."""
        if key not in table:
            raise KeyError(f"unknown {kind} {key}") if kind else ApiError(404, NOT_FOUND)
        return table[key]

    def _check(self, data: JSON, allowed: set[str], required: Iterable[str] = ()) -> None:
        errors = [(f, "Unexpected/invalid field in request", "invalid_field") for f in data if f not in allowed]
        errors += [(f, "It should be a/an String", "missing_field") for f in required if f not in data]
        for field, kind in TYPES.items():
            if field in data and not isinstance(data[field], kind):
                name = "Boolean" if kind is bool else "String"
                errors.append((field, f"It should be a/an {name}", "datatype_mismatch"))
        for field, values in (("priority", PRIORITIES), ("status", STATUSES), ("source", SOURCES)):
            if field in data and not (is_int(data[field]) and data[field] in values):
                errors.append((field, f"It should be one of these values: '{','.join(map(str, values))}'",
                               "invalid_value"))
        for field, table, kind in (("group_id", self._groups, "group"), ("responder_id", self._agents, "agent"),
                                   ("requester_id", self._contacts, "contact")):  # ids must exist
            if data.get(field) is not None and not (is_int(data[field]) and data[field] in table):
                errors.append((field, f"There is no {kind} matching the given {field}", "invalid_value"))
        if "tags" in data and not (isinstance(data["tags"], list) and all(isinstance(t, str) for t in data["tags"])):
            errors.append(("tags", "It should be a/an Array of Strings", "datatype_mismatch"))
        if errors:
            raise invalid(*errors)

    def _new_ticket(self, requester_id: int, subject: str, description: str, text: str, fields: JSON,
                    actor_id: int, at: datetime | None = None) -> JSON:
        stamp = self._stamp(None, at)
        ticket = {"id": next(self._ids["ticket"]), "subject": subject, "description": description,
                  "description_text": text, "status": 2, "priority": 1, "source": 2, "requester_id": requester_id,
                  "responder_id": None, "group_id": None, "company_id": self._contacts[requester_id]["company_id"],
                  "tags": [], "type": None, "custom_fields": {}, "created_at": stamp, "updated_at": stamp}
        ticket.update(fields)
        self._tickets[ticket["id"]], self._conversations[ticket["id"]] = ticket, []
        self._stats[ticket["id"]] = {"agent_responded_at": None, "requester_responded_at": None,
                                     "first_responded_at": None, "status_updated_at": stamp, "reopened_at": None,
                                     "resolved_at": None, "closed_at": None, "pending_since": None}
        self._ratings[ticket["id"]] = []
        self._fire(ticket, "onTicketCreate", actor_id, automation="ticket_created")
        return ticket

    def _api_create(self, data: JSON) -> JSON:
        self._check(data, CREATE_FIELDS, required=("subject", "description"))
        requester_id = data.get("requester_id")
        if requester_id is None and "email" in data:
            known = [c["id"] for c in self._contacts.values() if c["email"].lower() == data["email"].lower()]
            # Freshdesk creates the contact of an unknown email, named after it unless a name is given.
            requester_id = known[0] if known else self.add_contact(data.get("name") or data["email"].split("@")[0],
                                                                   data["email"])["id"]
        if requester_id is None:
            raise invalid(("requester_id", NO_REQUESTER, "missing_field"))
        fields = {key: data[key] for key in ("priority", "status", "source", "group_id", "responder_id") if key in data}
        fields["tags"] = unique(data.get("tags") or [])
        return self._new_ticket(requester_id, data["subject"], data["description"], html_to_text(data["description"]),
                                fields, self.api_agent_id)

    def _update(self, ticket_id: int, data: JSON, actor_id: int | None = None) -> JSON:
        ticket = self._find(self._tickets, ticket_id)
        self._check(data, set(UPDATE_FIELDS))
        new = copy.deepcopy(ticket)
        for field in UPDATE_FIELDS:
            if field in data:
                new[field] = unique(data[field]) if field == "tags" else data[field]  # tags: replaces the list
        changes = {field: [ticket[field], new[field]] for field in UPDATE_FIELDS if ticket[field] != new[field]}
        new["updated_at"] = self._stamp(ticket["updated_at"])
        self._status_changed(new, ticket["status"], new["updated_at"])
        self._tickets[ticket_id] = new
        if changes:
            self._fire(new, "onTicketUpdate", self.api_agent_id if actor_id is None else actor_id, changes=changes)
        return new

    def _status_changed(self, ticket: JSON, before: int, stamp: str) -> None:
        """The stats a status change sets (https://developers.freshdesk.com/api/#view_a_ticket, ``include=stats``)."""
        if ticket["status"] == before:
            return
        stats = self._stats[ticket["id"]]
        stats["status_updated_at"] = stamp
        stats["pending_since"] = stamp if ticket["status"] == PENDING else None
        if ticket["status"] == RESOLVED:
            stats["resolved_at"] = stamp
        elif ticket["status"] == CLOSED:
            stats["closed_at"] = stamp
        elif before in (RESOLVED, CLOSED):
            stats["reopened_at"] = stamp

    def _add_conversation(self, ticket: JSON, user_id: int, body: str, text: str, *, incoming: bool, private: bool,
                          source: int, customer: bool = False) -> JSON:
        stamp = self._stamp(ticket["updated_at"])
        conversation = {"id": next(self._ids["conversation"]), "body": body, "body_text": text, "incoming": incoming,
                        "private": private, "user_id": user_id, "ticket_id": ticket["id"],
                        "source": source, "created_at": stamp, "updated_at": stamp}
        self._conversations[ticket["id"]].append(conversation)
        ticket["updated_at"] = stamp
        stats = self._stats[ticket["id"]]
        if customer:
            stats["requester_responded_at"] = stamp
            before, ticket["status"] = ticket["status"], OPEN  # a customer's reply reopens the ticket, by default
            self._status_changed(ticket, before, stamp)
        elif not private and not incoming and user_id in self._agents:  # a public reply by an agent (or bot)
            stats["agent_responded_at"] = stamp
            stats["first_responded_at"] = stats["first_responded_at"] or stamp
        self._fire(ticket, "onConversationCreate", user_id, automation="customer_replied" if customer else None,
                   conversation=conversation)
        return copy.deepcopy(conversation)

    # -- webhooks --------------------------------------------------------------------------------
    def _person(self, user_id: int) -> JSON:
        agent = self._agents.get(user_id)
        who = agent["contact"] if agent else self._contacts[user_id]
        return {"id": user_id, "name": who["name"], "email": who["email"], "language": who["language"],
                "helpdesk_agent": agent is not None}

    def _automate(self, ticket: JSON, automation: str) -> None:
        """Queue the calls of the automation rules that run on ``automation``, rendered now."""
        for rule in self._automations.values():
            if automation in rule["on"]:
                body = self._render(rule["body_template"], ticket, automation).encode()
                self._enqueue(_Job("automation", rule["url"], rule["headers"], body))

    def _fire(self, ticket: JSON, event: str, actor_id: int, *, automation: str | None = None,
              conversation: JSON | None = None, changes: JSON | None = None) -> None:
        """Queue the deliveries one change causes; bodies are rendered now, from this snapshot."""
        if automation is not None:
            self._automate(ticket, automation)
        if not self._forwarders:
            return
        requester, actor = self._person(ticket["requester_id"]), self._person(actor_id)
        requester.pop("helpdesk_agent")
        actor.pop("language")
        data: JSON = {"ticket": copy.deepcopy(ticket), "requester": requester, "actor": actor}
        if changes is not None:
            data["ticket"]["changes"] = copy.deepcopy(changes)
        if conversation is not None:
            data["conversation"] = copy.deepcopy(conversation)
        payload = {"account_id": ACCOUNT_ID, "domain": self.domain, "event": event, "region": "US",
                   "timestamp": int(self.clock().timestamp() * 1000),  # milliseconds, as Freshworks sends
                   "currentHost": {"subscribed_modules": ["support_ticket"],
                                   "endpoint_urls": {"freshdesk": f"https://{self.domain}"}}, "data": data}
        body = json.dumps(payload).encode()
        for hook in self._forwarders.values():
            self._enqueue(_Job("app_event", hook["url"], hook["headers"], body))

    def _render(self, template: str, ticket: JSON, event: str) -> str:
        """Freshdesk inserts placeholder values verbatim: they are not JSON-escaped."""
        requester = self._contacts[ticket["requester_id"]]
        values = {"ticket.id": str(ticket["id"]), "ticket.subject": ticket["subject"],
                  "ticket.status": STATUSES[ticket["status"]], "ticket.priority": PRIORITIES[ticket["priority"]],
                  "ticket.updated_at": ticket["updated_at"], "ticket.requester.id": str(requester["id"]),
                  "ticket.requester.email": requester["email"], "ticket.tags": ",".join(ticket["tags"]),
                  "triggered_event": event}
        return fill(template, values)

    def _outgoing(self, job: _Job) -> Outgoing:
        return Outgoing("POST", job.url, {**job.headers, "Content-Type": "application/json"})

    def _delivery(self, job: _Job, headers: dict[str, str]) -> JSON:
        return {"kind": job.kind, "url": job.url, "headers": headers}

    def _redelivery(self, old: JSON) -> _Job:
        """The same bytes with the same headers: nothing in a Freshdesk delivery is per-attempt."""
        return _Job(old["kind"], old["url"], dict(old["headers"]), old["body"])

    # -- HTTP ------------------------------------------------------------------------------------
    def _log_details(self) -> JSON:
        return {"query": request.args.to_dict()}

    def _authenticated(self) -> bool:
        auth = request.authorization  # Basic base64("APIKEY:X"): the password is ignored
        return auth is not None and auth.type == "basic" and hmac.compare_digest(
            (auth.username or "").encode(), self.api_key.encode())

    def _unauthorized(self) -> JSON:
        return UNAUTHORIZED

    def _too_many_requests(self, retry_after: float) -> JSON:
        return THROTTLED

    def _refusal(self) -> Refusal | None:
        if request.method in ("POST", "PUT") and request.mimetype != "application/json":
            return BAD_CONTENT_TYPE, 415
        return None

    def _rate_limit_headers(self, remaining: int) -> dict[str, str]:
        return {"X-RateLimit-Total": str(self.rate_limit), "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Used-CurrentRequest": "1"}

    def _http_error(self, error: HTTPException) -> ResponseReturnValue:
        if not request.path.startswith("/api/"):
            return error
        return (NOT_FOUND if error.code == 404 else {"description": error.name}), error.code or 500

    @staticmethod
    def _body() -> JSON:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise ApiError(400, INVALID_JSON)
        return data

    def _list_tickets(self, args: dict[str, str]) -> list[JSON]:
        order = {key: args.pop(key) for key in LIST_ORDER if key in args}
        errors = [(key, "Unexpected/invalid field in request", "invalid_field") for key in args
                  if key not in LIST_PARAMS]
        errors += [(key, "It should be a/an Positive Integer", "datatype_mismatch") for key, value in args.items()
                   if key != "email" and not (value.isdigit() and int(value) > 0)]
        errors += self._order_errors(order)
        if errors:
            raise invalid(*errors)
        wanted = {key: int(value) for key, value in args.items() if key != "email"}
        if "email" in args:
            match = [c["id"] for c in self._contacts.values() if c["email"].lower() == args["email"].lower()]
            if not match:
                raise invalid(("email", "There is no contact matching the given email", "invalid_value"))
            wanted["requester_id"] = match[0]
        rows = sorted((t for t in self._tickets.values() if all(
            t[key] == wanted[key] for key in ("requester_id", "company_id") if key in wanted)),
            key=lambda t: (t["created_at"], t["id"]), reverse=True)
        return self._ordered(rows, order)

    @staticmethod
    def _order_errors(order: dict[str, str]) -> list[tuple[str, str, str]]:
        """Freshdesk's refusals of ``updated_since``, ``order_by`` and ``order_type``."""
        errors = [(key, f"It should be one of these values: '{','.join(allowed)}'", "invalid_value")
                  for key, allowed in LIST_ORDER.items() if allowed and key in order and order[key] not in allowed]
        if "updated_since" in order and iso_time(order["updated_since"]) is None:
            errors.append(("updated_since", "It should be in the 'valid date time' format", "invalid_value"))
        return errors

    @staticmethod
    def _ordered(rows: list[JSON], order: dict[str, str]) -> list[JSON]:
        """The tickets changed at or after ``updated_since``, sorted by ``order_by`` (created_at by
        default), newest first unless ``order_type=asc``. Freshdesk lists only the last 30 days' tickets
        without ``updated_since``; the sandbox, whose tickets are all recent, lists them all."""
        since = iso_time(order.get("updated_since"))
        if since is not None:
            rows = [t for t in rows if iso_time(t["updated_at"]) >= since]  # type: ignore[operator]
        field = order.get("order_by", "created_at")
        return sorted(rows, key=lambda t: (t.get(field) is not None, t.get(field) or 0, t["id"]),
                      reverse=order.get("order_type", "desc") == "desc")

    def _post_conversation(self, ticket_id: int, kind: str) -> tuple[JSON, int]:
        """``/notes`` (private unless told otherwise) or ``/reply`` (public), both by the API agent."""
        data = self._body()
        with self._lock:
            ticket = self._find(self._tickets, ticket_id)
            self._check(data, NOTE_FIELDS if kind == "notes" else REPLY_FIELDS, required=("body",))
            note = kind == "notes"
            return self._add_conversation(ticket, self.api_agent_id, data["body"], html_to_text(data["body"]),
                                          incoming=note and data.get("incoming", False),
                                          private=note and data.get("private", True),
                                          source=NOTE if note else REPLY), 201

    def _read(self, make: Callable[..., Any]) -> Callable[..., Any]:
        """A GET view: ``make`` runs under the lock and its result is copied out."""
        def view(**kwargs: Any) -> Any:
            with self._lock:
                return copy.deepcopy(make(**kwargs))
        return view

    def _list(self, make: Callable[..., list[JSON]]) -> Callable[..., Any]:
        """A list view paged as Freshdesk pages: ``page``, ``per_page`` (30 by default, 100 at most) and
        a ``Link: <…>; rel="next"`` header while more remain."""
        def view(**kwargs: Any) -> Any:
            with self._lock:
                rows = copy.deepcopy(make(**kwargs))
            try:
                page, per_page = int(request.args.get("page", 1)), int(request.args.get("per_page", 30))
            except ValueError:
                raise invalid(("page", "It should be a Positive Integer", "invalid_value")) from None
            if not 1 <= per_page <= 100 or page < 1:
                raise invalid(("per_page", "It should be a Positive Integer less than or equal to 100", "invalid_value"))
            start = (page - 1) * per_page
            response = jsonify(rows[start:start + per_page])
            if start + per_page < len(rows):
                query = {**request.args.to_dict(), "page": page + 1, "per_page": per_page}
                response.headers["Link"] = f'<{request.base_url}?{urlencode(query)}>; rel="next"'
            return response
        return view

    def _add_routes(self, app: Flask) -> None:
        tables = {"tickets": self._tickets, "contacts": self._contacts, "companies": self._companies,
                  "agents": self._agents, "groups": self._groups, "roles": self._roles}
        for name, table in tables.items():
            if name == "tickets":
                continue  # below: it takes ?include=stats
            app.add_url_rule(f"/api/v2/{name}/<int:key>", f"show_{name}",
                             self._read(lambda key, table=table: self._find(table, key)))
        for name in ("agents", "groups", "roles"):
            app.add_url_rule(f"/api/v2/{name}", f"list_{name}",
                             self._list(lambda name=name: [tables[name][key] for key in sorted(tables[name])]))
        for path, table in (("products", self._products), ("admin/skills", self._skills)):  # the console's pickers
            app.add_url_rule(f"/api/v2/{path}", f"list_{path}", self._list(lambda table=table: [table[k] for k in sorted(table)]))
        app.add_url_rule("/api/v2/agents/me", "me", self._read(lambda: self._agents[self.api_agent_id]))
        app.add_url_rule("/api/v2/tickets", "list_tickets",
                         self._list(lambda: self._list_tickets(request.args.to_dict())))
        app.add_url_rule("/api/v2/tickets/<int:key>/conversations", "conversations",
                         self._list(lambda key: self._find(self._conversations, key)))
        for kind in ("notes", "reply"):
            app.add_url_rule(f"/api/v2/tickets/<int:key>/{kind}", kind,
                             lambda key, kind=kind: self._post_conversation(key, kind), methods=["POST"])

        @app.get("/api/v2/tickets/<int:key>")
        def show_tickets(key: int) -> JSON:
            """View a Ticket; ``include=stats`` adds its ``stats`` (the sandbox embeds nothing else)."""
            include = [part for part in request.args.get("include", "").split(",") if part]
            if any(part != "stats" for part in include):
                raise invalid(("include", "the sandbox embeds only stats", "invalid_value"))
            with self._lock:
                ticket = copy.deepcopy(self._find(self._tickets, key))
                if include:
                    ticket["stats"] = copy.deepcopy(self._stats[key])
                return ticket

        app.add_url_rule("/api/v2/tickets/<int:key>/satisfaction_ratings", "satisfaction_ratings",
                         self._list(lambda key: self._find(self._ratings, key)))

        @app.post("/api/v2/tickets")
        def create_ticket() -> tuple[JSON, int]:
            data = self._body()
            with self._lock:
                return copy.deepcopy(self._api_create(data)), 201

        @app.put("/api/v2/tickets/<int:key>")
        def update_ticket(key: int) -> JSON:
            data = self._body()
            with self._lock:
                return copy.deepcopy(self._update(key, data))

        self._add_app_routes(app)

    # -- the marketplace app (Freshworks platform) -----------------------------------------------
    def install_app(self, iparams: JSON, secure: JSON) -> None:
        """The app installed with these iparams (as its settings page's postConfigs stores them),
        its serverless event forwarding started."""
        with self._lock:
            self.app_iparams, self.app_secure_iparams = dict(iparams), dict(secure)
            if self._app_hook is not None:
                self._forwarders.pop(self._app_hook, None)
                self._app_hook = None
            events = self._manifest()["modules"].get("support_ticket", {}).get("events", {})
        if events and "baton_event" in self._templates():
            _, url, _, headers = self._fill("baton_event", {}, "server")
            if any(hook["url"] == url for hook in self._forwarders.values()):
                return  # the operator's connect() already forwards these events there
            self._app_hook = self.add_app_forwarder(url, {k: v for k, v in headers.items() if k != "Content-Type"})

    def uninstall_app(self) -> int | None:
        """The admin uninstalls the app: its onAppUninstall handler runs (server/server.js calls the
        baton_uninstall template), then its iparams and event forwarding are gone. The status Baton
        answered (None: no handler, or no answer)."""
        status = None
        if "onAppUninstall" in self._manifest()["modules"]["common"].get("events", {}):
            body = json.dumps({"event": "onAppUninstall", "timestamp": int(self.clock().timestamp() * 1000)})
            status = self._invoke("baton_uninstall", {}, body, "server")["status"]
        with self._lock:
            if self._app_hook is not None:
                self._forwarders.pop(self._app_hook, None)
            self._app_hook, self.app_iparams, self.app_secure_iparams = None, {}, {}
        return status

    def is_admin(self, agent_id: int) -> bool:
        agent = self._agents.get(agent_id) or {}
        return any(self._roles[r]["name"] in ADMIN_ROLES for r in agent.get("role_ids", ()))

    def _manifest(self) -> JSON:
        return json.loads((self.app_dir / "manifest.json").read_text())  # type: ignore[no-any-return]

    def _templates(self) -> JSON:
        return json.loads((self.app_dir / "config" / "requests.json").read_text())  # type: ignore[no-any-return]

    def _fill(self, name: str, context: JSON, where: str) -> tuple[str, str, JSON, dict[str, str]]:
        """A request template filled as Freshworks' proxy fills it: (method, url, query, headers).
        ``where``: "page" (an app page), "install" (the settings page, before any iparam exists) or
        "server" (serverless). The rules: iparams only once installed, secure ones in headers only;
        context in host and headers only from the settings page and serverless (developers.freshworks.com,
        "Request method": context and iparams substitution). A break is a ValueError."""
        templates = self._templates()
        if name not in self._manifest()["modules"]["common"].get("requests", {}) or name not in templates:
            raise ValueError(f"Requested template {name!r} is not declared in manifest.json and requests.json")
        schema = templates[name]["schema"]
        with self._lock:
            plain, secure = dict(self.app_iparams), dict(self.app_secure_iparams)

        def fill(text: str, part: str) -> str:
            if text.count("<%") != len(PLACEHOLDER.findall(text)):
                raise ValueError(f"schema.{part}: only <%= iparam.x %> and <%= context.x %> are substituted")

            def value(match: re.Match[str]) -> str:
                source, key = match.groups()
                if source == "context":
                    if part in ("host", "headers") and where == "page":
                        raise ValueError(f"context.{key} in schema.{part}: only the settings page and serverless may")
                    if key not in context:
                        raise ValueError(f"context.{key} was not given")
                    return str(context[key])
                if where == "install" or key not in {**plain, **secure}:
                    raise ValueError(f"iparam.{key} is not set (not installed yet?)")
                if key in secure and part != "headers":
                    raise ValueError(f"secure iparam.{key} in schema.{part}: secure iparams go in headers only")
                return str(secure[key] if key in secure else plain[key])
            return PLACEHOLDER.sub(value, text)

        host = fill(schema["host"], "host")
        # https as the template says; a local Baton (the tests') is reached over http, as `fdk run` allows
        protocol = "http" if urlsplit(f"//{host}").hostname in LOCAL_HOSTS else schema.get("protocol", "https")
        url = f"{protocol}://{host}{fill(schema.get('path', '/'), 'path')}"
        query = {k: fill(v, "query") for k, v in (schema.get("query") or {}).items()}
        return schema["method"], url, query, {k: fill(v, "headers") for k, v in (schema.get("headers") or {}).items()}

    def _invoke(self, name: str, context: JSON, body: str | None, where: str) -> JSON:
        """What ``invokeTemplate`` resolves (2xx) or rejects with: ``{status, headers, response}``;
        network errors, 429 and 5xx are tried again per the template's ``options``."""
        try:
            method, url, query, headers = self._fill(name, context, where)
        except ValueError as e:
            return {"status": 400, "headers": {}, "response": str(e), "errorSource": "APP"}
        options = self._templates()[name].get("options") or {}
        result: JSON = {}
        attempt = 0
        for attempt in range(1, max(1, int(options.get("maxAttempts", 1))) + 1):
            try:
                r = requests.request(method, url, params=query, headers=headers, data=(body or "").encode(), timeout=15)
                result = {"status": r.status_code, "headers": dict(r.headers), "response": r.text}
            except requests.RequestException as e:
                result = {"status": 502, "headers": {}, "response": f"cannot reach {url}: {type(e).__name__}",
                          "errorSource": "PLATFORM"}
            if result["status"] != 429 and result["status"] < 500:
                break
            time.sleep(int(options.get("retryDelay", 0)) / 1000)
        with self._lock:
            self.app_requests.append({"name": name, "where": where, "method": method, "url": url, "headers": headers,
                                      "status": result["status"], "attempts": attempt})
        return result

    def _agent(self) -> JSON:
        """Who is signed in to the sandbox's agent UI: ``?as=<agent id>``, then a cookie keeps them, so a
        link to a ticket (Baton's activity) opens it (403 for anyone else)."""
        raw = request.args.get("as") or request.cookies.get(SIGNED_IN, "")
        agent = self._agents.get(int(raw)) if raw.isdigit() else None
        if agent is None:
            abort(403, "sign in as one of the account's agents: ?as=<agent id>")
        return agent

    def _frame(self, agent: JSON, location: str, ticket: int | None = None) -> str:
        frame = secrets.token_urlsafe(12)
        with self._lock:
            self._frames[frame] = {"agent": agent["id"], "location": location, "ticket": ticket}
        return frame

    def _framed(self) -> JSON:
        frame = self._frames.get(request.args.get("frame", ""))
        if frame is None:
            abort(404, "no such app frame")
        return frame

    def _location_url(self, module: str, location: str, frame: str) -> str:
        page = self._manifest()["modules"][module]["location"][location]["url"]
        return f"{APP_PATH}/app/{page}?frame={frame}"

    def _add_app_routes(self, app: Flask) -> None:
        @app.after_request
        def _sign_in(response: Response) -> Response:
            raw = request.args.get("as", "")
            if raw.isdigit() and int(raw) in self._agents and request.path.startswith("/a/"):
                response.set_cookie(SIGNED_IN, raw, httponly=True, samesite="Lax")
            return response

        @app.get(APP_PATH)
        def full_page_app() -> str:
            agent = self._agent()
            src = self._location_url("common", "full_page_app", self._frame(agent, "full_page_app"))
            return _page("Baton", agent, f'<iframe id="baton-app" title="Baton" src="{html.escape(src)}"></iframe>')

        @app.get("/a/tickets/<int:key>")
        def ticket_page(key: int) -> str:
            agent = self._agent()
            with self._lock:
                ticket = copy.deepcopy(self._find(self._tickets, key))
                conversations = copy.deepcopy(self._conversations[key])
            src = self._location_url("support_ticket", "ticket_sidebar", self._frame(agent, "ticket_sidebar", key))
            # a note shows its HTML (headings, lists), as Freshdesk's agent UI does; a message its text
            thread = "".join(f"<li class='private-note'><strong>Private note</strong><div class='note-body'>"
                             f"{sanitize(c['body'])}</div></li>" if c["private"] else
                             f"<li><div style='white-space:pre-wrap'>{html.escape(c['body_text'])}</div></li>"
                             for c in conversations)
            return _page(f"#{key} {ticket['subject']}", agent,
                         f'<div class="ticket"><section><h1>{html.escape(ticket["subject"])}</h1>'
                         f'<p>{html.escape(ticket["description_text"])}</p><ol>{thread}</ol></section>'
                         f'<aside><iframe id="baton-app" class="sidebar" title="Baton" src="{html.escape(src)}">'
                         '</iframe></aside></div>')

        @app.route("/a/admin/apps/baton/install", methods=["GET", "POST"])
        def install_page() -> Any:
            agent = self._agent()
            if not self.is_admin(agent["id"]):
                abort(403, "only the account's administrators install apps")
            if request.method == "POST":  # the Install button: what postConfigs returned
                data = request.get_json(silent=True) or {}
                configs = data.get("configs")
                framed = self._frames.get(str(data.get("frame")))
                if not isinstance(configs, dict) or framed is None or framed["location"] != "install":
                    return jsonify(message="postConfigs() must return an object"), 400
                meta = configs.pop("__meta", None) or {}
                secure = set(meta.get("secure") or ())
                self.install_app({k: v for k, v in configs.items() if k not in secure},
                                 {k: v for k, v in configs.items() if k in secure})
                return jsonify(installed=True)
            frame = self._frame(agent, "install")
            with self._lock:
                stored = json.dumps(self.app_iparams).replace("<", "\\u003c")  # safe inside <script>
            src = html.escape(f"{APP_PATH}/config/iparams.html?frame={frame}")
            return _page("Install Baton", agent, INSTALL_PAGE.format(src=src, frame=json.dumps(frame), stored=stored))

        @app.get(f"{APP_PATH}/_client.js")
        def client_js() -> Response:
            return Response(CLIENT_JS.replace("__FRAME__", json.dumps(request.args.get("frame", ""))),
                            mimetype="text/javascript")

        @app.get(f"{APP_PATH}/_data/<name>")
        def data(name: str) -> Any:
            frame = self._framed()
            with self._lock:
                values = {"loggedInUser": lambda: copy.deepcopy(self._agents[frame["agent"]]),
                          "currentHost": lambda: {"subscribed_modules": ["support_ticket"],
                                                  "endpoint_urls": {"freshdesk": self.url}},
                          "domainName": lambda: urlsplit(self.url).netloc}
                if frame["ticket"] is not None:
                    values["ticket"] = lambda: copy.deepcopy(self._tickets[frame["ticket"]])
                if name not in values:
                    return jsonify(message=f"{name} is not available in this placeholder"), 404
                return jsonify({name: values[name]()})

        @app.get(f"{APP_PATH}/_iparams")
        def iparams() -> Any:
            self._framed()
            with self._lock:
                return jsonify(self.app_iparams)  # client.iparams.get(): never the secure ones

        @app.post(f"{APP_PATH}/_invoke")
        def invoke() -> Any:
            frame = self._framed()
            data = request.get_json(silent=True) or {}
            context, body = data.get("context") or {}, data.get("body")
            if not isinstance(context, dict) or not (body is None or isinstance(body, str)):
                return jsonify(status=400, headers={}, response="context must be an object and body a string")
            where = "install" if frame["location"] == "install" else "page"
            return jsonify(self._invoke(str(data.get("name")), context, body, where))

        @app.get(f"{APP_PATH}/<path:name>")
        def packaged(name: str) -> Any:
            """The package's front end: app/ and the settings page, never the templates or server/."""
            frame = request.args.get("frame", "")
            if not (name.startswith(("app/", "config/assets/")) or name == "config/iparams.html"):
                abort(404)
            if name.endswith(".html"):
                page = (self.app_dir / name).resolve()
                if not page.is_relative_to(self.app_dir.resolve()) or not page.is_file():
                    abort(404)
                script = f"{APP_PATH}/_client.js?frame={frame}"
                return Response(page.read_text().replace("{{{appclient}}}", html.escape(script)), mimetype="text/html")
            return send_from_directory(self.app_dir, name)


def _page(title: str, agent: JSON, body: str) -> str:
    """A page of the sandbox's agent UI: a bar naming who is signed in, then ``body``."""
    who = html.escape(agent["contact"]["name"])
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · Freshdesk '
            f'sandbox</title><style>{SANDBOX_CSS}</style></head><body><header>Freshdesk sandbox · signed in as '
            f'<span id="agent">{who}</span></header><main>{body}</main></body></html>')


SIGNED_IN = "fd_sandbox_agent"  # the agent signed in to the sandbox's agent UI

SANDBOX_CSS = ("body{margin:0;font:14px/20px sans-serif;color:#12344d;background:#f5f7f9}"
               "header{background:#12344d;color:#fff;padding:8px 16px}main{padding:16px}"
               "iframe{border:1px solid #cfd7df;background:#fff;width:100%;height:820px}"
               ".ticket{display:flex;gap:16px}.ticket section{flex:1}.ticket aside{width:360px}.sidebar{height:1100px}"
               "#install{margin-top:12px}.ticket ol>li{background:#fff;border:1px solid #cfd7df;border-radius:4px;"
               "padding:8px 12px;margin:8px 0}.ticket li.private-note{background:#fef1e1;border-color:#fedcb3}"
               ".note-body h3{font-size:14px;margin:10px 0 4px}.note-body ul{margin:4px 0;padding-left:20px}"
               ".note-body p{margin:4px 0}")

# The settings page's frame and the platform's own Install button, which calls the page's validate(),
# then stores what postConfigs() returns; on Edit Settings the stored iparams go to getConfigs().
INSTALL_PAGE = """<h1>Baton</h1>
<iframe id="baton-settings" title="Baton settings" src="{src}" style="height:420px"></iframe>
<button id="install" type="button">Install</button> <span id="install-result" role="status"></span>
<script type="application/json" id="stored-iparams">{stored}</script>
<script>
(function () {{
  var frame = document.getElementById("baton-settings"), out = document.getElementById("install-result");
  var stored = JSON.parse(document.getElementById("stored-iparams").textContent);
  frame.addEventListener("load", function () {{
    if (Object.keys(stored).length) frame.contentWindow.getConfigs(stored);
  }});
  document.getElementById("install").addEventListener("click", async function () {{
    out.dataset.state = "working"; out.textContent = "Installing…";
    try {{
      if (!(await frame.contentWindow.validate())) {{
        out.dataset.state = "refused"; out.textContent = "Not installed: see the settings above."; return;
      }}
      var configs = await frame.contentWindow.postConfigs();
      var r = await fetch(location.href, {{method: "POST", headers: {{"Content-Type": "application/json"}},
                                          body: JSON.stringify({{frame: {frame}, configs: configs}})}});
      out.dataset.state = r.ok ? "installed" : "refused";
      out.textContent = r.ok ? "Baton is installed." : "Not installed: " + (await r.text());
    }} catch (e) {{
      out.dataset.state = "refused"; out.textContent = "Not installed: " + e;
    }}
  }});
}})();
</script>"""

# The stand-in for the client that {{{appclient}}} loads in an FDK app page (developers.freshworks.com,
# "Front-end apps": app.initialized(), client.data, client.iparams, client.request.invokeTemplate,
# client.events, client.interface). invokeTemplate resolves a 2xx {status, headers, response} and rejects
# anything else with the same shape.
CLIENT_JS = """(function () {
  "use strict";
  var FRAME = __FRAME__, BASE = "/a/apps/baton/";
  function get(path) {
    return fetch(BASE + path + (path.indexOf("?") < 0 ? "?" : "&") + "frame=" + encodeURIComponent(FRAME))
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw j; return j; }); });
  }
  var client = {
    data: {get: function (name) { return get("_data/" + encodeURIComponent(name)); }},
    iparams: {get: function (name) {
      return get("_iparams").then(function (all) {
        if (!name) return all;
        var one = {};
        one[name] = all[name];
        return one;
      });
    }},
    request: {invokeTemplate: function (name, options) {
      options = options || {};
      return fetch(BASE + "_invoke?frame=" + encodeURIComponent(FRAME), {method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({name: name, context: options.context || {}, body: options.body})})
        .then(function (r) { return r.json(); })
        .then(function (result) { if (result.status >= 200 && result.status < 300) return result; throw result; });
    }},
    events: {on: function (name, callback) { if (name === "app.activated") setTimeout(callback, 0); }},
    interface: {trigger: function () { return Promise.resolve({}); }},
    instance: {context: function () { return Promise.resolve({}); }}
  };
  window.app = {initialized: function () { return Promise.resolve(client); }};
})();
"""


class FreshdeskDriver(Driver):
    """Plays an admin, customers, a bot and agents on the Freshdesk sandbox."""

    sandbox_class = FreshdeskSandbox
    key, write_method = "freshdesk", "PUT"
    has_brands = has_skills = True  # products, Omniroute's skills; Freshdesk's API lists no tags
    PRIORITY_NAMES = {1: "low", 2: "medium", 3: "high", 4: "urgent"}  # as Freshdesk's UI names them


    def __init__(self, retry_delays: Sequence[float] = (0.2, 0.2, 0.2)) -> None:
        super().__init__(retry_delays)
        self._app_users: dict[str, int] = {}

    def show_app(self, app: AppSetup) -> None:
        """The app installed as its settings page would leave it: Baton's address, the installation,
        and as secure iparams the installation key and the event secret."""
        inst = app.installation
        self.sandbox.install_app({"baton_url": app.baton_url, "baton_host": urlsplit(app.baton_url).netloc,
                                  "baton_installation": inst.id},
                                 {"baton_key": app.app_key, "baton_secret": inst.webhook_secret})

    def console_url(self, user: str = "admin") -> str:
        return f"{self.url}/a/apps/baton?as={self.app_user(user) if user in ('admin', 'agent') else user}"

    def panel_url(self, ticket_id: Any, user: str = "agent") -> str:
        return f"{self.url}/a/tickets/{ticket_id}?as={self.app_user(user) if user in ('admin', 'agent') else user}"

    def app_user(self, role: str = "admin") -> int:
        """The person who opens Baton's app in Freshdesk (made on first use): ``admin``, an account
        administrator, or ``agent``, an agent with Freshdesk's Agent role."""
        if role not in self._app_users:
            name, freshdesk_role = {"admin": ("Ada Admin", "Account Administrator"),
                                    "agent": ("Pat Agent", "Agent")}[role]
            email = f"{name.split()[0].lower()}@yourco.example"
            self._app_users[role] = int(self.sandbox.add_agent(name, email, role=freshdesk_role)["id"])
        return self._app_users[role]

    def setup(self) -> Setup:
        self.bot_id = self.sandbox.add_agent("Freddy Bot", "bot@sandbox.example")["id"]
        return Setup({"api_key": self.sandbox.api_key}, {"bot_user_ids": [str(self.bot_id)]}, "automation")

    def connect(self, installation: Any, endpoint: str) -> None:
        headers = {webhook.SECRET_HEADER: installation.webhook_secret}
        self.sandbox.add_automation(endpoint, AUTOMATION_BODY, headers)  # what the admin pastes from the README
        self.sandbox.add_automation(endpoint, FEEDBACK_BODY, headers, on=(FEEDBACK_EVENT,))  # and the feedback rule
        self.sandbox.add_app_forwarder(endpoint, headers)  # and the app events, which also echo our own writes

    def add_brand(self, name: str) -> str:
        return str(self.sandbox.add_product(name)["id"])

    def add_skill(self, name: str, agent_ids: Sequence[str] = ()) -> str:
        return str(self.sandbox.add_skill(name, [int(a) for a in agent_ids])["id"])

    def _new_group(self, name: str) -> int:
        return int(self.sandbox.add_group(name)["id"])

    def _new_agent(self, name: str, group_id: str, online: bool) -> int:
        return int(self.sandbox.add_agent(name, f"{name.lower()}@yourco.example", group_ids=[int(group_id)],
                                          available=online)["id"])

    def _add_customer(self, person: Person) -> int:
        company = self.sandbox.add_company(person.organization, custom_fields=dict(person.fields)) if person.organization else None
        return int(self.sandbox.add_contact(person.name, person.email, company_id=company and company["id"],
                                            tags=person.tags, custom_fields=None if company else dict(person.fields))["id"])

    def _open(self, customer: int, subject: str, text: str) -> int:
        return int(self.sandbox.create_ticket(customer, subject, text)["id"])

    def _reply(self, cid: str, author: Any, text: str, role: str) -> None:
        if role == "customer":
            self.sandbox.customer_reply(int(cid), int(author), text)
        else:
            self.sandbox.agent_reply(int(cid), int(author), text)

    def assign(self, cid: Any, agent_id: str) -> None:
        self.sandbox.update_as(int(cid), int(agent_id), {"responder_id": int(agent_id)})

    def solve(self, cid: Any) -> None:
        self.sandbox.update_as(int(cid), int(self._agent_of(cid)), {"status": RESOLVED})

    def reopen(self, cid: Any) -> None:
        self.sandbox.update_as(int(cid), int(self._agent_of(cid)), {"status": OPEN})

    def rate(self, cid: Any, good: bool | int, comment: str = "") -> None:
        self.sandbox.add_rating(int(cid), RATING_OF_STARS[stars(good)], comment)

    def view(self, cid: Any) -> TicketView:
        t = self.sandbox.get_ticket(int(cid))
        convs = self.sandbox.get_conversations(int(cid))
        return TicketView(self.PRIORITY_NAMES.get(t["priority"]), sid(t["group_id"]), sid(t["responder_id"]),
                          tuple(t["tags"]), tuple(c["body"] for c in convs if c["private"]),
                          tuple(c["body_text"] for c in convs if not c["private"] and c["user_id"] == self.sandbox.api_agent_id))

    def writes(self, cid: Any) -> list[JSON]:
        return [r for r in self.sandbox.requests_log if r["method"] in ("PUT", "POST")
                and (r["path"].endswith(f"/tickets/{cid}") or r["path"].endswith(f"/tickets/{cid}/notes"))]

    def forged(self) -> bytes:
        return b'{"baton_event": "ticket_updated", "ticket_id": "4242", "updated_at": "2026-11-20T10:00:00Z", "rule": "x"}'

    def auth(self, installation: Any, body: bytes, secret: str | None = None) -> dict[str, str]:
        return {webhook.SECRET_HEADER: secret or installation.webhook_secret}



DRIVER = FreshdeskDriver
