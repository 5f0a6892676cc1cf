"""Zendesk webhooks: verify the signature on the raw bytes, then parse into an Event.

Three payload shapes reach us:
- Support event subscriptions (https://developer.zendesk.com/documentation/webhooks/):
  ``{"type": "zen:event-type:ticket.comment_added", "id": …, "detail": …, "event": …}``, signed with
  HMAC-SHA256 over timestamp + body;
- a trigger-connected Support webhook posting the body template in README.md (``"baton_event": …``);
- the Conversations API webhook of Baton's custom integration (messaging, ``conversations.py``):
  ``{"app", "webhook", "events": [...]}``, batched, authenticated by the ``X-API-Key`` header.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any, Callable, Mapping

from connectors.base import constant_time_equal, epoch_time, is_baton, iso_time, json_object, required, required_object, ticket_number
from connectors.zendesk import conversations as sunco
from integration.core.contract import Batch, Ignored, InvalidSignature, NotOurs
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
    if signature is None and headers.get(sunco.API_KEY) is not None:
        return _verify_api_key(headers[sunco.API_KEY], installation)
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


def _verify_api_key(given: str, installation: Installation) -> None:
    """The Conversations API sends its webhook's shared secret in ``X-API-Key`` (no HMAC, no
    timestamp: https://developer.zendesk.com/api-reference/conversations/#section/Securing-Sunshine-Conversations-Webhooks).
    Baton keeps one per installation, encrypted with its credentials."""
    secret = installation.credentials.get(sunco.WEBHOOK_SECRET)
    if not secret:
        raise InvalidSignature("installation has no Conversations API webhook secret")  # never accept unsigned
    if not constant_time_equal(secret, given):
        raise InvalidSignature("X-API-Key mismatch")


def _parse_timestamp(value: Any) -> datetime | None:
    """Zendesk sends ISO-8601 ("2024-04-17T17:18:10Z"); some older hooks sent epoch seconds."""
    if isinstance(value, str) and value.isascii() and value.isdigit():  # not "²", which int() refuses
        return epoch_time(int(value)) if len(value) <= 12 else None  # nor 5000 digits
    return iso_time(value)


def _not_a_conversation(data: Mapping[str, Any], inst: Installation) -> None:
    """With a Conversations API key, Baton follows messaging conversations by their conversation
    id (``conversations.py``); a ticket event about one would start a second, ticket-keyed
    conversation that writes to an AI agent ticket. Their messages come from the Conversations
    API webhook instead."""
    detail = data.get("detail")
    if sunco.enabled(inst) and isinstance(detail, Mapping) and sunco.is_messaging(detail.get("via")):
        raise Ignored("a messaging conversation: Baton follows it through the Conversations API")


def _comment_added(data: Mapping[str, Any], inst: Installation) -> Event:
    _not_a_conversation(data, inst)
    comment = required_object(data, "event", "comment")
    author = str(required(comment, "author", "id"))
    if is_baton(author, inst.settings):
        raise Ignored("our own write")
    if not comment.get("is_public", True):
        raise Ignored("private note")  # notes between agents do not change what the customer said
    return Event("zendesk", inst.id, str(required(data, "id")), "comment_added",
                 ticket_number(required(data, "detail", "id")), author, _parse_timestamp(data.get("time")))


def _created(data: Mapping[str, Any], inst: Installation) -> Event:
    _not_a_conversation(data, inst)
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
    ``end-user`` otherwise. With a Conversations API key the conversation id is Baton's key, as
    for the Conversations API's own events, so either webhook finds the same conversation."""
    if sunco.enabled(inst):
        ticket = sunco.conversation_id(required(data, "event", "conversation_id"))
    else:
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
        _not_a_conversation(data, inst)
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


# The Conversations API webhook (https://developer.zendesk.com/api-reference/conversations/#tag/Webhooks):
# ``{"app": {"id"}, "webhook": {"id", "version"}, "events": [{"id", "type", "createdAt", "payload"}]}``.
SunCoParser = Callable[[Mapping[str, Any], str, Installation], Event]
MAX_BATCH = 1000  # events of one delivery recorded; more is not a delivery SunCo sends


