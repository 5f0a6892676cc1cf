"""Freshdesk Messaging (Freshchat) webhooks: an RSA signature over the raw body, then one of four
actions.

Freshchat signs every delivery: ``X-Freshchat-Signature`` is the base64 of an RSA-SHA256
(PKCS#1 v1.5) signature over the raw body, made with the account's private key; the public key is
shown next to the webhook URL in Freshchat's webhook settings
(https://crmsupport.freshworks.com/support/solutions/articles/50000004461; the check as
nyaruka/courier's ``handlers/freshchat/handler.go`` makes it). The admin pastes that key at
install; Baton keeps it as the installation's webhook secret. No key, no header, a header that is
not base64 or a signature that does not verify: 401, fail closed.

There is no timestamp in the signed bytes, so a captured delivery can be replayed; Baton's
deduplication on the message id (or the event's time) makes a replay a duplicate.
"""
from __future__ import annotations

import base64
import binascii
import functools
import re
from datetime import datetime
from typing import Any, Callable, Mapping

from cryptography.exceptions import InvalidSignature as BadSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from connectors.base import is_baton, iso_time, json_object, required, required_object
from integration.core.contract import Ignored, InvalidSignature, NotOurs
from integration.core.model import Event, Installation

SIGNATURE_HEADER = "X-Freshchat-Signature"
MIN_KEY_BITS = 1024  # the size of Freshchat's key is not published [U]; smaller keys are refused
_MAX_SIGNATURE = 2048  # characters of base64: an 8192-bit signature; anything longer is not one
# Conversation ids as Freshchat's payloads show them: a UUID ("35e80ec8-c697-42e4-8ce9-a47a050b1d1a") or
# 32 hex digits ("ac2175df14d36caf64e9a578fad89070"). The 2018 form "<app>_<user>_feedback" is longer
# than any id Baton stores (64) and no longer appears in Freshworks' examples: refused.
_CONVERSATION = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]{0,99}")  # message ids, actor ids, times in event keys


@functools.lru_cache(maxsize=256)
def public_key(text: str) -> rsa.RSAPublicKey | None:
    """The RSA public key an admin pasted: PEM (``-----BEGIN PUBLIC KEY-----`` or ``RSA PUBLIC
    KEY``), the same with its line breaks lost in copying (courier puts them back for the same
    reason), or the bare base64 between the markers. None when it is none of these, or too small."""
    if not isinstance(text, str) or not text.strip() or len(text) > 20_000:
        return None
    body = re.sub(r"-----(BEGIN|END) (RSA )?PUBLIC KEY-----|\s", "", text)
    try:
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None
    for load in (serialization.load_der_public_key, _pkcs1):
        try:
            key = load(der)
        except (ValueError, TypeError):
            continue
        if isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_KEY_BITS:
            return key
    return None


def _pkcs1(der: bytes) -> Any:
    """An ``RSA PUBLIC KEY`` (PKCS#1) body, which the DER loader does not take as such."""
    pem = b"-----BEGIN RSA PUBLIC KEY-----\n" + base64.encodebytes(der) + b"-----END RSA PUBLIC KEY-----\n"
    return serialization.load_pem_public_key(pem)


