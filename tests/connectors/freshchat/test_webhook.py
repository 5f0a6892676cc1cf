"""Freshchat webhooks: the RSA signature over the raw body (both ways, fail closed), then every
published payload parsed to its full Event."""
import base64
import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.freshchat import webhook
from connectors.freshchat.sandbox import key_pair, public_pem, sign
from integration.core.contract import Ignored, InvalidSignature, NotOurs
from integration.core.model import Event, Installation

FIXTURES = Path(__file__).parents[3] / "connectors" / "freshchat" / "fixtures"
KEY = key_pair("tests-freshchat")
OTHER = key_pair("tests-freshchat-other")
BATON_AGENT = "fba1873d-67d6-4d63-be97-53b29ae1e42a"
INST = Installation("inst1", "freshchat", "https://acme.freshchat.com", {}, public_pem(KEY),
                    settings={"api_user_id": "0e3c5ba7-9d43-4f6b-8f8c-6a3c7e1f0b11"})
NOW = datetime(2026, 11, 20, 14, 25, 30, tzinfo=timezone.utc)


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


EXPECTED = {
    "message_create": Event("freshchat", "inst1", "message_create:a834cd45-c463-4644-b254-be920924a998",
                            "comment_added", "35e80ec8-c697-42e4-8ce9-a47a050b1d1a",
                            "1b8d2418-89a3-4de6-b93c-9f6557f13d04", at("2022-11-22T10:55:23.126Z")),
    "message_create_user": Event("freshchat", "inst1", "message_create:7c6e8673-def2-4894-aef9-3daadda61542",
                                 "comment_added", "7e673110-64fc-461f-bcec-cc8e9a47a568",
                                 "d108c12a-7e7d-474c-94d2-be08551c8400", at("2025-07-10T19:47:55.442Z")),
    "conversation_assignment": Event("freshchat", "inst1",
                                     "conversation_assignment:35e80ec8-c697-42e4-8ce9-a47a050b1d1a:2022-11-22T10:54:12.015Z",
                                     "conversation_assigned", "35e80ec8-c697-42e4-8ce9-a47a050b1d1a",
                                     "fc2d90bc-688b-46bc-a5f0-bcd60b7c2370", at("2022-11-22T10:54:12.015Z")),
    "conversation_resolution": Event("freshchat", "inst1",
                                     "conversation_resolution:edc29cf1-a0fc-4d75-b821-d4eea33c0512:2022-04-01T06:16:34.207Z",
                                     "conversation_closed", "edc29cf1-a0fc-4d75-b821-d4eea33c0512",
                                     "8996ad5d-4b84-4e95-a60d-3f290423db3e", at("2022-04-01T06:16:34.207Z")),
    "conversation_reopen": Event("freshchat", "inst1",
                                 "conversation_reopen:35e80ec8-c697-42e4-8ce9-a47a050b1d1a:2022-11-22T10:55:22.272Z",
                                 "conversation_reopened", "35e80ec8-c697-42e4-8ce9-a47a050b1d1a",
                                 "9047e655-1e83-463e-b1b6-4a44beb1f07f", at("2022-11-22T10:55:22.272Z")),
}
IGNORED = {"message_create_private": "private note"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_to_the_full_event(name):
    assert webhook.parse(fixture(name), INST) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(IGNORED))
def test_private_notes_are_ignored(name):
    with pytest.raises(Ignored, match=IGNORED[name]):
        webhook.parse(fixture(name), INST)


def test_every_fixture_is_tested_and_every_supported_action_has_one():
    files = {p.stem for p in FIXTURES.glob("*.json")}
    assert files == set(EXPECTED) | set(IGNORED)
    assert set(webhook.SUPPORTED_EVENTS) == {json.loads(fixture(n))["action"] for n in files}


def test_our_own_messages_and_assignments_come_back_as_echoes():
    ours = replace(INST, settings={"api_user_id": "1b8d2418-89a3-4de6-b93c-9f6557f13d04"})
    with pytest.raises(Ignored, match="our own write"):
        webhook.parse(fixture("message_create"), ours)
    data = json.loads(fixture("conversation_assignment"))
    data["data"]["assignment"]["assignor_id"] = data["actor"]["actor_id"] = "1b8d2418-89a3-4de6-b93c-9f6557f13d04"
    with pytest.raises(Ignored, match="our own write"):
        webhook.parse(json.dumps(data).encode(), ours)


def test_an_assignment_to_a_group_only_is_not_a_person_taking_it():
    data = json.loads(fixture("conversation_assignment"))
    data["data"]["assignment"]["to_agent_id"] = ""
    with pytest.raises(Ignored, match="group"):
        webhook.parse(json.dumps(data).encode(), INST)


