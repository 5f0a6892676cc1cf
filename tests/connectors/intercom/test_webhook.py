import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from integration.core.contract import Ignored, InvalidSignature, NotOurs
from connectors.intercom import webhook
from integration.core.model import Event, Installation

FIXTURES = Path(__file__).parents[3] / "connectors" / "intercom" / "fixtures"
INST = Installation("inst1", "intercom", "https://api.intercom.io", {}, "client-secret",
                    settings={"api_user_id": "814000", "app_id": "sbx12345"})
NOW = datetime(2026, 11, 20, tzinfo=timezone.utc)


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


CUSTOMER, AGENT = "5d7b5d8f6c3ba2c1a4e0b7a1", "991267"
EXPECTED = {
    "conversation_user_created": Event("intercom", "inst1", "notif_1f0e6c3a-0b1c-4a55-9d7e-0c7f5e1a2b01",
                                       "conversation_created", "147", CUSTOMER, at(1763648412)),
    # a reply is deduplicated by its conversation part, not by the notification
    "conversation_user_replied": Event("intercom", "inst1", "part:147:2002",
                                       "comment_added", "147", CUSTOMER, at(1763648731)),
    "conversation_admin_replied": Event("intercom", "inst1", "part:147:2003",
                                        "comment_added", "147", AGENT, at(1763648801)),
    "conversation_operator_replied": Event("intercom", "inst1", "part:147:2004",
                                           "comment_added", "147", "814860", at(1763648900)),
    # Fin's reply of the operator fixture as Intercom also sends it on admin.replied: the same event key
    "conversation_admin_replied_bot": Event("intercom", "inst1", "part:147:2004",
                                            "comment_added", "147", "814860", at(1763648800)),
    # the API 1.x shape older workspaces send: conversation_message and user instead of source and contacts
    "conversation_user_replied_v1": Event("intercom", "inst1", "part:148:2101",
                                          "comment_added", "148", CUSTOMER, at(1763648735)),
    "conversation_admin_assigned": Event("intercom", "inst1", "notif_4c3d9f6e-3e4f-4d88-a0a1-3fac8b4d5e04",
                                         "conversation_assigned", "147", AGENT, at(1763648791)),
    "conversation_admin_closed": Event("intercom", "inst1", "notif_6e5f1b80-5061-4faa-82c3-51ce0d6f7a06",
                                       "conversation_closed", "147", AGENT, at(1763652012)),
    "conversation_rating_added": Event("intercom", "inst1", "notif_7f602c91-6172-40bb-93d4-62df1e708b07",
                                       "rating_added", "147", CUSTOMER, at(1763655612)),
}
IGNORED = {"conversation_admin_noted": "private note", "ping": "ping",
           "conversation_admin_snoozed": "unhandled topic conversation.admin.snoozed"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_to_the_full_event(name):
    assert webhook.parse(fixture(name), INST) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(IGNORED))
def test_pings_notes_and_unhandled_topics_are_acknowledged_and_ignored(name):
    with pytest.raises(Ignored, match=IGNORED[name]):
        webhook.parse(fixture(name), INST)


def test_every_fixture_is_tested_and_every_supported_topic_has_one():
    files = {p.stem for p in FIXTURES.glob("*.json")}
    assert files == set(EXPECTED) | set(IGNORED)
    topics = {json.loads(fixture(n))["topic"] for n in files}
    assert set(webhook.SUPPORTED_TOPICS) <= topics


def test_a_bot_reply_on_both_topics_is_one_event_and_another_reply_is_another():
    """Intercom sends a bot's reply on operator.replied and admin.replied: the store keeps the first
    and answers the second as a duplicate. A redelivered notification is the same part too; the
    next reply of the conversation is a new part and a new event."""
    keys = {webhook.parse(fixture(n), INST).key for n in ("conversation_operator_replied", "conversation_admin_replied_bot")}
    assert keys == {"part:147:2004"}
    data = json.loads(fixture("conversation_admin_replied_bot"))
    data["id"] = "notif_another"
    data["data"]["item"]["conversation_parts"]["conversation_parts"][-1]["id"] = "2005"
    assert webhook.parse(json.dumps(data).encode(), INST).key == "part:147:2005"


@pytest.mark.parametrize("part_id", [None, "", True, {"id": 1}, "9" * 65])
def test_a_reply_without_a_usable_part_id_is_keyed_by_its_notification(part_id):
    data = json.loads(fixture("conversation_admin_replied_bot"))
    data["data"]["item"]["conversation_parts"]["conversation_parts"][-1]["id"] = part_id
    assert webhook.parse(json.dumps(data).encode(), INST).key == "notif_d80ecabc-851b-4bb8-a8c0-4a1952bd04da"


def test_our_own_note_and_assignment_are_echoes():
    for name in ("conversation_admin_noted", "conversation_admin_assigned", "conversation_admin_replied"):
        data = json.loads(fixture(name))
        data["data"]["item"]["conversation_parts"]["conversation_parts"][-1]["author"]["id"] = "814000"
        with pytest.raises(Ignored, match="our own write"):
            webhook.parse(json.dumps(data).encode(), INST)


@pytest.mark.parametrize("body, why", [
    (b"{", "not JSON"), (b'{"type": "event"}', "not an Intercom notification"),
    (b'{"type": "notification_event"}', "without a topic"),
    (b'{"type": "notification_event", "topic": "conversation.user.replied", "id": "n", "data": {}}', "missing data.item"),
])
def test_payloads_that_are_not_intercoms_are_refused(body, why):
    with pytest.raises(NotOurs, match=why):
        webhook.parse(body, INST)


def test_signature_is_hmac_sha1_of_the_raw_body_and_names_this_workspace():
    body = fixture("conversation_user_replied")
    webhook.verify({webhook.SIGNATURE: webhook.sign("client-secret", body)}, body, INST, NOW)
    bad = [
        ({}, body),
        ({webhook.SIGNATURE: webhook.sign("other-app", body)}, body),
        ({webhook.SIGNATURE: webhook.sign("client-secret", body)}, body + b"\n"),
        ({webhook.SIGNATURE: webhook.sign("client-secret", body).replace("sha1=", "")}, body),
    ]
    for headers, raw in bad:
        with pytest.raises(InvalidSignature):
            webhook.verify(headers, raw, INST, NOW)


def test_a_valid_signature_for_another_workspace_is_refused():
    other = json.loads(fixture("conversation_user_replied"))
    other["app_id"] = "other99"
    body = json.dumps(other).encode()
    with pytest.raises(InvalidSignature, match="another workspace"):
        webhook.verify({webhook.SIGNATURE: webhook.sign("client-secret", body)}, body, INST, NOW)
    with pytest.raises(InvalidSignature):
        webhook.verify({webhook.SIGNATURE: webhook.sign("client-secret", body)}, body,
                       replace(INST, settings={}), NOW)
