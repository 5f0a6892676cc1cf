"""Freshdesk API v2 calls (https://developers.freshdesk.com/api/).

Reads: ticket, conversations, requester (contact), company, the requester's recent tickets; for the
outcome, the ticket with its stats and its satisfaction ratings.
Writes: two calls, the fewest Freshdesk allows: ``PUT /api/v2/tickets/{id}`` (priority, group,
tags) then ``POST /api/v2/tickets/{id}/notes`` (the private note). The update goes first because
it is idempotent; the note, which is not, goes last and carries the plan's key, so a retry after
a crash finds it and stops.

Tags: ``tags`` replaces the list, so we send the tags read with the conversation plus ours.
Freshdesk has no conditional update (nothing like Zendesk's ``safe_update``): a tag an agent adds
between our read and our write (usually milliseconds) would be lost; we accept that window.

python-freshdesk is not used: unmaintained since 2022, it hard-codes https and the freshdesk.com
domain (no sandbox) and has no retries.
"""
from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from typing import Any, Mapping

from requests.auth import HTTPBasicAuth

from connectors.base import (HttpClient, author_role, build_customer, iso_time, merged_tags, named, optional,
                             priority_if_higher, seg, sid, takes_handoffs)
from integration.core.contract import (CHANGED_MAX, at_or_after, ApiInvalid, ApiNotFound, ApiUnauthorized, Guard, TicketSnapshot,
                                       oldest_changes)
from integration.core.model import (AddNote, AddTags, Assign, Contact, Conversation, Customer, Installation, Message,
                                    Plan, Priority, ReplyToCustomer, Role, SetPriority, TicketOutcome)
from integration.core.plan import ESCALATED_TAG

PRIORITY = {Priority.LOW: 1, Priority.NORMAL: 2, Priority.HIGH: 3, Priority.URGENT: 4}
PRIORITY_NAME = {v: k.value for k, v in PRIORITY.items()}
STATUS_NAME = {2: "open", 3: "pending", 4: "resolved", 5: "closed"}  # custom statuses keep their number
# A satisfaction rating's answers, unhappiest first (Freshdesk API v2, Satisfaction Ratings): a rating's
# place on this seven-point scale is its satisfaction, -103 → 0, 100 (neutral) → 0.5, 103 → 1. The
# classic three-point survey (-103, 100, 103) lands on 0, 0.5 and 1.
RATING_SCALE = (-103, -102, -101, 100, 101, 102, 103)
# Ticket "source" numbers (Freshdesk API v2, Tickets: Source) as Baton's channels
_CHANNELS = {1: "email", 2: "web", 3: "phone", 5: "social", 6: "social", 7: "chat", 9: "web", 10: "email", 13: "messaging"}


def ai_agents(settings: Mapping[str, Any]) -> set[str]:
    """The responder ids of Freshdesk Omni's AI agent (``settings["ai_agent_ids"]``, named by the admin):
    a chat ticket starts assigned to it while it answers."""
    ids = settings.get("ai_agent_ids")
    return {str(i) for i in ids} if isinstance(ids, (list, tuple)) else set()


