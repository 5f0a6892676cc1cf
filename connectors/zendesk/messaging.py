"""The Zendesk client Baton's pipeline gets: the Support API client, plus bot-held messaging
conversations through the Conversations API when the installation has a key
(``conversations.py``). Which path a call takes is decided by Baton's key: a ticket number goes
to the ticket path as before, a conversation id to the messaging path.

The handoff of a conversation, exactly once across retries and crashes (the pipeline stores the
plan under its key before calling ``apply``, and after a crash asks ``applied``):

1. a message to the customer, if the plan has one, as the business, marked with the plan's key
   (sent only while the bot still holds the conversation, and not again if the mark is there);
2. ``passControl`` to the Agent Workspace with the group, assignee, priority and tags as captured
   fields, unless the agents already hold the conversation (a retry after a crash: one pass);
3. the note (and the same fields, for an account whose capture did not take them) on the ticket
   through the Support API, now that it is a regular ticket. Refused (403/422 while Zendesk
   converts it) or accepted without the note showing: ``NotYetEditable``, retried later.

``applied`` is "is the note with this key on the conversation's ticket". No write ever goes to
the ticket while the bot holds the conversation.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any, Mapping

from connectors.base import HttpClient, iso_time, merged_tags, priority_if_higher, seg, sid
from connectors.zendesk import client as support
from connectors.zendesk import conversations as sunco
from integration.core.contract import (ApiInvalid, ApiNotFound, ApiTooLarge, ApiUnauthorized, Guard, TicketSnapshot,
                                       at_or_after)
from integration.core.model import (AddNote, AddTags, Assign, Conversation, Customer, Installation, Message, Plan,
                                    ReplyToCustomer, Role, SetPriority, TicketOutcome)


class ZendeskMessagingClient(support.ZendeskClient):
    def __init__(self, installation: Installation, http: HttpClient | None = None, guard: Guard | None = None):
        super().__init__(installation, http=http, guard=guard)
        self.sunco = sunco.Conversations(installation, guard=guard) if sunco.enabled(installation) else None

    def _api(self, key: str) -> sunco.Conversations | None:
        """The Conversations API when ``key`` is a conversation; a conversation key without a key
        installed (removed since) cannot be read at all."""
        if not sunco.is_conversation(key):
            return None
        if self.sunco is None:
            raise ApiInvalid("a messaging conversation, and no Conversations API key is installed")
        return self.sunco

    # reads

    def load(self, ticket_id: str) -> TicketSnapshot:
        api = self._api(ticket_id)
        if api is None:
            return super().load(ticket_id)
        cid = ticket_id
        conversation = api.conversation(cid)
        raw = api.messages(cid)
        user_id = next((m["author"].get("userId") for m in raw if sunco.role(m) is Role.CUSTOMER), None)
        person = api.user(user_id) if user_id else {}
        requester, org, recent, ticket = self._customer_of(person.get("zendeskId"))
        raw = _this_session(raw, ticket)
        messages = tuple(Message(role, sunco.text(m), iso_time(m.get("received")), True,
                                 sid((m.get("author") or {}).get("userId")))
                         for m in raw if (role := sunco.role(m)) is not Role.SYSTEM)
        created = conversation.get("createdAt")
        if requester is not None:
            customer = support._customer(requester, org, recent, ticket or {"id": None, "created_at": created})
        else:
            customer = Customer(id=sid(person.get("id")), name=(person.get("profile") or {}).get("givenName"))
        fields = support._ticket_fields(ticket) if ticket else {"tags": [], "priority": None, "status": None,
                                                                "updated_at": None}
        return TicketSnapshot(Conversation(
            id=cid, messages=messages, customer=customer, subject=(ticket or {}).get("subject") or "",
            channel="messaging", brand=sid((ticket or {}).get("brand_id")), group_id=sid((ticket or {}).get("group_id")),
            tags=tuple((ticket or {}).get("tags") or ()), created_at=iso_time(created),
            url=f"{self.http.base_url}/agent/tickets/{seg(ticket['id'])}" if ticket else None,
        ), {**fields, "control": sunco.control(conversation), "ticket_id": sid((ticket or {}).get("id")),
            "requester_id": sid(person.get("zendeskId")), "first_message_id": raw[0].get("id") if raw else None})

    def messages_since(self, ticket_id: str, since: datetime, customer_id: str | None) -> list[Message]:
        """A messaging conversation: the latest page of List Messages (100), one call."""
        api = self._api(ticket_id)
        if api is None:
            return super().messages_since(ticket_id, since, customer_id)
        return at_or_after((Message(sunco.role(m), sunco.text(m), iso_time(m.get("received")), True,
                                    sid((m.get("author") or {}).get("userId"))) for m in api.latest(ticket_id)), since)

    def _customer_of(self, zendesk_id: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None,
                                                      list[dict[str, Any]], dict[str, Any] | None]:
        """The customer's Support profile, organization and tickets, through the SunCo user's
        ``zendeskId``; and among their tickets this conversation's (``_ticket_of``)."""
        if not zendesk_id:
            return None, None, [], None
        requester = self.http.request("GET", f"/api/v2/users/{seg(zendesk_id)}.json")["user"]
        org = None
        if requester.get("organization_id"):
            org = self.http.request("GET", f"/api/v2/organizations/{seg(requester['organization_id'])}.json")["organization"]
        recent = self._requested(zendesk_id)
        return requester, org, recent, _ticket_of(recent)

    def _requested(self, zendesk_id: Any) -> list[dict[str, Any]]:
        return self.http.request("GET", f"/api/v2/users/{seg(zendesk_id)}/tickets/requested.json")["tickets"]

    def _ticket(self, plan: Plan) -> dict[str, Any] | None:
        """The conversation's ticket now: among the customer's tickets, the one read when the plan
        was made if it is still open, else the newest open messaging ticket (if Zendesk opened a new
        ticket at the handoff rather than converting the AI agent ticket, that one is it)."""
        fields = plan.ticket_fields
        zendesk_id = fields.get("requester_id") or self._zendesk_id(plan.ticket_id)
        if not zendesk_id:
            return None
        recent = self._requested(zendesk_id)
        known = next((t for t in recent if sid(t.get("id")) == fields.get("ticket_id") and t.get("status") != "closed"), None)
        return known or _ticket_of(recent)

    def _zendesk_id(self, cid: str) -> Any:
        """The customer's Support user id, when no plan read it: through their last message's SunCo
        user (the latest page first; the whole conversation only if the bot filled it)."""
        assert self.sunco is not None

        def customer(messages: list[dict[str, Any]]) -> Any:
            return next((m["author"].get("userId") for m in reversed(messages) if sunco.role(m) is Role.CUSTOMER), None)

        user_id = customer(self.sunco.latest(cid)) or customer(self.sunco.messages(cid))
        return self.sunco.user(user_id).get("zendeskId") if user_id else None

    def outcome(self, ticket_id: str) -> TicketOutcome:
        if self._api(ticket_id) is None:
            return super().outcome(ticket_id)
        ticket = self._ticket(Plan("", ticket_id, ()))
        if ticket is None:
            raise ApiNotFound(f"no ticket found for conversation {ticket_id}")
        return super().outcome(str(ticket["id"]))

    # writes

    def apply(self, plan: Plan) -> None:
        api = self._api(plan.ticket_id)
        if api is None:
            return super().apply(plan)
        cid = plan.ticket_id
        with_agents = sunco.control(api.conversation(cid)) == sunco.AGENT_WORKSPACE
        for action in plan.actions:
            # a handoff's message goes before the pass: once the agents hold it, it was sent (or they talk now)
            if isinstance(action, ReplyToCustomer) and not (plan.handoff and with_agents) and not self._said(cid, plan.key):
                api.say(cid, action.text, plan.key)
        writes = tuple(a for a in plan.actions if not isinstance(a, ReplyToCustomer))
        if not writes:
            return
        if not with_agents:
            if not plan.handoff:  # e.g. the agents gave it back to the bot: its AI agent ticket takes no writes
                raise ApiInvalid("the bot holds this conversation again: nothing is written to its ticket")
            api.pass_control(cid, self._captured(plan))
        ticket = self._ticket(plan)
        if ticket is None:
            raise sunco.NotYetEditable(f"no ticket for conversation {cid} yet")
        self._write(dataclasses.replace(plan, ticket_id=str(ticket["id"]), actions=writes,
                                        ticket_fields=support._ticket_fields(ticket)))

    def _captured(self, plan: Plan) -> dict[str, Any]:
        fields = plan.ticket_fields
        group = agent = priority = None
        tags: list[str] = []
        for action in plan.actions:
            if isinstance(action, Assign):
                group, agent = action.group_id, action.agent_id
            elif isinstance(action, SetPriority) and (p := priority_if_higher(fields, action.priority)):
                priority = p.value
            elif isinstance(action, AddTags):
                tags = merged_tags(fields, action.tags)
        return sunco.captured(plan.key, fields, group, agent, priority, tags)

    def _write(self, plan: Plan) -> None:
        """The ticket path's one PUT, on a ticket that should now be regular. A refusal while the
        credentials still work is the ticket not being editable yet, never a reason to flag the
        installation; an answer without our note in the ticket is no write either."""
        try:
            super().apply(plan)
        except (ApiUnauthorized, ApiInvalid) as e:
            if isinstance(e, ApiTooLarge):
                raise  # the pipeline sends the brief note
            self.probe()  # raises ApiUnauthorized when the credentials themselves are refused
            raise sunco.NotYetEditable(f"ticket {plan.ticket_id} refused the note ({e.status})") from e
        if any(isinstance(a, AddNote) for a in plan.actions) and not super().applied(plan):
            raise sunco.NotYetEditable(f"ticket {plan.ticket_id} took the update without the note")

    def _said(self, cid: str, key: str) -> bool:
        assert self.sunco is not None
        return any((m.get("metadata") or {}).get(sunco.BATON_MARK) == key for m in self.sunco.latest(cid))

    def applied(self, plan: Plan) -> bool:
        if self._api(plan.ticket_id) is None:
            return super().applied(plan)
        if not any(isinstance(a, AddNote) for a in plan.actions):
            return self._said(plan.ticket_id, plan.key)
        ticket = self._ticket(plan)
        return ticket is not None and super().applied(dataclasses.replace(plan, ticket_id=str(ticket["id"])))