def pem(text: str) -> str | None:
    """The key an admin pasted, as Baton stores it: a standard PEM, or None when it is no key."""
    key = public_key(text)
    if key is None:
        return None
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def verify(headers: Mapping[str, str], body: bytes, installation: Installation, now: datetime) -> None:
    key = public_key(installation.webhook_secret)
    if key is None:  # never accept a delivery because the key is missing or unreadable
        raise InvalidSignature("installation has no usable RSA public key")
    sent = headers.get(SIGNATURE_HEADER)
    if not sent or len(sent) > _MAX_SIGNATURE:
        raise InvalidSignature("missing signature header")
    try:
        signature = base64.b64decode(sent.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSignature("signature is not base64") from None
    try:
        key.verify(signature, body, padding.PKCS1v15(), hashes.SHA256())
    except BadSignature:
        raise InvalidSignature("wrong signature") from None


def conversation_id(value: Any) -> str:
    """A conversation id in its canonical form (lower-case); anything else is not Freshchat's."""
    if not isinstance(value, str) or not _CONVERSATION.fullmatch(value.strip().lower()):
        raise NotOurs("conversation_id is not a Freshchat conversation id")
    return value.strip().lower()


def _token(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise NotOurs(f"{what} is not an id")
    return value


def _actor(data: Mapping[str, Any], *fallback: Any) -> str | None:
    actor = data.get("actor")
    found = actor.get("actor_id") if isinstance(actor, Mapping) else None
    for value in (found, *fallback):
        if isinstance(value, str) and value:
            return value[:100]
    return None


def _stamp(data: Mapping[str, Any]) -> str:
    """``action_time``, which keys the lifecycle events (Freshchat sends no event id)."""
    stamp = _token(required(data, "action_time"), "action_time")
    if iso_time(stamp) is None:
        raise NotOurs("action_time is not a time")
    return stamp


def _message_create(data: Mapping[str, Any], inst: Installation) -> Event:
    msg = required_object(data, "data", "message")
    cid = conversation_id(required(msg, "conversation_id"))
    message = _token(required(msg, "id"), "message id")
    actor = _actor(data, msg.get("actor_id"))
    if msg.get("message_type") == "private":  # ours (the handoff note) or an agent's: nothing to decide on
        raise Ignored("private note")
    if is_baton(actor, inst.settings) or is_baton(msg.get("actor_id"), inst.settings):
        raise Ignored("our own write")
    return Event("freshchat", inst.id, f"message_create:{message}", "comment_added", cid, actor,
                 iso_time(msg.get("created_time")) or iso_time(data.get("action_time")))


def _lifecycle(part: str, who: str, kind: str) -> Callable[[Mapping[str, Any], Installation], Event]:
    """``data.<part>.conversation`` of an assignment, resolution or reopen, keyed on the action and
    its time."""
    def parse(data: Mapping[str, Any], inst: Installation) -> Event:
        inner = required_object(data, "data", part)
        cid = conversation_id(required(inner, "conversation", "conversation_id"))
        actor = _actor(data, inner.get(who))
        if part == "assignment":
            if is_baton(inner.get(who), inst.settings) or is_baton(actor, inst.settings):
                raise Ignored("our own write")
            if not inner.get("to_agent_id"):  # to a group only: nobody has it yet
                raise Ignored("assigned to a group, not a person")
        stamp = _stamp(data)
        return Event("freshchat", inst.id, f"{data['action']}:{cid}:{stamp}", kind, cid, actor, iso_time(stamp))
    return parse


EVENT_TO_FUNCTION: dict[str, Callable[[Mapping[str, Any], Installation], Event]] = {
    "message_create": _message_create,
    "conversation_assignment": _lifecycle("assignment", "assignor_id", "conversation_assigned"),
    "conversation_resolution": _lifecycle("resolve", "resolver_id", "conversation_closed"),
    # decided afresh, as a new message on a resolved conversation is (the pipeline's rule for reopens)
    "conversation_reopen": _lifecycle("reopen", "reopener_id", "conversation_reopened"),
}
SUPPORTED_EVENTS = list(EVENT_TO_FUNCTION)


def parse(body: bytes, inst: Installation) -> Event:
    data = json_object(body)
    action = data.get("action")
    if not isinstance(action, str) or not isinstance(data.get("data"), Mapping):
        raise NotOurs("not a Freshchat event")
    if action in EVENT_TO_FUNCTION:
        return EVENT_TO_FUNCTION[action](data, inst)
    # a signed envelope with an action Freshworks added later: 200, so Freshchat keeps the webhook on
    raise Ignored(f"unhandled action {action[:40]}")