class FreshdeskClient:
    def __init__(self, installation: Installation, http: HttpClient | None = None, guard: Guard | None = None):
        auth = HTTPBasicAuth(installation.credentials["api_key"], "X")
        self.http = http or HttpClient(installation.base_url, auth=auth, guard=guard)
        self.ai_agents = ai_agents(installation.settings)
        # the AI agent writes as a bot and takes no handoffs, as the bot users do
        bots = [*installation.settings.get("bot_user_ids", ()), *sorted(self.ai_agents)]
        self.settings = {**installation.settings, "bot_user_ids": bots} if self.ai_agents else installation.settings

    def load(self, ticket_id: str) -> TicketSnapshot:
        ticket = self.http.request("GET", f"/api/v2/tickets/{seg(ticket_id)}")
        convs = self._all(f"/api/v2/tickets/{seg(ticket_id)}/conversations")
        contact = self.http.request("GET", f"/api/v2/contacts/{seg(ticket['requester_id'])}")
        company = None
        if ticket.get("company_id") or contact.get("company_id"):
            company = self.http.request("GET", f"/api/v2/companies/{seg(ticket.get('company_id') or contact['company_id'])}")
        recent = self.http.request("GET", "/api/v2/tickets", params={"requester_id": ticket["requester_id"]})

        first = Message(Role.CUSTOMER, ticket.get("description_text") or "", iso_time(ticket.get("created_at")), True,
                        str(ticket["requester_id"]))
        messages = [first] + [self._message(c, str(ticket["requester_id"])) for c in convs]
        conversation = Conversation(
            id=str(ticket["id"]),
            messages=tuple(m for m in messages if m.role is not Role.SYSTEM),
            customer=_customer(contact, company, recent, ticket),
            subject=ticket.get("subject") or "",
            channel=_CHANNELS.get(ticket.get("source"), "other"),
            brand=sid(ticket.get("product_id")), group_id=sid(ticket.get("group_id")),
            tags=tuple(ticket.get("tags") or ()),
            created_at=iso_time(ticket.get("created_at")),
            url=f"{self.http.base_url}/a/tickets/{seg(ticket['id'])}",
            fields=dict(ticket.get("custom_fields") or {}),
        )
        return TicketSnapshot(conversation, _ticket_fields(ticket))

    def messages_since(self, ticket_id: str, since: datetime, customer_id: str | None) -> list[Message]:
        """List All Conversations of a Ticket (the replies and notes, oldest first, 100 a page): one
        call up to 100 of them. The ticket's description is its first message, never one since."""
        convs = self._all(f"/api/v2/tickets/{seg(ticket_id)}/conversations")
        return at_or_after((self._message(c, customer_id) for c in convs), since)

    def _message(self, c: Mapping[str, Any], customer_id: str | None) -> Message:
        return Message(author_role(c.get("user_id"), self.settings, (customer_id,) if customer_id else (),
                                   bool(c.get("incoming"))),
                       c.get("body_text") or "", iso_time(c.get("created_at")), not c.get("private"), str(c.get("user_id")))

    def update_body(self, plan: Plan) -> dict[str, Any]:
        fields = plan.ticket_fields
        body: dict[str, Any] = {}
        for action in plan.actions:
            if isinstance(action, AddTags):
                body["tags"] = merged_tags(fields, action.tags)
            elif isinstance(action, SetPriority) and priority_if_higher(fields, action.priority):
                body["priority"] = PRIORITY[action.priority]
            elif isinstance(action, Assign):
                if action.group_id:
                    body["group_id"] = int(action.group_id)
                if action.agent_id:
                    body["responder_id"] = int(action.agent_id)
        if plan.handoff and "responder_id" not in body and str(fields.get("assignee_id")) in self.ai_agents:
            # Omni: the chat ticket is still the AI agent's; taken from it, it waits in the group for a
            # person ([U] that reassigning through API v2 stops the AI agent: README)
            body["responder_id"] = None
        return body

    def apply(self, plan: Plan) -> None:
        body = self.update_body(plan)
        if body:
            self.http.request("PUT", f"/api/v2/tickets/{seg(plan.ticket_id)}", json=body)
        for action in plan.actions:
            if isinstance(action, AddNote):
                self.http.request("POST", f"/api/v2/tickets/{seg(plan.ticket_id)}/notes",
                                  json={"body": action.html, "private": True})
        for action in plan.actions:  # after the note: the note carries the key a retry looks for
            if isinstance(action, ReplyToCustomer):
                self.http.request("POST", f"/api/v2/tickets/{seg(plan.ticket_id)}/reply",
                                  json={"body": f"<p>{html.escape(action.text)}</p>"})

    def roster(self) -> dict[str, Any]:
        """Agents (``available`` is Freshdesk's on/off toggle), groups. Open load is not in the
        API; skills only on plans that have them."""
        groups = self._all("/api/v2/groups")
        agents = [
            {"id": str(a["id"]), "name": (a.get("contact") or {}).get("name") or "",
             "groups": [str(g) for g in a.get("group_ids") or ()], "skills": [str(s) for s in a.get("skill_ids") or ()],
             "languages": [(a.get("contact") or {}).get("language") or "en"], "online": bool(a.get("available", True)),
             "capacity": 5, "load": 0}
            for a in self._all("/api/v2/agents")
            if takes_handoffs(a["id"], self.settings)
        ]
        return {"groups": [{"id": str(g["id"]), "name": g["name"]} for g in groups], "agents": agents,
                # products are Freshdesk's brands (a ticket's product_id); skills where the plan has them
                # (Omniroute: GET /api/v2/admin/skills, an assumption, README); Freshdesk lists no tags
                "brands": named(optional(lambda: self._all("/api/v2/products"), [])),
                "skills": named(optional(lambda: self._all("/api/v2/admin/skills"), []))}

    def _all(self, path: str) -> list[dict[str, Any]]:
        """Every item of a list: 100 a page (Freshdesk's default is 30), following the ``Link``
        header's ``rel="next"`` (https://developers.freshdesk.com/api/#pagination)."""
        return [item for page in self.http.pages(path, {"per_page": 100}, _link_next) for item in page or ()]

    def probe(self) -> None:
        self.http.request("GET", "/api/v2/agents/me")

    def outcome(self, ticket_id: str) -> TicketOutcome:
        """Two reads: the ticket with its stats (``GET /api/v2/tickets/{id}?include=stats``) and its
        satisfaction ratings (``GET /api/v2/tickets/{id}/satisfaction_ratings``). Without surveys on
        the account's plan, or the right to read them, the ticket simply has no rating."""
        ticket = self.http.request("GET", f"/api/v2/tickets/{seg(ticket_id)}", params={"include": "stats"})
        if not isinstance(ticket, Mapping):
            raise ApiInvalid(f"GET /api/v2/tickets/{ticket_id}: the answer is not a ticket")
        try:
            ratings = self.http.request("GET", f"/api/v2/tickets/{seg(ticket_id)}/satisfaction_ratings")
        except (ApiNotFound, ApiUnauthorized):  # a 403 here is the plan, not revoked credentials: the ticket was read
            ratings = None
        return outcome_from(ticket, ratings, self.ai_agents)

    def applied(self, plan: Plan) -> bool:
        convs = self._all(f"/api/v2/tickets/{seg(plan.ticket_id)}/conversations")
        return any(c.get("private") and plan.key in (c.get("body") or c.get("body_text") or "") for c in convs)

    def changed_since(self, since: datetime) -> list[tuple[str, datetime]]:
        """List All Tickets (https://developers.freshdesk.com/api/#list_all_tickets) with
        ``updated_since`` (without it Freshdesk lists only tickets created in the last 30 days),
        ``order_by=updated_at&order_type=asc``, 100 a page, following the ``Link`` header; Freshdesk
        serves at most 300 pages, far beyond the 1,000 tickets one sweep reads."""
        params = {"updated_since": since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "order_by": "updated_at", "order_type": "asc", "per_page": 100}
        found: list[tuple[Any, datetime | None]] = []
        for page in self.http.pages("/api/v2/tickets", params, _link_next):
            found += [(t.get("id"), iso_time(t.get("updated_at"))) for t in page or () if isinstance(t, Mapping)]
            if len(found) >= CHANGED_MAX:
                break
        return oldest_changes(found, since)


