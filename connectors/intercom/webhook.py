"""Intercom webhook notifications: verify ``X-Hub-Signature`` on the raw bytes, then parse.

The signature is ``sha1=<hex HMAC-SHA1(client_secret, raw body)>``
(https://developers.intercom.com/docs/webhooks/webhook-notifications). The client secret belongs
to the *app*, shared by every workspace that installed it, so a valid signature alone does not
say which tenant a notification is for: ``app_id`` must also be this installation's workspace.
No timestamp is signed; replays are stopped by deduplicating on the notification ``id``.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any, Callable, Mapping

from connectors.base import constant_time_equal, epoch_time, is_baton, json_object, required, required_object, ticket_number
from integration.core.contract import Ignored, InvalidSignature, NotOurs
from integration.core.model import Event, Installation

SIGNATURE = "X-Hub-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def verify(headers: Mapping[str, str], body: bytes, installation: Installation, now: datetime) -> None:
    sent = headers.get(SIGNATURE)
    if not installation.webhook_secret or not sent:
        raise InvalidSignature("missing signature or secret")
    if not constant_time_equal(sign(installation.webhook_secret, body), sent):
        raise InvalidSignature("signature mismatch")
    workspace = installation.settings.get("app_id")
    try:
        app_id = json_object(body).get("app_id")
    except NotOurs:  # not JSON, not an object, nested too deep: parse says which
        app_id = None
    if not workspace or app_id != workspace:
        raise InvalidSignature("notification for another workspace")




def _last_author(item: Mapping[str, Any]) -> Mapping[str, Any]:
    """Who wrote the newest part; with no part yet, who opened the conversation (``source`` in API
    2.x, ``conversation_message`` in the 1.x shape older workspaces still send)."""
    parts = _object(item.get("conversation_parts")).get("conversation_parts")
    opening = item.get("source") or item.get("conversation_message")
    last = parts[-1] if isinstance(parts, list) and parts else _object(opening)
    return _object(_object(last).get("author"))


def _key(data: Mapping[str, Any], item: Mapping[str, Any], by_part: bool) -> str:
    """What deduplicates the notification. A reply is keyed by its conversation part: Intercom sends
    a bot's (Fin's) reply on both ``conversation.operator.replied`` and ``conversation.admin.replied``,
    two notifications with two ids for one message (community.intercom.com, "[Webhooks] Bot's
    replies in conversation.admin.replied topic", 2026), so the second is a duplicate, not news.
    Anything else, and a reply without a part id, is keyed by the notification id."""
    parts = _object(item.get("conversation_parts")).get("conversation_parts")
    newest = _object(parts[-1]) if by_part and isinstance(parts, list) and parts else {}
    part = newest.get("id") if newest.get("part_type") == "comment" else None
    if isinstance(part, (str, int)) and not isinstance(part, bool) and 0 < len(str(part)) <= 64:
        return f"part:{ticket_number(required(item, 'id'), 'conversation id')}:{part}"
    return str(required(data, "id"))


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _event(kind: str, own_is_echo: bool = True, ignore: str | None = None,  # type: ignore[no-untyped-def]
           by_part: bool = False):
    """One small function per topic: what kind of event it is, and when it is ours or a note;
    ``by_part``: deduplicated by the reply's conversation part (see ``_key``)."""

    def parse(data: Mapping[str, Any], inst: Installation) -> Event:
        item = required_object(data, "data", "item")
        author = _last_author(item)
        ours = author.get("type") == "admin" and is_baton(author.get("id"), inst.settings)
        if own_is_echo and ours:
            raise Ignored("our own write")
        if ignore:
            raise Ignored(ignore)
        return Event("intercom", inst.id, _key(data, item, by_part), kind, ticket_number(required(item, "id"), "conversation id"),
                     str(author.get("id")) if author.get("id") else None, epoch_time(data.get("created_at")))

    return parse


TOPIC_TO_FUNCTION: dict[str, Callable[[Mapping[str, Any], Installation], Event]] = {
    "conversation.user.created": _event("conversation_created"),
    "conversation.user.replied": _event("comment_added", by_part=True),
    # a teammate's reply, or a bot's: Intercom sends a bot's reply here too (author.type "bot"); who
    # wrote it is read from the conversation (the client's roles), never from the topic
    "conversation.admin.replied": _event("comment_added", by_part=True),
    # Fin or another bot answered ("Fin/Bot replies to a conversation", Intercom's 2025 changelog);
    # the same reply also comes on admin.replied: one conversation part, one event
    "conversation.operator.replied": _event("comment_added", by_part=True),
    "conversation.admin.assigned": _event("conversation_assigned"),
    "conversation.admin.noted": _event("note_added", ignore="private note"),
    "conversation.admin.closed": _event("conversation_closed"),
    "conversation.rating.added": _event("rating_added", own_is_echo=False),
}
SUPPORTED_TOPICS = list(TOPIC_TO_FUNCTION)


def parse(body: bytes, inst: Installation) -> Event:
    data = json_object(body)
    if data.get("type") != "notification_event":
        raise NotOurs("not an Intercom notification")
    topic = data.get("topic")
    if not isinstance(topic, str):
        raise NotOurs("notification without a topic")
    if topic == "ping":
        raise Ignored("ping")
    if topic in TOPIC_TO_FUNCTION:
        return TOPIC_TO_FUNCTION[topic](data, inst)
    if isinstance(topic, str) and "." in topic:
        raise Ignored(f"unhandled topic {topic}")
    raise NotOurs("notification without a topic")
