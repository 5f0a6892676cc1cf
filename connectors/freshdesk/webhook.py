"""Freshdesk webhooks: a secret header, then the automation body template or a Freshworks app event.

Freshdesk signs nothing (https://support.freshdesk.com/support/solutions/articles/132589), so the
admin adds the header ``X-Baton-Secret: <the installation's 256-bit secret>`` to the automation
rule's "Trigger Webhook" action (or the FDK app sends it), and we compare it in constant time.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Mapping

from connectors.base import constant_time_equal, epoch_time, is_baton, iso_time, json_object, required
from integration.core.contract import Ignored, InvalidSignature, NotOurs
from integration.core.model import Event, Installation

SECRET_HEADER = "X-Baton-Secret"
CLOSED_STATUSES = {4, 5}  # resolved, closed


def verify(headers: Mapping[str, str], body: bytes, installation: Installation, now: datetime) -> None:
    secret = installation.webhook_secret
    if len(secret) < 43:  # 256 bits in url-safe base64; never accept a short or missing secret
        raise InvalidSignature("installation secret too short")
    sent = headers.get(SECRET_HEADER)
    if not sent or not constant_time_equal(sent, secret):
        raise InvalidSignature("missing or wrong secret header")



def _on_ticket_create(data: Mapping[str, Any], inst: Installation) -> Event:
    ticket = required(data, "data", "ticket")
    return Event("freshdesk", inst.id, f"app:onTicketCreate:{required(ticket, 'id')}", "ticket_created",
                 str(ticket["id"]), str((data["data"].get("actor") or {}).get("id") or ticket.get("requester_id")),
                 epoch_time(data.get("timestamp")))


def _on_conversation_create(data: Mapping[str, Any], inst: Installation) -> Event:
    conv = required(data, "data", "conversation")
    if is_baton(conv.get("user_id"), inst.settings):
        raise Ignored("our own write")
    if conv.get("private"):
        raise Ignored("private note")
    return Event("freshdesk", inst.id, f"app:onConversationCreate:{required(conv, 'id')}", "comment_added",
                 str(required(conv, "ticket_id")), str(conv.get("user_id")), epoch_time(data.get("timestamp")))


def _on_ticket_update(data: Mapping[str, Any], inst: Installation) -> Event:
    ticket = required(data, "data", "ticket")
    actor = (data["data"].get("actor") or {}).get("id")
    if is_baton(actor, inst.settings):
        raise Ignored("our own write")
    changes = ticket.get("changes") or {}
    if "status" in changes and changes["status"][-1] in CLOSED_STATUSES:
        kind = "conversation_closed"
    elif "responder_id" in changes and changes["responder_id"][-1]:
        kind = "conversation_assigned"
    else:
        raise Ignored("no change Baton acts on")
    stamp = data.get("timestamp")
    return Event("freshdesk", inst.id, f"app:onTicketUpdate:{required(ticket, 'id')}:{stamp}", kind, str(ticket["id"]),
                 str(actor) if actor else None, epoch_time(stamp))


EVENT_TO_FUNCTION: dict[str, Callable[[Mapping[str, Any], Installation], Event]] = {
    "onTicketCreate": _on_ticket_create,
    "onConversationCreate": _on_conversation_create,
    "onTicketUpdate": _on_ticket_update,
}
# Freshworks product events Baton receives but does not act on.
KNOWN_EVENTS = {"onTicketDelete", "onConversationUpdate", "onConversationDelete", "onContactCreate",
                "onContactUpdate", "onCompanyCreate", "onCompanyUpdate", "onAppInstall", "onAppUninstall"}
SUPPORTED_EVENTS = [*EVENT_TO_FUNCTION, "automation"]


def _automation(data: Mapping[str, Any], inst: Installation) -> Event:
    """The body template of README.md; Freshdesk renders every placeholder as text."""
    ticket = str(required(data, "ticket_id"))
    if not ticket.isdigit():
        raise NotOurs("ticket_id is not a ticket number (placeholder not rendered?)")
    updated = str(required(data, "updated_at"))
    rule = str(data.get("rule") or "baton")
    return Event("freshdesk", inst.id, f"automation:{rule}:{ticket}:{updated}", "ticket_updated", ticket, None,
                 iso_time(updated))


def parse(body: bytes, inst: Installation) -> Event:
    data = json_object(body)
    if data.get("baton_event") == "ticket_updated":
        return _automation(data, inst)
    event = data.get("event")
    if event in EVENT_TO_FUNCTION:
        return EVENT_TO_FUNCTION[event](data, inst)
    if event in KNOWN_EVENTS:
        raise Ignored(f"unhandled event {event}")
    raise NotOurs("not a Freshdesk event")
