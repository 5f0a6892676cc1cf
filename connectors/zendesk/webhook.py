"""Zendesk webhooks: verify the signature on the raw bytes, then parse into an Event.

Two payload shapes reach us (https://developer.zendesk.com/documentation/webhooks/):
- event subscriptions: ``{"type": "zen:event-type:ticket.comment_added", "id": …, "detail": …, "event": …}``;
- a trigger-connected webhook posting the body template in README.md (``"baton_event": …``).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from connectors.base import Ignored, InvalidSignature, NotOurs, constant_time_equal, json_object, required
from integration.model import Event, Installation

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


def _parse_timestamp(value: str) -> datetime | None:
    """Zendesk sends ISO-8601 ("2024-04-17T17:18:10Z"); some older hooks sent epoch seconds."""
    try:
        if value.isdigit():
            return datetime.fromtimestamp(int(value), timezone.utc)
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError):
        return None




def _time(value: Any) -> datetime | None:
    return _parse_timestamp(value) if isinstance(value, str) else None


def _comment_added(data: Mapping[str, Any], inst: Installation) -> Event:
    comment = required(data, "event", "comment")
    author = str(required(comment, "author", "id"))
    if author == str(inst.settings.get("api_user_id")):
        raise Ignored("our own write")
    if not comment.get("is_public", True):
        raise Ignored("private note")  # notes between agents do not change what the customer said
    return Event("zendesk", inst.id, str(required(data, "id")), "comment_added",
                 str(required(data, "detail", "id")), author, _time(data.get("time")))


def _created(data: Mapping[str, Any], inst: Installation) -> Event:
    detail = required(data, "detail")
    actor = detail.get("actor_id") or detail.get("requester_id")
    return Event("zendesk", inst.id, str(required(data, "id")), "ticket_created",
                 str(required(detail, "id")), str(actor) if actor else None, _time(data.get("time")))


EVENT_TO_FUNCTION: dict[str, Callable[[Mapping[str, Any], Installation], Event]] = {
    "zen:event-type:ticket.comment_added": _comment_added,
    "zen:event-type:ticket.created": _created,
}
SUPPORTED_EVENTS = list(EVENT_TO_FUNCTION)


def _trigger(data: Mapping[str, Any], inst: Installation) -> Event:
    """The body template of README.md. Zendesk renders every placeholder as a string."""
    ticket = str(required(data, "ticket_id"))
    updated = str(required(data, "updated_at"))
    actor = data.get("actor_id") or None
    if actor and str(actor) == str(inst.settings.get("api_user_id")):
        raise Ignored("our own write")
    if not ticket.isdigit():
        raise NotOurs("ticket_id is not a ticket number (placeholder not rendered?)")
    return Event("zendesk", inst.id, f"trigger:{ticket}:{updated}", "ticket_updated", ticket,
                 str(actor) if actor else None, _time(updated))


def parse(body: bytes, inst: Installation) -> Event:
    data = json_object(body)
    kind = data.get("type")
    if isinstance(kind, str) and kind.startswith("zen:event-type:"):
        handler = EVENT_TO_FUNCTION.get(kind)
        if handler is None:
            raise Ignored(f"unhandled event {kind}")
        return handler(data, inst)
    if data.get("baton_event") == "ticket_updated":
        return _trigger(data, inst)
    raise NotOurs("not a Zendesk event")