def _link_next(_body: Any, headers: Mapping[str, str]) -> str | None:
    """The next page of a Freshdesk list: the ``Link`` header's ``rel="next"``
    (https://developers.freshdesk.com/api/#pagination)."""
    match = re.search(r'<([^>]+)>;\s*rel="next"', headers.get("Link", ""))
    return match.group(1) if match else None


# The "Trigger Webhook" body an admin pastes into the automation rule (README.md). The key Baton
# deduplicates on is ticket id + updated time + rule.
AUTOMATION_BODY = (
    '{"baton_event": "ticket_updated", "ticket_id": "{{ticket.id}}", "updated_at": "{{ticket.updated_at}}", '
    '"rule": "baton-conversation", "triggered_event": "{{triggered_event}}"}'
)


# A second rule (Ticket updates, event "Customer feedback is received", action Trigger Webhook): a rating.
FEEDBACK_BODY = (
    '{"baton_event": "rating_added", "ticket_id": "{{ticket.id}}", "updated_at": "{{ticket.updated_at}}", '
    '"rule": "baton-feedback"}'
)


def install(client: FreshdeskClient, endpoint: str, mode: str = "automation") -> dict[str, Any]:
    """Freshdesk has no API to create automation rules: we learn our own agent id (to drop our
    echoes) and the admin pastes the rule from README.md."""
    me = client.http.request("GET", "/api/v2/agents/me")
    return {"settings": {"api_user_id": str(me["id"]), "mode": mode}, "webhook_secret": None}