SESSION_SKEW = timedelta(seconds=2)  # Zendesk stamps tickets to the second, messages to the millisecond
SESSION_ENDS = frozenset({"ticket:closed", "ticket:transfer:email", "conversation:endedByUser"})


def _this_session(messages: list[dict[str, Any]], ticket: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """A messaging conversation outlives its tickets: after a ticket is closed the customer's next
    message opens a new one with the bot in control again. What Baton decides on is the current
    ticket's part, so an agent's reply in an earlier ticket does not count as a person having
    answered this time: the messages after the last session-ending activity Zendesk persists in
    the conversation (``activity.type`` ``ticket:closed`` …, spec ``activityMessage``), and none
    from before the ticket was created."""
    ends = [i for i, m in enumerate(messages)
            if isinstance(m.get("activity"), Mapping) and m["activity"].get("type") in SESSION_ENDS]
    messages = messages[ends[-1] + 1:] if ends else messages
    since = iso_time((ticket or {}).get("created_at"))
    if since is None:
        return messages
    return [m for m in messages if (at := iso_time(m.get("received"))) is None or at >= since - SESSION_SKEW]


def _ticket_of(tickets: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A customer's ticket of this conversation: Zendesk threads a conversation's messages into its
    one ticket that is not closed, so the open messaging ticket; the most recently updated if the
    customer has several (several conversations at once: which ticket is whose is not in the
    Support API, README)."""
    open_ = [t for t in tickets if sunco.is_messaging(t.get("via")) and t.get("status") != "closed"]
    return max(open_, key=lambda t: (t.get("updated_at") or "", t.get("id") or 0), default=None)


def install(client: ZendeskMessagingClient, endpoint: str, mode: str = "events") -> dict[str, Any]:
    """The Support webhook (``client.install``) and, with a Conversations API key, Baton's custom
    integration, its webhook and its place on the switchboard; the SunCo webhook's secret goes
    with the credentials (encrypted)."""
    result = support.install(client, endpoint, mode)
    if client.sunco is not None:
        settings, credentials = client.sunco.install(endpoint)
        result = {**result, "settings": {**result["settings"], **settings}, "credentials": credentials}
    return result
