"""Zendesk webhooks: verify the signature on the raw bytes, then parse into an Event.

Two payload shapes reach us (https://developer.zendesk.com/documentation/webhooks/):
- event subscriptions: ``{"type": "zen:event-type:ticket.comment_added", "id": …, "detail": …, "event": …}``;
- a trigger-connected webhook posting the body template in README.md (``"baton_event": …``).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any, Callable, Mapping

from connectors.base import constant_time_equal, epoch_time, is_baton, iso_time, json_object, required, required_object, ticket_number
from integration.core.contract import Ignored, InvalidSignature, NotOurs
from integration.core.model import Event, Installation

SIGNATURE = "X-Zendesk-Webhook-Signature"
TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"
TOLERANCE = 300  # seconds either side of now; Zendesk leaves replay protection to the receiver


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def verify(headers: Mapping[str, str], body: bytes, installation: Installation, now: datetime) -> None:
    secret = installation.webhook_secret
    signature, stamp = headers.get(SIGNATURE), headers.get(TIMESTAMP)
    if not secret:
        raise InvalidSignature("installation has no signing secret")  # never accept unsigned
    if not signature or not stamp:
        raise InvalidSignature("missing signature headers")
    sent = _parse_timestamp(stamp)
    if sent is None:
        raise InvalidSignature("unreadable signature timestamp")
    if abs((now - sent).total_seconds()) > TOLERANCE:
        raise InvalidSignature("stale signature timestamp")
    if not constant_time_equal(sign(secret, stamp, body), signature):
        raise InvalidSignature("signature mismatch")


def _parse_timestamp(value: Any) -> datetime | None:
    """Zendesk sends ISO-8601 ("2024-04-17T17:18:10Z"); some older hooks sent epoch seconds."""
    if isinstance(value, str) and value.isascii() and value.isdigit():  # not "²", which int() refuses
        return epoch_time(int(value)) if len(value) <= 12 else None  # nor 5000 digits
    return iso_time(value)


def _comment_added(data: Mapping[str, Any], inst: Installation) -> Event:
    comment = required_object(data, "event", "comment")
    author = str(required(comment, "author", "id"))
    if is_baton(author, inst.settings):
        raise Ignored("our own write")
    if not comment.get("is_public", True):
        raise Ignored("private note")  # notes between agents do not change what the customer said
    return Event("zendesk", inst.id, str(required(data, "id")), "comment_added",
                 ticket_number(required(data, "detail", "id")), author, _parse_timestamp(data.get("time")))


def _created(data: Mapping[str, Any], inst: Installation) -> Event:
    ticket = ticket_number(required(data, "detail", "id"))
    detail = data["detail"]
    actor = detail.get("actor_id") or detail.get("requester_id")
    return Event("zendesk", inst.id, str(required(data, "id")), "ticket_created",
                 ticket, str(actor) if actor else None, _parse_timestamp(data.get("time")))


def _messaging_message_added(data: Mapping[str, Any], inst: Installation) -> Event:
    """Messaging conversations (web widget, mobile SDK, social channels), where Zendesk's own AI
    agents and most bots talk, send these instead of ``ticket.comment_added``
    (https://developer.zendesk.com/api-reference/webhooks/event-types/messaging-events). The
    actor is ``{"type": "system", "id": "zd:answerBot"}`` for Zendesk's bot, ``agent`` or
    ``end-user`` otherwise."""
    ticket = ticket_number(required(data, "detail", "id"))
    actor = required_object(data, "event").get("actor")
    actor_id = actor.get("id") if isinstance(actor, Mapping) else None
    if is_baton(actor_id, inst.settings):
        raise Ignored("our own write")
    return Event("zendesk", inst.id, str(required(data, "id")), "comment_added", ticket,
                 str(actor_id) if actor_id is not None else None, _parse_timestamp(data.get("time")))


Parser = Callable[[Mapping[str, Any], Installation], Event]


def _lifecycle(kind: str, acts_on: Callable[[Any], bool], otherwise: str) -> Parser:
    """A ticket change after the handoff: ``event.current`` is the new value (a status in capitals,
    an agent as ``{"id": …}``); other values, and Baton's own changes, are ignored."""

    def parse(data: Mapping[str, Any], inst: Installation) -> Event:
        ticket = ticket_number(required(data, "detail", "id"))
        actor = data["detail"].get("actor_id")
        if is_baton(actor, inst.settings):
            raise Ignored("our own write")
        event = data.get("event")
        if not acts_on(event.get("current") if isinstance(event, Mapping) else None):
            raise Ignored(otherwise)
        return Event("zendesk", inst.id, str(required(data, "id")), kind, ticket, str(actor) if actor else None,
                     _parse_timestamp(data.get("time")))

    return parse


def _solved(status: Any) -> bool:
    return isinstance(status, str) and status.lower() in ("solved", "closed")


def _an_agent(agent: Any) -> bool:
    return bool(agent.get("id") if isinstance(agent, Mapping) else agent)


EVENT_TO_FUNCTION: dict[str, Callable[[Mapping[str, Any], Installation], Event]] = {
    "zen:event-type:ticket.comment_added": _comment_added,
    "zen:event-type:ticket.created": _created,
    "zen:event-type:messaging_ticket.message_added": _messaging_message_added,
}
# What became of a handed-over ticket (https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events)
LIFECYCLE_EVENTS: dict[str, Parser] = {
    "zen:event-type:ticket.status_changed": _lifecycle("conversation_closed", _solved, "not solved or closed"),
    "zen:event-type:ticket.agent_assignment_changed": _lifecycle("conversation_assigned", _an_agent, "unassigned"),
}
SUPPORTED_EVENTS = [*EVENT_TO_FUNCTION, *LIFECYCLE_EVENTS]


def _trigger(data: Mapping[str, Any], inst: Installation) -> Event:
    """The body template of README.md. Zendesk renders every placeholder as a string."""
    updated = str(required(data, "updated_at"))
    actor = data.get("actor_id") or None
    if actor and is_baton(actor, inst.settings):
        raise Ignored("our own write")
    ticket = ticket_number(required(data, "ticket_id"), "ticket_id (placeholder not rendered?)")
    return Event("zendesk", inst.id, f"trigger:{ticket}:{updated}", "ticket_updated", ticket,
                 str(actor) if actor else None, _parse_timestamp(updated))


def parse(body: bytes, inst: Installation) -> Event:
    data = json_object(body)
    kind = data.get("type")
    if isinstance(kind, str) and kind.startswith("zen:event-type:"):
        handler = EVENT_TO_FUNCTION.get(kind) or LIFECYCLE_EVENTS.get(kind)
        if handler is None:
            raise Ignored(f"unhandled event {kind}")
        return handler(data, inst)
    if data.get("baton_event") == "ticket_updated":
        return _trigger(data, inst)
    raise NotOurs("not a Zendesk event")
