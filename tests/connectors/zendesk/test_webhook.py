import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from integration.core.contract import Ignored, InvalidSignature, NotOurs
from connectors.zendesk import webhook
from integration.core.model import Event, Installation

FIXTURES = Path(__file__).parents[3] / "connectors" / "zendesk" / "fixtures"
NOW = datetime(2026, 11, 20, 14, 25, 30, tzinfo=timezone.utc)
INST = Installation("inst1", "zendesk", "https://acme.zendesk.com", {}, "s3cret",
                    settings={"api_user_id": "8447388090001"})


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def signed(body: bytes, secret: str = "s3cret", at: datetime = NOW) -> dict[str, str]:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {webhook.SIGNATURE: webhook.sign(secret, stamp, body), webhook.TIMESTAMP: stamp}


# every supported payload, parsed in full
EXPECTED = {
    "ticket_comment_added": Event("zendesk", "inst1", "d4f5c389-1a2b-4c3d-9e8f-0a1b2c3d4e5f", "comment_added", "5158",
                                  "8447388090495", datetime(2026, 11, 20, 14, 25, 30, 123456, tzinfo=timezone.utc)),
    "ticket_created": Event("zendesk", "inst1", "0f3c1e7a-5b7d-4a8e-9c21-7f0e6d5c4b3a", "ticket_created", "5159",
                            "8447388090495", datetime(2026, 11, 20, 14, 20, 11, tzinfo=timezone.utc)),
    # a messaging conversation: Zendesk's own bot answered (a real delivery, see fixtures/README.md)
    "messaging_ticket_message_added": Event("zendesk", "inst1", "01JQMQH83YNAKWSWJ8B1QH2NSC", "comment_added", "141",
                                            "zd:answerBot", datetime(2025, 2, 11, 14, 32, 5, 254571, tzinfo=timezone.utc)),
    "ticket_status_changed": Event("zendesk", "inst1", "0c5a9b7e-9f8e-4c11-a0b2-5d7f3e6c1b24", "conversation_closed",
                                   "5158", "8447388090494", datetime(2026, 11, 20, 15, 2, tzinfo=timezone.utc)),
    "ticket_agent_assignment_changed": Event("zendesk", "inst1", "3f1e2d4c-6b5a-4978-8c9d-0e1f2a3b4c5d",
                                             "conversation_assigned", "5158", "8447388090494",
                                             datetime(2026, 11, 20, 14, 31, tzinfo=timezone.utc)),
    "trigger_ticket_updated": Event("zendesk", "inst1", "trigger:5158:2026-11-20T14:25:30Z", "ticket_updated", "5158",
                                    "8447388090495", datetime(2026, 11, 20, 14, 25, 30, tzinfo=timezone.utc)),
}
IGNORED = {"ticket_priority_changed": "unhandled event zen:event-type:ticket.priority_changed"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_to_the_full_event(name):
    assert webhook.parse(fixture(name), INST) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(IGNORED))
def test_known_unhandled_events_are_ignored(name):
    with pytest.raises(Ignored) as e:
        webhook.parse(fixture(name), INST)
    assert str(e.value) == IGNORED[name]


def test_every_fixture_is_tested_and_every_supported_event_has_one():
    files = {p.stem for p in FIXTURES.glob("*.json")}
    assert files == set(EXPECTED) | set(IGNORED)
    types = {json.loads(fixture(n)).get("type") for n in files}
    assert set(webhook.SUPPORTED_EVENTS) <= types


def test_our_own_comment_is_dropped_at_the_edge():
    data = json.loads(fixture("ticket_comment_added"))
    data["event"]["comment"]["author"]["id"] = "8447388090001"  # the installation's API user
    with pytest.raises(Ignored, match="our own write"):
        webhook.parse(json.dumps(data).encode(), INST)
    trig = json.loads(fixture("trigger_ticket_updated"))
    trig["actor_id"] = "8447388090001"
    with pytest.raises(Ignored, match="our own write"):
        webhook.parse(json.dumps(trig).encode(), INST)


def test_private_notes_are_ignored():
    data = json.loads(fixture("ticket_comment_added"))
    data["event"]["comment"]["is_public"] = False
    with pytest.raises(Ignored, match="private note"):
        webhook.parse(json.dumps(data).encode(), INST)


@pytest.mark.parametrize("body, why", [
    (b"not json", "body is not JSON"),
    (b"[1, 2]", "body is not a JSON object"),
    (b'{"hello": "world"}', "not a Zendesk event"),
    (b'{"type": "zen:event-type:ticket.comment_added", "id": "x", "detail": {"id": "1"}}', "missing event.comment"),
    (b'{"baton_event": "ticket_updated", "ticket_id": "{{ticket.id}}", "updated_at": "x"}', "placeholder not rendered"),
    (b'\xff\xfe', "body is not JSON"),
])
def test_payloads_that_are_not_zendesks_are_refused(body, why):
    with pytest.raises(NotOurs, match=why.replace("(", r"\(")):
        webhook.parse(body, INST)


def test_signature_over_timestamp_and_raw_body_verifies():
    body = fixture("ticket_comment_added")
    webhook.verify(signed(body), body, INST, NOW)  # no exception


@pytest.mark.parametrize("mutate", [
    lambda h, b: ({}, b),
    lambda h, b: ({webhook.TIMESTAMP: h[webhook.TIMESTAMP]}, b),
    lambda h, b: (h, b + b" "),  # a re-serialised body is not the signed body
    lambda h, b: ({**h, webhook.SIGNATURE: h[webhook.SIGNATURE][:-4] + "AAA="}, b),
    lambda h, b: ({**h, webhook.TIMESTAMP: "2026-11-20T14:25:31Z"}, b),
    lambda h, b: ({**h, webhook.TIMESTAMP: "yesterday"}, b),
])
def test_any_change_fails_closed(mutate):
    body = fixture("ticket_comment_added")
    headers, body2 = mutate(signed(body), body)
    with pytest.raises(InvalidSignature):
        webhook.verify(headers, body2, INST, NOW)


def test_another_installations_secret_does_not_verify():
    body = fixture("ticket_comment_added")
    with pytest.raises(InvalidSignature):
        webhook.verify(signed(body, secret="other-tenant"), body, INST, NOW)


def test_no_secret_never_accepts():
    body = fixture("ticket_comment_added")
    with pytest.raises(InvalidSignature):
        webhook.verify(signed(body, secret=""), body, replace(INST, webhook_secret=""), NOW)


@pytest.mark.parametrize("skew, ok", [(299, True), (300, True), (301, False), (-299, True), (-300, True), (-301, False)])
def test_timestamp_window_is_300_seconds_either_way(skew, ok):
    body = fixture("ticket_created")
    headers = signed(body, at=NOW + timedelta(seconds=skew))
    if ok:
        webhook.verify(headers, body, INST, NOW)
    else:
        with pytest.raises(InvalidSignature, match="stale"):
            webhook.verify(headers, body, INST, NOW)
