"""The Conversations API webhook (Zendesk messaging): X-API-Key checked in constant time and fail
closed; each batched event parsed alone; through the web tier, the good events of a batch are
recorded even when another is unreadable, and nothing odd is ever a 5xx."""
import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from connectors.zendesk import webhook
from connectors.zendesk import conversations as sunco
from integration.core.contract import Batch, Ignored, InvalidSignature, NotOurs
from integration.core.model import Event, Installation
from tests.test_web import FakeQueue, app, events

FIXTURES = Path(__file__).parents[3] / "connectors" / "zendesk" / "fixtures"
SUNCO = FIXTURES / "sunco"
NOW = datetime(2026, 11, 20, 14, 25, 30, tzinfo=timezone.utc)
APP = "5ebee0975ac5304b664a12fa"  # the app id of the spec's webhook examples
CREDS = {"email": "baton@acme.com", "token": "tok", sunco.KEY_ID: "app_1",
         sunco.SECRET: "keysecret", sunco.WEBHOOK_SECRET: "8564b3e6a8b20a4bdb68b05ce9bc5936"}
INST = Installation("inst1", "zendesk", "https://acme.zendesk.com", CREDS, "s3cret",
                    settings={"api_user_id": "8447388090001", sunco.APP_ID: APP})
TICKETS_ONLY = replace(INST, credentials={"email": "baton@acme.com", "token": "tok"})
CONVERSATION = "f52b01137aa6c250bc7251fa"
AT = datetime(2020, 9, 30, 15, 14, 29, 834000, tzinfo=timezone.utc)


def fixture(name: str) -> bytes:
    return (SUNCO / f"{name}.json").read_bytes()


def event(kind: str, actor: str | None = None) -> Event:
    return Event("zendesk", "inst1", "sunco:5f74a0d52b5315fc007e798a", kind, CONVERSATION, actor, AT)


