"""What became of a Freshdesk ticket: the client reads the ticket's stats and its satisfaction
ratings, from the sandbox as agents work it and from the vendor's documented shapes."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import responses

from connectors.freshdesk import webhook
from connectors.freshdesk.client import FreshdeskClient, outcome_from
from connectors.freshdesk.sandbox import FreshdeskDriver
from integration.core.contract import ApiInvalid, ApiNotFound, ApiRateLimited, Ignored
from integration.core.model import Installation, TicketOutcome
from tests.builders import Clock

FIXTURES = Path(__file__).parents[3] / "connectors" / "freshdesk" / "fixtures"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
SECRET = "s" * 43


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))



@pytest.fixture
def desk() -> Iterator[tuple[FreshdeskDriver, Clock, Installation]]:
    driver, clock = FreshdeskDriver(retry_delays=(0.05,)), Clock(T0)
    driver.sandbox.clock = clock
    driver.start()
    setup = driver.setup()
    inst = Installation("i1", "freshdesk", driver.url, dict(setup.credentials), SECRET,
                        {**setup.settings, "api_user_id": str(driver.sandbox.api_agent_id)})
    yield driver, clock, inst
    driver.stop()


def test_the_outcome_follows_the_ticket_as_agents_work_it(desk):
    driver, clock, inst = desk
    client = FreshdeskClient(inst)
    cid = driver.new_conversation("I was charged twice")
    assert client.outcome(cid) == TicketOutcome(status="open")

    agent = driver.add_agent("Sam", driver.add_group("Billing"))
    clock.at(3)
    driver.assign(cid, agent)
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
        assigned_at=None,  # Freshdesk's API has no assignment time
        assignee_id=agent, first_agent_reply_at=T0 + timedelta(minutes=7), solved_at=T0 + timedelta(minutes=80),
        reopens=1,  # Freshdesk keeps the last reopen only
        csat=5 / 6, csat_at=T0 + timedelta(minutes=120), csat_comment="Sam sorted it",  # 4 stars: 102, "very happy"
        tags=(), status="resolved")
    assert client.http.calls - calls == 2  # the ticket with its stats, its ratings


@pytest.mark.parametrize(("good", "csat"), [(True, 1.0), (False, 0.0), (3, 0.5)])
def test_ratings_map_onto_zero_to_one(desk, good, csat):
    driver, _, inst = desk
    cid = driver.new_conversation("My order never came")
    driver.rate(cid, good)
    assert FreshdeskClient(inst).outcome(cid).csat == csat


def test_assignment_solving_and_feedback_reach_baton_as_lifecycle_events(desk, receiver):
    driver, _, inst = desk
    cid = driver.new_conversation("I was charged twice")
    driver.connect(inst, receiver.url)  # the conversation rule, the feedback rule and the app's events
    agent = driver.add_agent("Sam", driver.add_group("Billing"))
    driver.assign(cid, agent)
    driver.solve(cid)
    driver.reopen(cid)
    driver.rate(cid, True, "Thanks")
    assert driver.wait_for_deliveries()

    def kind(body: bytes) -> str:
        try:
            event = webhook.parse(body, inst)
        except Ignored as e:
            return f"ignored: {e}"
        assert event.ticket_id == cid
        return event.kind
    assert [kind(body) for _, body in receiver.requests] == [
        "conversation_assigned", "conversation_closed", "ignored: no change Baton acts on", "rating_added"]


def test_the_feedback_rule_fixture_parses_to_a_rating():
    inst = Installation("i1", "freshdesk", "https://acme.freshdesk.com", {}, SECRET)
    event = webhook.parse((FIXTURES / "lifecycle" / "automation_feedback_received.json").read_bytes(), inst)
    assert (event.kind, event.ticket_id, event.key) == ("rating_added", "20",
                                                        "automation:baton-feedback:20:2015-08-26T10:01:38Z")


def test_the_documented_ticket_and_ratings_give_the_outcome():
    assert outcome_from(fixture("api/ticket_with_stats"), fixture("api/satisfaction_ratings")) == TicketOutcome(
        assigned_at=None, assignee_id="12", first_agent_reply_at=utc("2015-08-24T12:31:09Z"),
        solved_at=utc("2015-08-26T09:20:11Z"), reopens=1,
        csat=1.0, csat_at=utc("2015-08-26T10:01:38Z"), csat_comment="Feedback given by the customer",  # the latest: 103
        tags=("baton_escalated", "baton_billing_dispute"), status="resolved")


def test_solved_is_the_later_of_resolved_and_closed():
    ticket = fixture("api/ticket_with_stats")
    ticket["stats"]["closed_at"], ticket["status"] = "2015-08-28T08:00:00Z", 5
    got = outcome_from(ticket, [])
    assert (got.solved_at, got.status, got.csat) == (utc("2015-08-28T08:00:00Z"), "closed", None)


@pytest.mark.parametrize(("ticket", "ratings"), [
    ({"status": 2}, None),  # no stats asked, no ratings read
    ({"stats": None, "tags": "vip", "status": 7}, []),
    ({"stats": {"first_responded_at": 5, "resolved_at": "soon", "reopened_at": ""}},
     [{"ratings": {"default_question": 104}}, {"ratings": {"default_question": "103"}},
      {"ratings": {"default_question": True}}, {"ratings": [103]}, "103", {"feedback": "no answer"}]),
    ({"stats": "x", "responder_id": None, "status": [2]}, {"ratings": {"default_question": 103}}),
])
def test_missing_or_odd_fields_are_none_not_errors(ticket, ratings):
    got = outcome_from(ticket, ratings)
    assert (got.first_agent_reply_at, got.solved_at, got.reopens, got.csat, got.csat_at, got.csat_comment) == (
        None, None, 0, None, None, None)
    assert got.tags == () and isinstance(got.status, str)


@pytest.mark.parametrize("status", [404, 403])
@responses.activate
def test_an_account_without_surveys_has_no_rating(status):
    base = "https://acme.freshdesk.com"
    responses.get(f"{base}/api/v2/tickets/20", json=fixture("api/ticket_with_stats"))
    responses.get(f"{base}/api/v2/tickets/20/satisfaction_ratings", status=status, json={"code": "access_denied"})
    got = FreshdeskClient(Installation("i1", "freshdesk", base, {"api_key": "k"}, SECRET)).outcome("20")
    assert (got.csat, got.status, got.reopens) == (None, "resolved", 1)
    assert responses.calls[0].request.params == {"include": "stats"}


@responses.activate
def test_an_answer_that_is_not_a_ticket_is_an_api_error():
    base = "https://acme.freshdesk.com"
    responses.get(f"{base}/api/v2/tickets/20", json=["not", "a", "ticket"])
    with pytest.raises(ApiInvalid):
        FreshdeskClient(Installation("i1", "freshdesk", base, {"api_key": "k"}, SECRET)).outcome("20")


def test_read_errors_raise_the_api_errors(desk):
    driver, _, inst = desk
    cid = driver.new_conversation("Hello")
    driver.throttle(1, retry_after=7)
    with pytest.raises(ApiRateLimited):
        FreshdeskClient(inst).outcome(cid)
    with pytest.raises(ApiNotFound):
        FreshdeskClient(inst).outcome("999999")