def test_conversation_ids_are_canonical_lower_case():
    data = json.loads(fixture("message_create"))
    data["data"]["message"]["conversation_id"] = "35E80EC8-C697-42E4-8CE9-A47A050B1D1A"
    assert webhook.parse(json.dumps(data).encode(), INST).ticket_id == "35e80ec8-c697-42e4-8ce9-a47a050b1d1a"


def test_an_action_freshworks_adds_later_is_answered_200():
    data = {**json.loads(fixture("conversation_reopen")), "action": "conversation_csat"}
    with pytest.raises(Ignored, match="unhandled action"):
        webhook.parse(json.dumps(data).encode(), INST)


@pytest.mark.parametrize("body, why", [
    (b"nope", "not JSON"), (b"[]", "not a JSON object"), (b'{"action": "message_create"}', "not a Freshchat event"),
    (b'{"action": "message_create", "data": {}}', "missing data.message"),
    (json.dumps({"action": "message_create", "data": {"message": {"id": "m1", "conversation_id": "1/../../agents"}}}).encode(),
     "not a Freshchat conversation id"),
    (json.dumps({"action": "message_create", "data": {"message": {
        "id": "m1", "conversation_id": "11de8840-6ce8-48ac-a418-7c2ae81a1b57_dbec0910-b4d6-4d81-8015-81f560a918de_feedback"}}}).encode(),
     "not a Freshchat conversation id"),
    (json.dumps({"action": "message_create", "data": {"message": {
        "id": "x" * 300, "conversation_id": "35e80ec8-c697-42e4-8ce9-a47a050b1d1a"}}}).encode(), "message id is not an id"),
    (json.dumps({**json.loads(fixture("conversation_reopen")), "action_time": "yesterday"}).encode(), "action_time"),
])
def test_payloads_that_are_not_freshchats_are_refused(body, why):
    with pytest.raises(NotOurs, match=why):
        webhook.parse(body, INST)


# -- the signature ---------------------------------------------------------------------------------

BODY = fixture("message_create_user")


def test_a_body_signed_with_the_accounts_key_verifies():
    webhook.verify({webhook.SIGNATURE_HEADER: sign(KEY, BODY)}, BODY, INST, NOW)


@pytest.mark.parametrize("headers", [
    {},  # no header
    {webhook.SIGNATURE_HEADER: ""},
    {webhook.SIGNATURE_HEADER: sign(OTHER, BODY)},  # another account's key
    {webhook.SIGNATURE_HEADER: sign(KEY, BODY + b" ")},  # signed over other bytes
    {webhook.SIGNATURE_HEADER: "not base64 !"},
    {webhook.SIGNATURE_HEADER: base64.b64encode(b"\0" * 256).decode()},
    {webhook.SIGNATURE_HEADER: "A" * 5000},
    {"X-Other-Signature": sign(KEY, BODY)},
], ids=["missing", "empty", "other-key", "other-bytes", "not-base64", "zeros", "huge", "other-header"])
def test_anything_but_the_accounts_signature_over_these_bytes_is_refused(headers):
    with pytest.raises(InvalidSignature):
        webhook.verify(headers, BODY, INST, NOW)


def test_a_reserialised_body_does_not_verify():
    again = json.dumps(json.loads(BODY)).encode()
    assert again != BODY
    with pytest.raises(InvalidSignature):
        webhook.verify({webhook.SIGNATURE_HEADER: sign(KEY, BODY)}, again, INST, NOW)


@pytest.mark.parametrize("stored", ["", "s" * 48, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"],
                         ids=["none", "not-a-key", "broken-pem"])
def test_without_a_readable_key_nothing_verifies(stored):
    """Fail closed: a missing or unreadable key never lets a delivery in, however it is signed."""
    with pytest.raises(InvalidSignature, match="no usable RSA public key"):
        webhook.verify({webhook.SIGNATURE_HEADER: sign(KEY, BODY)}, BODY, replace(INST, webhook_secret=stored), NOW)


def test_a_key_under_1024_bits_is_refused():
    small = rsa.RSAPublicNumbers(65537, (1 << 511) | 0x1F).public_key()  # a 512-bit modulus
    stored = small.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert webhook.public_key(stored) is None
    with pytest.raises(InvalidSignature, match="no usable RSA public key"):
        webhook.verify({webhook.SIGNATURE_HEADER: sign(KEY, BODY)}, BODY, replace(INST, webhook_secret=stored), NOW)


def test_the_key_is_read_as_admins_paste_it():
    """PEM, PEM whose line breaks were lost in copying, the bare base64, or PKCS#1 ``RSA PUBLIC KEY``."""
    pem = public_pem(KEY)
    body = "".join(pem.splitlines()[1:-1])
    pkcs1 = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode()
    for pasted in (pem, pem.replace("\n", " "), body, f"  {body}\n", pkcs1):
        webhook.verify({webhook.SIGNATURE_HEADER: sign(KEY, BODY)}, BODY, replace(INST, webhook_secret=pasted), NOW)
        assert webhook.pem(pasted) == pem
