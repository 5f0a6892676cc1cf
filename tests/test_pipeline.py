import json
import random
from datetime import timedelta

import pytest
import responses

from integration.model import Event, State
from integration.pipeline import MAX_ATTEMPTS, Pipeline, RetryLater
from integration.store import utcnow

BASE = "https://acme.zendesk.com"
TICKET = {"id": 42, "subject": "Help", "status": "open", "priority": "normal", "requester_id": 100, "tags": ["web"],
          "created_at": "2026-11-20T10:00:00Z", "updated_at": "2026-11-20T10:05:00Z"}
USER = {"id": 100, "name": "Ann", "email": "ann@example.com", "tags": [], "created_at": "2025-01-01T00:00:00Z"}


def comments(*texts, author=100):
    return {"comments": [{"id": i, "author_id": author, "body": t, "public": True, "created_at": "2026-11-20T10:00:00Z"}
                         for i, t in enumerate(texts, 1)]}


def mock_reads(texts=("I was charged twice and I want to talk to a human",), extra=()):
    responses.get(f"{BASE}/api/v2/tickets/42.json", json={"ticket": TICKET})
    responses.get(f"{BASE}/api/v2/tickets/42/comments.json", json={"comments": comments(*texts)["comments"] + list(extra)})
    responses.get(f"{BASE}/api/v2/users/100.json", json={"user": USER})
    responses.get(f"{BASE}/api/v2/users/100/tickets/requested.json", json={"tickets": [TICKET]})


@pytest.fixture
def setup(store):
    inst = store.add_installation("zendesk", BASE, {"email": "b@acme.com", "token": "t"}, settings={"api_user_id": "900"},
                                  rules={"routing": {"categories": {"billing_dispute": {"group": "360"}}}})
    clock = {"now": utcnow()}
    pipe = Pipeline(store, park_after=300, clock=lambda: clock["now"], rng=random.Random(1))
    ev_id = store.record_event(Event("zendesk", inst.id, "evt-1", "comment_added", "42", "100"))[0]
    return store, inst, pipe, ev_id, clock


def puts():
    return [c for c in responses.calls if c.request.method == "PUT"]


@responses.activate
def test_an_escalation_is_decided_planned_and_written_once(setup):
    store, inst, pipe, ev_id, _ = setup
    mock_reads()
    responses.put(f"{BASE}/api/v2/tickets/42.json", json={"ticket": TICKET})
    (oid,) = pipe.process_event(ev_id)
    assert pipe.deliver(oid) == "sent"
    body = json.loads(puts()[0].request.body)["ticket"]
    assert body["comment"]["public"] is False
    assert "Baton ref baton-" in body["comment"]["html_body"]
    assert "I was charged twice and I want to talk to a human" in body["comment"]["html_body"]
    assert body["priority"] == "high" and body["group_id"] == 360
    assert body["tags"] == ["web", "baton_escalated", "baton_billing_dispute"]
    assert store.state(inst.id, "42") is State.ESCALATED
    assert store.decisions_for(inst.id, "42")[0]["action"] == "escalate"
    # at-least-once delivery of the same event and of the same task change nothing
    assert pipe.process_event(ev_id) == []
    assert pipe.deliver(oid) == "skipped"
    assert len(puts()) == 1


@responses.activate
def test_a_new_event_on_an_escalated_ticket_writes_nothing(setup):
    store, inst, pipe, ev_id, _ = setup
    mock_reads()
    responses.put(f"{BASE}/api/v2/tickets/42.json", json={"ticket": TICKET})
    pipe.deliver(pipe.process_event(ev_id)[0])
    ev2 = store.record_event(Event("zendesk", inst.id, "evt-2", "comment_added", "42", "100"))[0]
    assert pipe.process_event(ev2) == []
    assert len(puts()) == 1


@responses.activate
def test_routine_conversation_is_recorded_but_not_written(setup):
    store, inst, pipe, ev_id, _ = setup
    mock_reads(("What are your opening hours?",))
    assert pipe.process_event(ev_id) == []
    assert store.decisions_for(inst.id, "42")[0]["action"] == "continue"
    assert store.state(inst.id, "42") is State.BOT
    assert puts() == []


