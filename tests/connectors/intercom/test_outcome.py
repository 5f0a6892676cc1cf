"""What became of an Intercom conversation: the client reads its statistics and rating, from the
sandbox as teammates work it and from the vendor's documented example."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import responses

from connectors.intercom import webhook
from connectors.intercom.client import IntercomClient, outcome_from
from connectors.intercom.sandbox import IntercomDriver
from integration.core.contract import ApiInvalid, ApiNotFound, ApiRateLimited, Ignored
from integration.core.model import Installation, TicketOutcome
from tests.builders import Clock

FIXTURES = Path(__file__).parents[3] / "connectors" / "intercom" / "fixtures"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)



@pytest.fixture
def desk() -> Iterator[tuple[IntercomDriver, Clock, Installation]]:
    driver, clock = IntercomDriver(retry_delays=(0.05,)), Clock(T0)
    driver.sandbox.clock = clock
    driver.start()
    setup = driver.setup()
    inst = Installation("i1", "intercom", driver.url, dict(setup.credentials), driver.sandbox.client_secret,
                        {**setup.settings, "api_user_id": driver.sandbox.api_admin_id, "app_id": driver.sandbox.app_id})
    yield driver, clock, inst
    driver.stop()


def test_the_outcome_follows_the_conversation_as_teammates_work_it(desk):
    driver, clock, inst = desk
    client = IntercomClient(inst)
    cid = driver.new_conversation("I was charged twice")
    assert client.outcome(cid) == TicketOutcome(status="open", bot_participated=False)

    agent = driver.add_agent("Sam", driver.add_group("Billing"))
    clock.at(3)
    driver.assign(cid, agent)
    clock.at(5)
    driver.say(cid, "Let me check with billing.", role="bot")  # Fin's answers are not a teammate's reply
    clock.at(7)
    driver.say(cid, "Refunded the second charge.", role="agent")
    clock.at(30)
    driver.solve(cid)
    clock.at(60)
    driver.reopen(cid)
    clock.at(80)
    driver.solve(cid)
    clock.at(120)
    driver.rate(cid, 4, "Sam sorted it")

    calls = client.http.calls
    assert client.outcome(cid) == TicketOutcome(
        assigned_at=T0 + timedelta(minutes=3), assignee_id=agent, first_agent_reply_at=T0 + timedelta(minutes=7),
        solved_at=T0 + timedelta(minutes=80), reopens=1, csat=0.75, csat_at=T0 + timedelta(minutes=120),
        csat_comment="Sam sorted it", tags=(), status="closed", bot_participated=False)
    assert client.http.calls - calls == 1  # the conversation alone


def test_a_customer_reply_to_a_closed_conversation_is_a_reopen(desk):
    driver, _, inst = desk
    cid = driver.new_conversation("Where is my parcel?")
    driver.solve(cid)
    driver.say(cid, "It still has not come")
    driver.rate(cid, False)
    got = IntercomClient(inst).outcome(cid)
    assert (got.reopens, got.status, got.csat, got.csat_comment) == (1, "open", 0.0, None)


def test_assignment_closing_and_rating_reach_baton_as_lifecycle_events(desk, receiver):
    driver, _, inst = desk
    cid = driver.new_conversation("I was charged twice")
    driver.connect(inst, receiver.url)  # the Developer Hub subscription: Baton's topics
    agent = driver.add_agent("Sam", driver.add_group("Billing"))
    driver.assign(cid, agent)
    driver.solve(cid)
    driver.reopen(cid)  # conversation.admin.opened: not a topic Baton subscribes to
    driver.rate(cid, 5)
    assert driver.wait_for_deliveries()

    def kind(body: bytes) -> str:
        try:
            event = webhook.parse(body, inst)
        except Ignored as e:
            return f"ignored: {e}"
        assert event.ticket_id == cid
        return event.kind
    assert [kind(body) for _, body in receiver.requests] == [
        "ignored: ping", "conversation_assigned", "conversation_closed", "rating_added"]


def test_the_documented_conversation_without_statistics_or_rating():
    assert outcome_from(fixture("api/conversation")) == TicketOutcome(
        assignee_id="991267715", tags=("Test tag",), status="closed", bot_participated=False)


def test_fins_own_verdict_and_participation_are_read_in_the_current_words():
    """The ai_agent schema's own example (API 2.16): Fin took part and assumes it resolved it."""
    got = outcome_from(fixture("api/conversation_with_fin"))
    assert (got.bot_participated, got.bot_verdict) == (True, "resolved_assumed")


