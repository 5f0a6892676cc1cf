"""What became of a Zendesk ticket: the client reads the ticket and its metrics, from the sandbox as
agents work it and from the vendor's documented examples."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from connectors.zendesk import webhook
from connectors.zendesk.client import ZendeskClient, outcome_from
from connectors.zendesk.sandbox import ZendeskDriver
from integration.core.contract import ApiInvalid, ApiRateLimited, ApiUnauthorized, Ignored
from integration.core.model import Installation, TicketOutcome
from tests.builders import Clock

FIXTURES = Path(__file__).parents[3] / "connectors" / "zendesk" / "fixtures"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))



@pytest.fixture
def desk() -> Iterator[tuple[ZendeskDriver, Clock, Installation]]:
    driver, clock = ZendeskDriver(retry_delays=(0.05,)), Clock(T0)
    driver.sandbox.clock = clock
    driver.start()
    setup = driver.setup()
    inst = Installation("i1", "zendesk", driver.url, dict(setup.credentials), "secret",
                        {**setup.settings, "api_user_id": str(driver.sandbox.api_user_id)})
    yield driver, clock, inst
    driver.stop()


def test_the_outcome_follows_the_ticket_as_agents_work_it(desk):
    driver, clock, inst = desk
    client = ZendeskClient(inst)
    cid = driver.new_conversation("I was charged twice")
    assert client.outcome(cid) == TicketOutcome(status="new")

    agent = driver.add_agent("Sam", driver.add_group("Billing"))
    clock.at(3)
    driver.assign(cid, agent)
    clock.at(7)
    driver.say(cid, "Refunded the second charge.", role="agent")
    clock.at(30)
    driver.solve(cid)
    solved = client.outcome(cid)
    # the survey is offered, not answered: no rating yet
    assert (solved.solved_at, solved.csat, solved.status) == (T0 + timedelta(minutes=30), None, "solved")
    clock.at(60)
    driver.reopen(cid)
    clock.at(80)
    driver.solve(cid)
    clock.at(120)
    driver.rate(cid, True, "Sam sorted it")

    calls = client.http.calls
    assert client.outcome(cid) == TicketOutcome(
        assigned_at=T0 + timedelta(minutes=3), assignee_id=agent,
        first_agent_reply_at=T0 + timedelta(minutes=7),  # creation + reply_time_in_minutes.calendar
        solved_at=T0 + timedelta(minutes=80), reopens=1, csat=1.0, csat_at=None, csat_comment="Sam sorted it",
        tags=(), status="solved")
    assert client.http.calls - calls == 2  # the ticket and its metrics


def test_closing_a_solved_ticket_is_no_reopen(desk):
    driver, clock, inst = desk
    cid = driver.new_conversation("Thanks, all good")
    clock.at(10)
    driver.solve(cid)
    clock.at(20)
    driver.sandbox.update_as(int(cid), int(driver.human()), {"status": "closed"})
    got = ZendeskClient(inst).outcome(cid)
    assert (got.reopens, got.solved_at, got.status) == (0, T0 + timedelta(minutes=10), "closed")


def test_a_bad_rating_and_three_stars_are_bad(desk):
    driver, _, inst = desk
    cid = driver.new_conversation("My order never came")
    driver.solve(cid)
    driver.rate(cid, 3)
    assert ZendeskClient(inst).outcome(cid).csat == 0.0


def test_assignment_and_solving_send_ticket_events_that_parse_to_lifecycle_kinds(desk, receiver):
    driver, _, inst = desk
    hook = {"name": "Baton", "endpoint": receiver.url, "subscriptions": list(webhook.LIFECYCLE_EVENTS)}
    requests.post(f"{driver.url}/api/v2/webhooks", json={"webhook": hook}, timeout=5,
                  auth=(f"{driver.sandbox.api_email}/token", driver.sandbox.api_token)).raise_for_status()
    cid = driver.new_conversation("I was charged twice")
    agent = driver.add_agent("Sam", driver.add_group("Billing"))
    driver.assign(cid, agent)
    driver.solve(cid)
    driver.reopen(cid)
    driver.rate(cid, True)  # Zendesk sends no event for a rating
    assert driver.wait_for_deliveries()

    def kind(body: bytes) -> str:
        try:
            event = webhook.parse(body, inst)
        except Ignored as e:
            return f"ignored: {e}"
        assert (event.ticket_id, event.actor_id) == (cid, agent)
        return event.kind
    assert [kind(body) for _, body in receiver.requests] == [
        "conversation_assigned", "conversation_closed", "ignored: not solved or closed"]


def test_baton_assigning_is_its_own_write():
    data = fixture("ticket_agent_assignment_changed")
    data["detail"]["actor_id"] = "900"
    inst = Installation("i1", "zendesk", "https://acme.zendesk.com", {}, "s", {"api_user_id": "900"})
    with pytest.raises(Ignored, match="our own write"):
        webhook.parse(json.dumps(data).encode(), inst)


@pytest.mark.parametrize(("name", "kind"), [("ticket_status_changed", "conversation_closed"),
                                            ("ticket_agent_assignment_changed", "conversation_assigned")])
def test_lifecycle_fixtures_parse(name, kind):
    inst = Installation("i1", "zendesk", "https://acme.zendesk.com", {}, "s", {"api_user_id": "900"})
    event = webhook.parse((FIXTURES / f"{name}.json").read_bytes(), inst)
    assert (event.kind, event.ticket_id, event.actor_id) == (kind, "5158", "8447388090494")


def test_the_documented_ticket_and_metrics_give_the_outcome():
    assert outcome_from(fixture("api/ticket_show")["ticket"], fixture("api/ticket_metrics")) == TicketOutcome(
        assigned_at=datetime(2020, 7, 20, 6, 21, 26, tzinfo=timezone.utc), assignee_id="235323",
        # the ticket's creation + reply_time_in_seconds.calendar (960 s)
        first_agent_reply_at=datetime(2009, 7, 20, 23, 11, 29, tzinfo=timezone.utc),
        solved_at=datetime(2020, 7, 20, 6, 21, 26, tzinfo=timezone.utc), reopens=0, csat=1.0,
        csat_comment="Great support!", tags=("enterprise", "other_tag"), status="open")


def test_a_metric_as_one_object_reads_the_same():
    got = outcome_from(fixture("api/ticket_show")["ticket"], fixture("api/ticket_metric_object"))
    assert (got.assigned_at, got.reopens, got.solved_at, got.first_agent_reply_at) == (
        utc("2011-05-05T10:38:52Z"), 55, utc("2011-05-09T10:38:52Z"), utc("2009-07-20T22:55:29Z") + timedelta(seconds=143460))


def test_minutes_serve_when_seconds_are_missing():
    metric = fixture("api/ticket_metrics")
    del metric["ticket_metric"][0]["reply_time_in_seconds"]
    got = outcome_from(fixture("api/ticket_show")["ticket"], metric)
    assert got.first_agent_reply_at == datetime(2009, 7, 20, 23, 11, 29, tzinfo=timezone.utc)  # 16 minutes


@pytest.mark.parametrize(("ticket", "metric"), [
    ({"satisfaction_rating": {"score": "unoffered"}}, None),  # no metrics yet
    ({"satisfaction_rating": {"score": "offered", "comment": "x"}}, {"ticket_metric": []}),
    ({"satisfaction_rating": {"score": "excellent"}, "tags": "vip", "status": 3}, {"ticket_metric": "x"}),
    ({"satisfaction_rating": "good", "created_at": "yesterday"},
     {"ticket_metric": {"replies": 0, "reply_time_in_minutes": {"calendar": 0}, "reopens": "2", "assigned_at": 5}}),
    ({"created_at": "2026-11-20T10:00:00Z"},
     {"ticket_metric": {"reply_time_in_minutes": {"calendar": "7"}, "reply_time_in_seconds": {"calendar": -1},
                        "reopens": True, "solved_at": "not a time"}}),
    ({"created_at": "2026-11-20T10:00:00Z"}, {"ticket_metric": {"reply_time_in_seconds": {"calendar": 1e300}}}),
])
def test_missing_or_odd_fields_are_none_not_errors(ticket, metric):
    got = outcome_from(ticket, metric)
    assert (got.assigned_at, got.first_agent_reply_at, got.solved_at, got.reopens, got.csat, got.csat_comment) == (
        None, None, None, 0, None, None)
    assert got.tags == () and isinstance(got.status, str)


@responses.activate
def test_a_ticket_without_metrics_yet_is_read_without_them():
    base = "https://acme.zendesk.com"
    responses.get(f"{base}/api/v2/tickets/42.json", json={"ticket": {"id": 42, "status": "open", "assignee_id": 7}})
    responses.get(f"{base}/api/v2/tickets/42/metrics.json", status=404, json={"error": "RecordNotFound"})
    inst = Installation("i1", "zendesk", base, {"email": "b@acme.com", "token": "t"}, "s")
    assert ZendeskClient(inst).outcome("42") == TicketOutcome(assignee_id="7", status="open")


@responses.activate
def test_an_answer_that_is_not_a_ticket_is_an_api_error():
    base = "https://acme.zendesk.com"
    responses.get(f"{base}/api/v2/tickets/42.json", json=[{"ticket": {}}])
    with pytest.raises(ApiInvalid):
        ZendeskClient(Installation("i1", "zendesk", base, {"email": "b@acme.com", "token": "t"}, "s")).outcome("42")


def test_read_errors_raise_the_api_errors(desk):
    driver, _, inst = desk
    cid = driver.new_conversation("Hello")
    driver.throttle(1, retry_after=7)
    with pytest.raises(ApiRateLimited):
        ZendeskClient(inst).outcome(cid)
    driver.fail(1, 401)
    with pytest.raises(ApiUnauthorized):
        ZendeskClient(inst).outcome(cid)
