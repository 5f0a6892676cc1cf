"""The Freshdesk sandbox's state: agents with their roles, groups, companies, contacts, tickets
with their conversations, stats and satisfaction ratings, and the rules Freshdesk applies to them
(fields checked and refused all at once, statuses, sources); what agents and customers do in
Freshdesk's UI; what it sends (automation rules' "Trigger Webhook", the app events an FDK app
forwards); the API key's authentication and rate-limit headers. Its API routes (``api.py``) and pages
(``pages.py``) are mixed in by :class:`FreshdeskSandbox` (``__init__.py``).
"""
from __future__ import annotations

import copy
import hmac
import html
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from connectors.sandbox import JSON, ApiError, Outgoing, Refusal, Sandbox, fill, html_to_text, iso

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
APP_DIR = Path(__file__).resolve().parents[3] / "manifests" / "freshdesk"  # the packaged FDK app
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


class FreshdeskState(Sandbox[_Job]):
    """The account's records and the rules that change them."""

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