@responses.activate
def test_baton_stays_out_once_a_human_agent_replied(setup):
    store, inst, pipe, ev_id, _ = setup
    mock_reads(extra=[{"id": 9, "author_id": 555, "body": "Hi, I'm Sam from billing", "public": True}])
    assert pipe.process_event(ev_id) == []
    assert store.state(inst.id, "42") is State.ASSIGNED


@responses.activate
def test_rate_limit_waits_for_retry_after_and_never_sends_early(setup):
    store, inst, pipe, ev_id, clock = setup
    mock_reads()
    (oid,) = pipe.process_event(ev_id)
    responses.put(f"{BASE}/api/v2/tickets/42.json", status=429, headers={"Retry-After": "20"})
    with pytest.raises(RetryLater) as e:
        pipe.deliver(oid)
    assert 20 <= e.value.delay <= 21
    assert pipe.deliver(oid) == "skipped"  # a second copy of the task arrives early: nothing is sent
    clock["now"] += timedelta(seconds=21)
    responses.replace(responses.PUT, f"{BASE}/api/v2/tickets/42.json", json={"ticket": TICKET})
    assert pipe.deliver(oid) == "sent"
    assert [c.response.status_code for c in puts()] == [429, 200]


@responses.activate
def test_a_long_retry_after_is_parked_not_scheduled(setup):
    store, inst, pipe, ev_id, clock = setup
    mock_reads()
    (oid,) = pipe.process_event(ev_id)
    responses.put(f"{BASE}/api/v2/tickets/42.json", status=429, headers={"Retry-After": "3600"})
    assert pipe.deliver(oid) == "parked"
    assert pipe.due() == ([], [])
    clock["now"] += timedelta(seconds=3602)
    assert pipe.due()[1] == [oid]


@pytest.mark.parametrize("status", [401, 403, 404, 422])
@responses.activate
def test_permanent_errors_go_to_the_dead_letters_and_flag_the_installation(setup, status):
    store, inst, pipe, ev_id, _ = setup
    mock_reads()
    (oid,) = pipe.process_event(ev_id)
    responses.put(f"{BASE}/api/v2/tickets/42.json", status=status, json={})
    assert pipe.deliver(oid) == "dead"
    assert store.outbox_row(oid).status == "dead"
    assert store.installation_status(inst.id)[0] == "broken"
    assert len(puts()) == 1  # not retried


@responses.activate
def test_after_a_crash_between_call_and_record_the_note_is_not_written_twice(setup):
    store, inst, pipe, ev_id, clock = setup
    mock_reads()
    (oid,) = pipe.process_event(ev_id)
    row = store.claim(oid, timedelta(seconds=60), clock["now"])  # a worker took it, sent it, and died
    responses.get(f"{BASE}/api/v2/tickets/42/comments.json", json={"comments": [
        {"id": 50, "author_id": 900, "html_body": f"<p>note</p><p><i>Baton ref {row.plan.key}</i></p>", "public": False}]})
    responses.put(f"{BASE}/api/v2/tickets/42.json", json={"ticket": TICKET})
    assert pipe.deliver(oid) == "skipped"  # lease still held
    clock["now"] += timedelta(seconds=61)
    assert pipe.due()[1] == [oid]
    assert pipe.deliver(oid) == "sent"
    assert puts() == []


@responses.activate
def test_transient_read_errors_retry_with_backoff_then_dead_letter(setup):
    store, inst, pipe, ev_id, _ = setup
    responses.get(f"{BASE}/api/v2/tickets/42.json", status=503)
    delays = []
    for _ in range(MAX_ATTEMPTS - 1):
        with pytest.raises(RetryLater) as e:
            pipe.process_event(ev_id)
        delays.append(e.value.delay)
    assert pipe.process_event(ev_id) == []
    assert store.event(ev_id).status == "dead"
    assert store.installation_status(inst.id)[0] == "active"  # a host outage is not the admin's fault
    assert len(set(delays)) == len(delays)  # jittered


@responses.activate
def test_invalid_stored_rules_flag_the_installation(setup):
    store, inst, pipe, ev_id, _ = setup
    store.update_installation(inst.id, rules={"loop": {"rephrases": 0}})
    mock_reads()
    assert pipe.process_event(ev_id) == []
    status, reason = store.installation_status(inst.id)
    assert status == "broken" and "loop.rephrases" in reason