def _sunco_event(kind: str) -> SunCoParser:
    """An event Baton reads as "look at the conversation again" (``kind``) or as its close."""

    def parse(event: Mapping[str, Any], conversation: str, inst: Installation) -> Event:
        payload = event["payload"]
        metadata = payload.get("metadata")
        if isinstance(metadata, Mapping) and metadata.get(sunco.BATON_MARK):
            raise Ignored("our own handoff")
        closed = payload.get("reason") == "ticketClosed"  # control back to the bot: the ticket was closed
        return Event("zendesk", inst.id, f"sunco:{required(event, 'id')}", "conversation_closed" if closed else kind,
                     conversation, None, iso_time(event.get("createdAt")))

    return parse


def _sunco_message(event: Mapping[str, Any], conversation: str, inst: Installation) -> Event:
    """A message in the conversation: the customer's (``author.type`` user), the bot's or an
    agent's (business); Baton's own (marked in its metadata) is our echo."""
    message = required_object(event, "payload", "message")
    author = required_object(message, "author")
    metadata = message.get("metadata")
    if isinstance(metadata, Mapping) and metadata.get(sunco.BATON_MARK):
        raise Ignored("our own message")
    actor = author.get("userId") if author.get("type") == "user" else None
    return Event("zendesk", inst.id, f"sunco:{required(event, 'id')}", "comment_added", conversation,
                 str(actor) if actor else None, iso_time(event.get("createdAt")))


def _sunco_skip(why: str) -> SunCoParser:
    def parse(event: Mapping[str, Any], conversation: str, inst: Installation) -> Event:
        error = (event.get("payload") or {}).get("error")
        code = error.get("code") if isinstance(error, Mapping) else None
        raise Ignored(f"{why} ({code})" if isinstance(code, str) else why)

    return parse


SUNCO_EVENTS: dict[str, SunCoParser] = {
    "conversation:message": _sunco_message,
    # the first message of a new conversation arrives as conversation:message
    "conversation:create": _sunco_skip("a new conversation: Baton decides on its messages"),
    "switchboard:passControl": _sunco_event("control_changed"),
    "switchboard:acceptControl": _sunco_event("control_changed"),
    "switchboard:releaseControl": _sunco_event("control_changed"),
    "switchboard:offerControl": _sunco_skip("an offer moves no control yet"),
    "switchboard:passControl:failure": _sunco_skip("the switchboard refused to pass control"),
}


def _sunco_batch(data: Mapping[str, Any], inst: Installation) -> Batch:
    """Each event of the delivery on its own; an unreadable or unhandled one is skipped with its
    reason (the others still count), a delivery with no readable event is not SunCo's."""
    if str(required(data, "app", "id")) != str(inst.settings.get(sunco.APP_ID)):
        raise NotOurs("not this installation's Conversations API app")
    items = data.get("events")
    if not isinstance(items, list) or not items:
        raise NotOurs("events is not a list of events")
    found: list[Event] = []
    skipped: list[str] = []
    unreadable = 0
    for index, item in enumerate(items[:MAX_BATCH]):
        try:
            kind = required(item, "type")
            handler = SUNCO_EVENTS.get(kind) if isinstance(kind, str) else None
            if handler is None:
                raise Ignored(f"unhandled event {str(kind)[:64]}")
            conversation = sunco.conversation_id(required(item, "payload", "conversation", "id"))
            found.append(handler(item, conversation, inst))
        except Ignored as e:
            skipped.append(f"event {index}: {e}")
        except NotOurs as e:
            unreadable += 1
            skipped.append(f"event {index}: {e}")
    if len(items) > MAX_BATCH:
        skipped.append(f"{len(items) - MAX_BATCH} events past the first {MAX_BATCH}")
    if unreadable == min(len(items), MAX_BATCH):
        raise NotOurs("no event of the batch is readable")
    return Batch(tuple(found), tuple(skipped))


def parse(body: bytes, inst: Installation) -> Event | Batch:
    data = json_object(body)
    if "events" in data and "type" not in data:
        return _sunco_batch(data, inst)
    kind = data.get("type")
    if isinstance(kind, str) and kind.startswith("zen:event-type:"):
        handler = EVENT_TO_FUNCTION.get(kind) or LIFECYCLE_EVENTS.get(kind)
        if handler is None:
            raise Ignored(f"unhandled event {kind}")
        return handler(data, inst)
    if data.get("baton_event") == "ticket_updated":
        return _trigger(data, inst)
    raise NotOurs("not a Zendesk event")