# every Conversations API event Baton subscribes to, named after the vendor's event, parsed in full
EXPECTED = {
    "conversation_message": Batch((event("comment_added", "26508c10541a4b0ff472e5e2"),)),
    "conversation_create": Batch((), ("event 0: a new conversation: Baton decides on its messages",)),
    "switchboard_pass_control": Batch((event("control_changed"),)),
    "switchboard_pass_control_failure": Batch((), ("event 0: the switchboard refused to pass control "
                                                   "(switchboard_invalid_target)",)),
    "switchboard_offer_control": Batch((), ("event 0: an offer moves no control yet",)),
    "switchboard_accept_control": Batch((event("control_changed"),)),
    # the ticket was closed: control goes back to the bot
    "switchboard_release_control": Batch((event("conversation_closed"),)),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_conversations_event_parses_to_its_full_result(name):
    assert webhook.parse(fixture(name), INST) == EXPECTED[name]


def test_every_conversations_fixture_is_tested_and_every_handled_event_has_one():
    files = {p.stem for p in SUNCO.glob("*.json")}
    assert files == set(EXPECTED)
    types = {json.loads(fixture(n))["events"][0]["type"] for n in files}
    assert set(webhook.SUNCO_EVENTS) == types


# verification


def test_the_webhook_secret_in_x_api_key_is_accepted():
    webhook.verify({sunco.API_KEY: CREDS[sunco.WEBHOOK_SECRET]}, fixture("conversation_message"), INST, NOW)


@pytest.mark.parametrize("headers, inst", [
    ({}, INST),  # nothing at all
    ({sunco.API_KEY: ""}, INST),
    ({sunco.API_KEY: "8564b3e6a8b20a4bdb68b05ce9bc5937"}, INST),  # one character off
    ({sunco.API_KEY: "s3cret"}, INST),  # the Support webhook's signing secret is not this one
    ({sunco.API_KEY: "8564b3e6a8b20a4bdb68b05ce9bc5936"}, TICKETS_ONLY),  # no Conversations API set up: nothing passes
    ({sunco.API_KEY: "8564b3e6a8b20a4bdb68b05ce9bc5936"}, replace(INST, credentials={**CREDS, sunco.WEBHOOK_SECRET: ""})),
])
def test_a_missing_or_wrong_api_key_fails_closed(headers, inst):
    with pytest.raises(InvalidSignature):
        webhook.verify(headers, fixture("conversation_message"), inst, NOW)


# batches


def batch(*items, app=APP) -> bytes:
    return json.dumps({"app": {"id": app}, "webhook": {"id": "5f4eaef81e3dcc117c7ba48a", "version": "v2"},
                       "events": list(items)}).encode()


def message(event_id: str, text: str = "hello", **author) -> dict:
    item = json.loads(fixture("conversation_message"))["events"][0]
    item["id"] = event_id
    item["payload"]["message"]["content"]["text"] = text
    item["payload"]["message"]["author"].update(author)
    return item


def test_one_unreadable_event_leaves_the_others_of_its_batch():
    bad = message("5f74a0d52b5315fc007e7999")
    del bad["payload"]["conversation"]
    parsed = webhook.parse(batch(message("5f74a0d52b5315fc007e7901"), bad, "not an event",
                                 message("5f74a0d52b5315fc007e7902")), INST)
    assert [e.key for e in parsed.events] == ["sunco:5f74a0d52b5315fc007e7901", "sunco:5f74a0d52b5315fc007e7902"]
    assert parsed.skipped == ("event 1: missing payload.conversation.id", "event 2: missing type")


@pytest.mark.parametrize("body", [
    batch(),  # no events
    batch(app="5ebee0975ac5304b664a0000"),  # another app's delivery
    batch(message("5f74a0d52b5315fc007e7901"), app="5ebee0975ac5304b664a0000"),
    json.dumps({"app": {"id": APP}, "events": {"id": "x"}}).encode(),  # events not a list
    json.dumps({"events": [message("5f74a0d52b5315fc007e7901")]}).encode(),  # no app
    batch("a", 1, None, []),  # nothing readable
    batch({**message("5f74a0d52b5315fc007e7901"),
           "payload": {"conversation": {"id": "1234"}}}),  # a ticket number is not a conversation id
])
def test_what_is_not_a_conversations_batch_is_not_ours(body):
    with pytest.raises(NotOurs):
        webhook.parse(body, INST)


def test_baton_s_own_message_and_unhandled_events_are_skipped_not_refused():
    ours = message("5f74a0d52b5315fc007e7901", "A person will take over", type="business")
    ours["payload"]["message"]["metadata"] = {sunco.BATON_MARK: "baton-inst1-x-1"}
    typing = {**message("5f74a0d52b5315fc007e7902"), "type": "conversation:typing"}
    parsed = webhook.parse(batch(ours, typing), INST)
    assert parsed == Batch((), ("event 0: our own message", "event 1: unhandled event conversation:typing"))


def test_the_echo_of_baton_s_own_pass_is_skipped():
    data = json.loads(fixture("switchboard_pass_control"))
    data["events"][0]["payload"]["metadata"][sunco.BATON_MARK] = "baton-inst1-x-1"
    assert webhook.parse(json.dumps(data).encode(), INST) == Batch((), ("event 0: our own handoff",))


def test_a_bot_or_agent_message_is_a_look_at_the_conversation_without_a_customer_actor():
    parsed = webhook.parse(batch(message("5f74a0d52b5315fc007e7901", type="business", userId=None)), INST)
    assert [(e.kind, e.ticket_id, e.actor_id) for e in parsed.events] == [("comment_added", CONVERSATION, None)]


# Support events about messaging conversations, once the Conversations API is set up


def test_supports_messaging_event_is_keyed_by_the_conversation_like_the_conversations_api():
    body = (FIXTURES / "messaging_ticket_message_added.json").read_bytes()
    assert webhook.parse(body, INST).ticket_id == "67ab5f53a96f98663935c3f2"
    assert webhook.parse(body, TICKETS_ONLY).ticket_id == "141"  # tickets only: as before


def test_ticket_events_of_a_messaging_ticket_are_left_to_the_conversations_api():
    data = json.loads((FIXTURES / "ticket_comment_added.json").read_bytes())
    data["detail"]["via"] = {"channel": "native_messaging"}
    body = json.dumps(data).encode()
    with pytest.raises(Ignored, match="Conversations API"):
        webhook.parse(body, INST)
    assert webhook.parse(body, TICKETS_ONLY).ticket_id == "5158"
    data["detail"]["via"] = {"channel": "email"}  # email and web-form tickets keep the ticket path
    assert webhook.parse(json.dumps(data).encode(), INST).ticket_id == "5158"


# through the web tier


@pytest.fixture
def web(store):
    inst = store.installations.add("zendesk", "https://acme.zendesk.com", CREDS, settings={"api_user_id": "1", sunco.APP_ID: APP},
                                   webhook_secret="whsec")
    queue = FakeQueue()
    return store, inst, queue, app(store, queue).test_client()


def post(client, inst, body, key=CREDS[sunco.WEBHOOK_SECRET]):
    headers = {"Content-Type": "application/json", **({sunco.API_KEY: key} if key is not None else {})}
    return client.post(f"/webhooks/zendesk/{inst.id}", data=body, headers=headers)


@pytest.mark.parametrize("key", [None, "", "wrong", "whsec"])
def test_a_delivery_without_the_right_api_key_is_401_and_records_nothing(web, key):
    store, inst, queue, client = web
    assert post(client, inst, fixture("conversation_message"), key).status_code == 401
    assert events(store) == [] and queue.events == []


def test_a_batch_with_one_bad_event_records_the_good_ones_and_says_so(web):
    store, inst, queue, client = web
    bad = message("5f74a0d52b5315fc007e7999")
    bad["payload"]["conversation"]["id"] = "x" * 300
    r = post(client, inst, batch(message("5f74a0d52b5315fc007e7901"), bad, message("5f74a0d52b5315fc007e7902")))
    assert r.status_code == 200
    assert (r.json["status"], r.json["queued"], r.json["duplicates"], r.json["skipped"]) == ("queued", 2, 0, 1)
    assert r.json["reasons"] == ["event 1: conversation id is not a Conversations API id"]
    rows = events(store)
    assert [(row["key"], row["ticket_id"], row["kind"]) for row in rows] == [
        ("sunco:5f74a0d52b5315fc007e7901", CONVERSATION, "comment_added"),
        ("sunco:5f74a0d52b5315fc007e7902", CONVERSATION, "comment_added")]
    assert queue.events == [row["id"] for row in rows]


def test_a_batch_delivered_twice_is_recorded_and_queued_once(web):
    store, inst, queue, client = web
    body = batch(message("5f74a0d52b5315fc007e7901"), message("5f74a0d52b5315fc007e7902"))
    assert post(client, inst, body).json["queued"] == 2
    again = post(client, inst, body)
    assert (again.status_code, again.json["status"], again.json["duplicates"]) == (200, "duplicate", 2)
    assert len(events(store)) == 2 and len(queue.events) == 2


@pytest.mark.parametrize("body", [
    b"[]", b'"events"', b"{}", b"not json", json.dumps({"app": {"id": APP}, "events": []}).encode(),
    json.dumps({"app": {"id": APP}, "events": [{"type": "conversation:message", "id": "e1",
                                                "payload": {"conversation": {"id": 5}}}]}).encode(),
    json.dumps({"app": APP, "events": [None]}).encode(),
    batch(*["odd"] * 2000),
])
def test_odd_batch_shapes_are_4xx_never_5xx(web, body):
    store, inst, queue, client = web
    r = post(client, inst, body)
    assert 400 <= r.status_code < 500
    assert events(store) == []


def test_a_batch_of_only_events_baton_does_not_act_on_is_200_and_records_nothing(web):
    store, inst, queue, client = web
    r = post(client, inst, fixture("switchboard_offer_control"))
    assert (r.status_code, r.json["status"], r.json["skipped"]) == (200, "ignored", 1)
    assert events(store) == []


def test_a_queue_down_answers_503_and_leaves_the_batch_for_the_drain(web):
    store, inst, queue, client = web
    queue.up = False
    r = post(client, inst, batch(message("5f74a0d52b5315fc007e7901"), message("5f74a0d52b5315fc007e7902")))
    assert r.status_code == 503
    assert [row["status"] for row in events(store)] == ["received", "received"]  # the drain queues them