@responses.activate
def test_lifecycle_events_move_the_state_without_a_decision(setup):
    store, inst, pipe, ev_id, _ = setup
    mock_reads()
    responses.put(f"{BASE}/api/v2/tickets/42.json", json={"ticket": TICKET})
    pipe.deliver(pipe.process_event(ev_id)[0])
    for key, kind, state in (("a", "conversation_assigned", State.ASSIGNED), ("c", "conversation_closed", State.RESOLVED)):
        eid = store.record_event(Event("zendesk", inst.id, key, kind, "42"))[0]
        assert pipe.process_event(eid) == []
        assert store.state(inst.id, "42") is state
    # the customer comes back after resolution: decided afresh, a second escalation gets its own key
    again = store.record_event(Event("zendesk", inst.id, "evt-9", "comment_added", "42", "100"))[0]
    (oid,) = pipe.process_event(again)
    assert store.outbox_row(oid).plan.key.endswith("-2")
    assert len(store.decisions_for(inst.id, "42")) == 2


@responses.activate
def test_a_429_holds_every_call_to_that_account_until_retry_after(setup):
    store, inst, pipe, ev_id, clock = setup
    mock_reads()
    (oid,) = pipe.process_event(ev_id)
    responses.put(f"{BASE}/api/v2/tickets/42.json", status=429, headers={"Retry-After": "20"})
    with pytest.raises(RetryLater):
        pipe.deliver(oid)
    # another conversation of the same account waits too, without calling the helpdesk
    other = store.record_event(Event("zendesk", inst.id, "evt-other", "comment_added", "43", "100"))[0]
    calls = len(responses.calls)
    with pytest.raises(RetryLater) as e:
        pipe.process_event(other)
    assert 19 <= e.value.delay <= 20 and len(responses.calls) == calls


@responses.activate
def test_a_long_429_storm_never_dead_letters(setup):
    store, inst, pipe, ev_id, clock = setup
    mock_reads()
    (oid,) = pipe.process_event(ev_id)
    responses.put(f"{BASE}/api/v2/tickets/42.json", status=429, headers={"Retry-After": "60"})
    for _ in range(MAX_ATTEMPTS + 4):  # ten minutes of 429s
        clock["now"] += timedelta(seconds=62)
        with pytest.raises(RetryLater):
            pipe.deliver(oid)
    clock["now"] += timedelta(seconds=62)
    responses.replace(responses.PUT, f"{BASE}/api/v2/tickets/42.json", json={"ticket": TICKET})
    assert pipe.deliver(oid) == "sent"


ROSTER = {"groups": [{"id": "360", "name": "Billing", "first_replies": [4, 5, 6, 5, 5]}],
          "agents": [{"id": "a1", "name": "Sam", "groups": ["360"], "online": True, "load": 1},
                     {"id": "a2", "name": "Kim", "groups": ["360"], "online": False}]}


@responses.activate
def test_the_route_is_recorded_with_its_candidates_and_the_customer_told(setup):
    store, inst, pipe, ev_id, _ = setup
    store.update_installation(inst.id, rules={"routing": {"categories": {"billing_dispute": {"group": "360"}},
                                                          "notify_customer": True}})
    store.save_roster(inst.id, ROSTER)
    mock_reads()
    responses.put(f"{BASE}/api/v2/tickets/42.json", json={"ticket": TICKET})
    assert pipe.deliver(pipe.process_event(ev_id)[0]) == "sent"
    route = store.decisions_for(inst.id, "42")[0]["route"]
    assert (route["group_id"], route["agent_id"]) == ("360", "a1")
    assert {"agent_id": "a2", "chosen": False, "why": "offline"} in route["candidates"]
    first, second = (json.loads(c.request.body)["ticket"] for c in puts())
    assert first["group_id"] == 360 and first["assignee_id"] == "a1"
    assert "Kim" not in first["comment"]["html_body"] and "a2: offline" in first["comment"]["html_body"]
    assert second == {"comment": {"body": route["customer_message"], "public": True}}
    assert "Billing" in second["comment"]["body"] and "about 5 minutes" in second["comment"]["body"]


