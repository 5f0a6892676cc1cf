import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from integration.core.contract import Ignored, InvalidSignature, NotOurs
from connectors.freshdesk import webhook
from integration.core.model import Event, Installation

FIXTURES = Path(__file__).parents[3] / "connectors" / "freshdesk" / "fixtures"
SECRET = "k" * 43
INST = Installation("inst1", "freshdesk", "https://acme.freshdesk.com", {}, SECRET,
                    settings={"api_user_id": "48000001001"})
NOW = datetime(2026, 11, 20, 14, 25, 30, tzinfo=timezone.utc)


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


EXPECTED = {
    "automation_ticket_updated": Event("freshdesk", "inst1", "automation:baton-conversation:165:2026-11-20T14:25:30Z",
                                       "comment_added", "165", None, NOW, NOW),  # the customer replied
    "on_ticket_create": Event("freshdesk", "inst1", "app:onTicketCreate:165", "ticket_created", "165", "48014615863",
                              datetime.fromtimestamp(1763648411.975, timezone.utc),
                              datetime(2026, 11, 20, 14, 20, 11, tzinfo=timezone.utc)),
    "on_conversation_create": Event("freshdesk", "inst1", "app:onConversationCreate:48000004007", "comment_added", "165",
                                    "48014615863", datetime.fromtimestamp(1763648730.123, timezone.utc), NOW),
    "on_ticket_update": Event("freshdesk", "inst1", "app:onTicketUpdate:165:1763652011500", "conversation_closed", "165",
                              "48000001002", datetime.fromtimestamp(1763652011.5, timezone.utc),
                              datetime(2026, 11, 20, 15, 20, 11, tzinfo=timezone.utc)),
}
IGNORED = {"on_ticket_delete": "unhandled event onTicketDelete"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_to_the_full_event(name):
    assert webhook.parse(fixture(name), INST) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(IGNORED))
def test_known_unhandled_events_are_ignored(name):
    with pytest.raises(Ignored, match=IGNORED[name]):
        webhook.parse(fixture(name), INST)


def test_every_fixture_is_tested_and_every_supported_event_has_one():
    files = {p.stem for p in FIXTURES.glob("*.json")}
    assert files == set(EXPECTED) | set(IGNORED)
    events = {json.loads(fixture(n)).get("event") or "automation" for n in files}
    assert set(webhook.SUPPORTED_EVENTS) <= events


@pytest.mark.parametrize("triggered, kind", [
    ("customer_replied", "comment_added"), ("{reply_sent:requester}", "comment_added"),
    ("{ticket_action:created}", "ticket_updated"), ("{note_type:public}", "ticket_updated"),
    ("{{triggered_event}}", "ticket_updated"), ("", "ticket_updated"), (None, "ticket_updated")])
def test_the_conversation_rule_tells_a_customer_reply_from_other_changes(triggered, kind):
    """A reply is a new message (read from the handoff on); a creation, another change, or a value
    that does not say (unrendered, missing) is a ticket update, read whole."""
    data = json.loads(fixture("automation_ticket_updated"))
    data["triggered_event"] = triggered
    assert webhook.parse(json.dumps(data).encode(), INST).kind == kind


def test_ticket_update_kinds():
    data = json.loads(fixture("on_ticket_update"))
    data["data"]["ticket"]["changes"] = {"responder_id": [None, 48000001002]}
    assert webhook.parse(json.dumps(data).encode(), INST).kind == "conversation_assigned"
    data["data"]["ticket"]["changes"] = {"priority": [1, 3]}
    with pytest.raises(Ignored, match="no change"):
        webhook.parse(json.dumps(data).encode(), INST)
    data["data"]["actor"]["id"] = 48000001001  # our own update
    with pytest.raises(Ignored, match="our own write"):
        webhook.parse(json.dumps(data).encode(), INST)


def test_our_notes_and_private_notes_are_dropped():
    data = json.loads(fixture("on_conversation_create"))
    data["data"]["conversation"]["user_id"] = 48000001001
    with pytest.raises(Ignored, match="our own write"):
        webhook.parse(json.dumps(data).encode(), INST)
    data["data"]["conversation"].update(user_id=48000001009, private=True)
    with pytest.raises(Ignored, match="private note"):
        webhook.parse(json.dumps(data).encode(), INST)


@pytest.mark.parametrize("body, why", [
    (b"nope", "not JSON"), (b"[]", "not a JSON object"), (b'{"event": "onSomething"}', "not a Freshdesk event"),
    (b'{"baton_event": "ticket_updated", "ticket_id": "{{ticket.id}}", "updated_at": "x"}', "placeholder"),
    (b'{"event": "onConversationCreate", "data": {}}', "missing data.conversation"),
])
def test_payloads_that_are_not_freshdesks_are_refused(body, why):
    with pytest.raises(NotOurs, match=why):
        webhook.parse(body, INST)


def test_secret_header_is_compared_and_fails_closed():
    webhook.verify({webhook.SECRET_HEADER: SECRET}, b"{}", INST, NOW)
    for headers in ({}, {webhook.SECRET_HEADER: "k" * 42}, {webhook.SECRET_HEADER: SECRET + "x"}, {"X-Other": SECRET}):
        with pytest.raises(InvalidSignature):
            webhook.verify(headers, b"{}", INST, NOW)
    with pytest.raises(InvalidSignature):  # a short secret is refused even when it matches
        webhook.verify({webhook.SECRET_HEADER: "short"}, b"{}", replace(INST, webhook_secret="short"), NOW)


def test_an_omni_ticket_assigned_to_the_ai_agent_is_not_a_person_taking_it():
    data = json.loads(fixture("on_ticket_update"))
    data["data"]["ticket"]["changes"] = {"responder_id": [None, 700]}
    omni = replace(INST, settings={**INST.settings, "ai_agent_ids": ["700"]})
    with pytest.raises(Ignored, match="AI agent"):
        webhook.parse(json.dumps(data).encode(), omni)
    data["data"]["ticket"]["changes"] = {"responder_id": [700, 48000001002]}  # taken by a person
    assert webhook.parse(json.dumps(data).encode(), omni).kind == "conversation_assigned"