def outcome_from(ticket: Mapping[str, Any], ratings: Any, ai_agents: set[str] | frozenset[str] = frozenset()) -> TicketOutcome:
    """What the ticket and its ratings say became of it. Freshdesk's stats know no assignment time
    (``assigned_at`` stays None) and only the last reopen (``reopens`` is 1 once it was reopened);
    ``first_responded_at`` is the first public reply of any agent, a bot that answers as an agent
    included. The latest rating counts; a value off the scale is no rating. A ticket still with
    Omni's AI agent (``ai_agents``) has no person assigned."""
    stats = ticket.get("stats") if isinstance(ticket.get("stats"), Mapping) else {}
    solved = [t for t in (iso_time(stats.get("resolved_at")), iso_time(stats.get("closed_at"))) if t]
    csat, csat_at, comment = _latest_rating(ratings)
    return TicketOutcome(
        assigned_at=None,
        assignee_id=None if str(ticket.get("responder_id")) in ai_agents else sid(ticket.get("responder_id")),
        first_agent_reply_at=iso_time(stats.get("first_responded_at")),
        solved_at=max(solved, default=None), reopens=1 if iso_time(stats.get("reopened_at")) else 0,
        csat=csat, csat_at=csat_at, csat_comment=comment,
        tags=tuple(t for t in ticket["tags"] if isinstance(t, str)) if isinstance(ticket.get("tags"), list) else (),
        status=_status(ticket.get("status")))


def _latest_rating(ratings: Any) -> tuple[float | None, datetime | None, str | None]:
    """(satisfaction 0..1, when, the customer's feedback) of the latest rating on the scale."""
    latest: tuple[float | None, datetime | None, str | None] = (None, None, None)
    for rating in ratings if isinstance(ratings, list) else ():
        answers = rating.get("ratings") if isinstance(rating, Mapping) else None
        value = answers.get("default_question") if isinstance(answers, Mapping) else None
        if isinstance(value, bool) or value not in RATING_SCALE:
            continue
        at = iso_time(rating.get("updated_at")) or iso_time(rating.get("created_at"))
        if latest[0] is None or (at or _EPOCH) >= (latest[1] or _EPOCH):
            feedback = rating.get("feedback")
            latest = (RATING_SCALE.index(value) / (len(RATING_SCALE) - 1), at,
                      feedback if isinstance(feedback, str) and feedback else None)
    return latest


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _ticket_fields(ticket: dict[str, Any]) -> dict[str, Any]:
    return {"tags": list(ticket.get("tags") or ()), "priority": PRIORITY_NAME.get(ticket.get("priority")),
            "updated_at": ticket.get("updated_at"), "status": _status(ticket.get("status")),
            "group_id": ticket.get("group_id"), "assignee_id": ticket.get("responder_id")}


def _status(status: Any) -> str:
    """Freshdesk's status number as a word, as the other helpdesks give theirs."""
    return STATUS_NAME.get(status, str(status)) if isinstance(status, int) else str(status or "")


def _customer(contact: dict[str, Any], company: dict[str, Any] | None, recent: list[dict[str, Any]],
              ticket: dict[str, Any]) -> Customer:
    contacts = (Contact(str(t["id"]), iso_time(t.get("created_at")), t.get("subject") or "", str(t.get("status", "")),
                        ESCALATED_TAG in (t.get("tags") or ()),
                        str(t["responder_id"]) if t.get("responder_id") else None)
                for t in recent if str(t["id"]) != str(ticket["id"]))
    return build_customer(
        id=contact["id"], name=contact.get("name"), email=contact.get("email"),
        fields={**((company or {}).get("custom_fields") or {}), **(contact.get("custom_fields") or {})},
        tags=contact.get("tags") or (), created=iso_time(contact.get("created_at")), now=iso_time(ticket.get("created_at")),
        contacts=contacts, language=contact.get("language"), timezone_name=contact.get("time_zone"),
        organization=(company or {}).get("name"),
    )
