"""Freshdesk webhooks: a secret header, then the automation body template or a Freshworks app event.

Freshdesk signs nothing (https://support.freshdesk.com/support/solutions/articles/132589), so the
admin adds the header ``X-Baton-Secret: <the installation's 256-bit secret>`` to the automation
rule's "Trigger Webhook" action (or the FDK app sends it), and we compare it in constant time.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Mapping

from connectors.base import constant_time_equal, epoch_time, is_baton, iso_time, json_object, required, required_object, ticket_number
from connectors.freshdesk.client import ai_agents
from integration.core.contract import Ignored, InvalidSignature, NotOurs
from integration.core.model import Event, Installation

SECRET_HEADER = "X-Baton-Secret"
CLOSED_STATUSES = (4, 5)  # resolved, closed (a tuple: a malformed value may be unhashable)


def verify(headers: Mapping[str, str], body: bytes, installation: Installation, now: datetime) -> None:
    secret = installation.webhook_secret
    if len(secret) < 43:  # 256 bits in url-safe base64; never accept a short or missing secret
        raise InvalidSignature("installation secret too short")
    sent = headers.get(SECRET_HEADER)
    if not sent or not constant_time_equal(sent, secret):
        raise InvalidSignature("missing or wrong secret header")



def _fdk_time(value: Any) -> datetime | None:
    """Freshworks product events carry ``timestamp`` in milliseconds since the epoch (the FDK's
    sample apps' test data); a value in seconds is accepted too."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > 10**11:
        value = value / 1000 if abs(value) < 10**300 else None  # a larger int overflows the division
    return epoch_time(value)


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _actor(data: Mapping[str, Any]) -> Any:
    return _object(_object(data.get("data")).get("actor")).get("id")


def _changed_to(changes: Any, field: str) -> Any:
    """The new value of ``field`` in an onTicketUpdate ``changes`` object (``[old, new]``), or None."""
    pair = _object(changes).get(field)
    return pair[-1] if isinstance(pair, list) and pair else None


def _stamp(data: Mapping[str, Any]) -> datetime | None:
    """The ticket's ``updated_at`` in a product event's payload: the stamp this change gave it."""
    return iso_time(_object(_object(data.get("data")).get("ticket")).get("updated_at"))


def _on_ticket_create(data: Mapping[str, Any], inst: Installation) -> Event:
    ticket = required_object(data, "data", "ticket")
    tid = ticket_number(required(ticket, "id"))
    actor = _actor(data) or ticket.get("requester_id")
    return Event("freshdesk", inst.id, f"app:onTicketCreate:{tid}", "ticket_created", tid,
                 str(actor) if actor else None, _fdk_time(data.get("timestamp")), _stamp(data))


def _on_conversation_create(data: Mapping[str, Any], inst: Installation) -> Event:
    conv = required_object(data, "data", "conversation")
    if is_baton(conv.get("user_id"), inst.settings):
        raise Ignored("our own write")
    if conv.get("private"):
        raise Ignored("private note")
    return Event("freshdesk", inst.id, f"app:onConversationCreate:{ticket_number(required(conv, 'id'), 'id')}",
                 "comment_added", ticket_number(required(conv, "ticket_id")), str(conv.get("user_id")),
                 _fdk_time(data.get("timestamp")), _stamp(data))


def _on_ticket_update(data: Mapping[str, Any], inst: Installation) -> Event:
    ticket = required_object(data, "data", "ticket")
    tid = ticket_number(required(ticket, "id"))
    actor = _actor(data)
    if is_baton(actor, inst.settings):
        raise Ignored("our own write")
    changes = ticket.get("changes")
    if _changed_to(changes, "status") in CLOSED_STATUSES:
        kind = "conversation_closed"
    elif _changed_to(changes, "responder_id"):
        if str(_changed_to(changes, "responder_id")) in ai_agents(inst.settings):
            raise Ignored("assigned to the AI agent, not a person")  # Omni: a chat ticket starts with it
        kind = "conversation_assigned"
    else:
        raise Ignored("no change Baton acts on")
    stamp = data.get("timestamp")
    return Event("freshdesk", inst.id, f"app:onTicketUpdate:{tid}:{stamp}", kind, tid,
                 str(actor) if actor else None, _fdk_time(stamp), _stamp(data))


EVENT_TO_FUNCTION: dict[str, Callable[[Mapping[str, Any], Installation], Event]] = {
    "onTicketCreate": _on_ticket_create,
    "onConversationCreate": _on_conversation_create,
    "onTicketUpdate": _on_ticket_update,
}
# Freshworks product events Baton receives but does not act on.
KNOWN_EVENTS = {"onTicketDelete", "onConversationUpdate", "onConversationDelete", "onContactCreate",
                "onContactUpdate", "onCompanyCreate", "onCompanyUpdate", "onAppInstall", "onAppUninstall"}
SUPPORTED_EVENTS = [*EVENT_TO_FUNCTION, "automation"]


# The automation rules' body templates (client.py): a conversation update, or customer feedback received.
AUTOMATION_KINDS = ("ticket_updated", "rating_added")


def _automation(data: Mapping[str, Any], inst: Installation) -> Event:
    """A body template of README.md; Freshdesk renders every placeholder as text. The conversation
    rule's call for a customer's reply is a new message (``comment_added``: on a conversation handed
    over and waiting, Baton reads only what came since); any other, or one it cannot tell, stays a
    ticket update and the ticket is read whole."""
    ticket = ticket_number(required(data, "ticket_id"), "ticket_id (placeholder not rendered?)")
    updated = str(required(data, "updated_at"))
    rule = str(data.get("rule") or "baton")
    kind = str(data["baton_event"])
    if kind == "ticket_updated" and _a_reply(data.get("triggered_event")):
        kind = "comment_added"
    return Event("freshdesk", inst.id, f"automation:{rule}:{ticket}:{updated}", kind, ticket,
                 None, iso_time(updated), iso_time(updated))


def _a_reply(triggered: Any) -> bool:
    """Whether ``{{triggered_event}}`` names a reply. Freshdesk renders it as braces around the
    event, e.g. ``{ticket_action:created}`` or ``{note_type:public}`` (reference, Additions); how it
    renders "Reply is sent" is not published, so a value naming a reply in any of these forms counts
    and anything else is read whole (connector README)."""
    return isinstance(triggered, str) and "{{" not in triggered and "repl" in triggered.lower()


def parse(body: bytes, inst: Installation) -> Event:
    data = json_object(body)
    if data.get("baton_event") in AUTOMATION_KINDS:
        return _automation(data, inst)
    event = data.get("event")
    if not isinstance(event, str):
        raise NotOurs("not a Freshdesk event")
    if event in EVENT_TO_FUNCTION:
        return EVENT_TO_FUNCTION[event](data, inst)
    if event in KNOWN_EVENTS:
        raise Ignored(f"unhandled event {event}")
    raise NotOurs("not a Freshdesk event")