@pytest.mark.parametrize("state, verdict", [
    ("confirmed_resolution", "resolved_confirmed"), ("assumed_resolution", "resolved_assumed"),
    ("escalated", "escalated"), ("procedure_handoff", "procedure_handoff"), ("negative_feedback", "negative_feedback"),
    ("routed_to_team", "escalated"), ("abandoned", "abandoned"),  # API 2.14's words
    (None, None), ("something_new", None), (3, None)])
def test_each_of_fins_resolution_states_is_a_verdict_and_an_unknown_one_is_none(state, verdict):
    got = outcome_from({"ai_agent": {"resolution_state": state}})
    assert (got.bot_participated, got.bot_verdict) == (True, verdict)


def test_fins_verdict_is_read_from_the_sandbox_in_version_2_16(desk):
    driver, _, inst = desk
    cid = driver.new_conversation("Can I get a refund?")
    driver.sandbox.fin_answer(cid, "Refunds take 5 days.")
    driver.sandbox.fin_verdict(cid, "negative_feedback")  # no such word in 2.14, the app's default
    client = IntercomClient(inst)
    assert (client.outcome(cid).bot_participated, client.outcome(cid).bot_verdict) == (True, "negative_feedback")
    assert driver.sandbox.requests_log[-1]["headers"] == "2.16"


def test_the_documented_statistics_and_rating_give_the_outcome():
    at = epoch(1663597233)  # every statistics time in the schema's examples
    assert outcome_from(fixture("api/conversation_with_statistics")) == TicketOutcome(
        assigned_at=at, assignee_id="991267715", first_agent_reply_at=at, solved_at=at, reopens=1,
        csat=1.0, csat_at=epoch(1671028894), csat_comment=None,  # the remark is empty
        tags=("Test tag",), status="closed", bot_participated=False)


@pytest.mark.parametrize("conv", [
    {},
    {"statistics": None, "conversation_rating": None, "tags": None, "state": None},
    {"statistics": {"last_assignment_at": "yesterday", "first_admin_reply_at": True, "last_close_at": 1e20,
                    "count_reopens": -1}, "conversation_rating": {"rating": 0, "remark": "meh"}, "tags": "vip"},
    {"statistics": "x", "conversation_rating": {"rating": 6, "created_at": 1671028894}, "tags": {"tags": "a"}},
    {"statistics": {"count_reopens": "2"}, "conversation_rating": {"rating": True}, "tags": {"tags": [{"id": 1}]}},
    {"conversation_rating": {"rating": "5", "remark": "great"}, "admin_assignee_id": None, "state": 3},
    {"conversation_rating": {"rating": 4.5}},
    {"ai_agent": "escalated", "ai_agent_participated": "yes"},
])
def test_missing_or_odd_fields_are_none_not_errors(conv):
    got = outcome_from(conv)
    assert (got.assigned_at, got.first_agent_reply_at, got.solved_at, got.reopens, got.csat, got.csat_at,
            got.csat_comment, got.assignee_id, got.tags, got.status) == (None, None, None, 0, None, None, None, None,
                                                                         (), "")
    assert got.bot_verdict is None


@responses.activate
def test_an_answer_that_is_not_a_conversation_is_an_api_error():
    base = "https://api.intercom.io"
    responses.get(f"{base}/conversations/147", json="conversation")
    inst = Installation("i1", "intercom", base, {"access_token": "t"}, "s", {"api_user_id": "1"})
    with pytest.raises(ApiInvalid):
        IntercomClient(inst).outcome("147")


def test_read_errors_raise_the_api_errors(desk):
    driver, _, inst = desk
    cid = driver.new_conversation("Hello")
    driver.throttle(1, retry_after=7)
    with pytest.raises(ApiRateLimited):
        IntercomClient(inst).outcome(cid)
    with pytest.raises(ApiNotFound):
        IntercomClient(inst).outcome("999999")