@responses.activate
def test_an_offer_is_sent_once_per_conversation(setup):
    store, inst, pipe, ev_id, _ = setup
    store.update_installation(inst.id, rules={"routing": {"notify_customer": True}, "model": {"enabled": False}})
    mock_reads(("I already tried that",))  # unhappy, not angry: offer a person
    responses.put(f"{BASE}/api/v2/tickets/42.json", json={"ticket": TICKET})
    (oid,) = pipe.process_event(ev_id)
    assert pipe.deliver(oid) == "sent"
    again = store.record_event(Event("zendesk", inst.id, "evt-2", "comment_added", "42", "100"))[0]
    assert pipe.process_event(again) == []
    (put,) = puts()
    assert json.loads(put.request.body)["ticket"]["comment"]["public"] is True
    assert "connect you now" in json.loads(put.request.body)["ticket"]["comment"]["body"]
    assert store.state(inst.id, "42") is State.BOT


@responses.activate
def test_roster_sync_stores_the_helpdesks_agents_and_keeps_the_old_one_on_failure(setup):
    store, inst, pipe, ev_id, _ = setup
    responses.get(f"{BASE}/api/v2/groups.json", json={"groups": [{"id": 360, "name": "Billing"}]})
    responses.get(f"{BASE}/api/v2/group_memberships.json", json={"group_memberships": [{"user_id": 1, "group_id": 360}]})
    responses.get(f"{BASE}/api/v2/users.json", json={"users": [{"id": 1, "name": "Sam"}]})
    responses.get(f"{BASE}/api/v2/agent_availabilities", status=404, json={})
    assert pipe.sync_roster(inst.id)
    data, synced = store.roster(inst.id)
    assert data["agents"][0]["id"] == "1" and synced is not None
    responses.replace(responses.GET, f"{BASE}/api/v2/groups.json", status=503)
    assert not pipe.sync_roster(inst.id)
    assert store.roster(inst.id)[0] == data
    assert store.installation_status(inst.id)[0] == "active"


@responses.activate
def test_first_replies_after_handoff_become_the_wait_quoted_to_the_next_customer(setup):
    store, inst, pipe, ev_id, clock = setup
    store.update_installation(inst.id, rules={"routing": {"default_group": "360", "notify_customer": True}})
    for n, minutes in enumerate((4, 5, 6, 5, 5)):  # five earlier conversations answered after the handoff
        store.escalated(inst.id, f"t{n}", "360", clock["now"] - timedelta(hours=1))
        store.first_reply(inst.id, f"t{n}", clock["now"] - timedelta(hours=1) + timedelta(minutes=minutes))
    store.escalated(inst.id, "waiting", "360", clock["now"])  # one still waiting
    depth, waits = store.group_stats(inst.id)["360"]
    assert depth == 1 and sorted(waits) == [4.0, 5.0, 5.0, 5.0, 6.0]
    mock_reads()
    responses.put(f"{BASE}/api/v2/tickets/42.json", json={"ticket": TICKET})
    pipe.deliver(pipe.process_event(ev_id)[0])
    route = store.decisions_for(inst.id, "42")[0]["route"]
    assert route["wait_minutes"] == 5.0 * (1 + 1)  # median 5 min, one conversation ahead, no agent free
    assert "about 10 minutes" in route["customer_message"]


@responses.activate
def test_an_assignment_event_refreshes_a_stale_roster(setup):
    store, inst, pipe, ev_id, clock = setup
    responses.get(f"{BASE}/api/v2/groups.json", json={"groups": [{"id": 360, "name": "Billing"}]})
    responses.get(f"{BASE}/api/v2/group_memberships.json", json={"group_memberships": []})
    responses.get(f"{BASE}/api/v2/users.json", json={"users": [{"id": 1, "name": "Sam"}]})
    responses.get(f"{BASE}/api/v2/agent_availabilities", json={"data": []})
    eid = store.record_event(Event("zendesk", inst.id, "assigned-1", "conversation_assigned", "42"))[0]
    assert pipe.process_event(eid) == []
    assert store.roster(inst.id)[0]["groups"] == [{"id": "360", "name": "Billing"}]
    calls = len(responses.calls)
    eid = store.record_event(Event("zendesk", inst.id, "assigned-2", "conversation_assigned", "43"))[0]
    pipe.process_event(eid)
    assert len(responses.calls) == calls  # fresh enough: no second sync within a minute
