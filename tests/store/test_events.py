"""EventRepository, the unit of work: events recorded once, found again when their queue lost
them, the conversation's state, and the outbox's claims and waits."""
from datetime import timedelta

from integration.core.model import Event, State
from integration.service.store import Outcome, events, utcnow
from tests.store.common import PLAN, commit


def test_events_are_recorded_once_per_key(store):
    ev = Event("zendesk", "i1", "evt-1", "comment_added", "42", "100")
    rid, status, new = store.events.receive(ev)
    assert (status, new) == ("enqueued", True)
    assert store.events.receive(ev) == (rid, "enqueued", False)
    store.events.unqueue(rid)  # the queue was down: left for the drain
    assert store.events.receive(ev) == (rid, "received", False)
    other_tenant = Event("zendesk", "i2", "evt-1", "comment_added", "42", "100")
    assert store.events.receive(other_tenant)[2] is True

def test_events_the_queue_refused_are_found_once_their_wait_is_over(store):
    rid, _, _ = store.events.receive(Event("zendesk", "i1", "e", "comment_added", "1"))
    store.events.unqueue(rid)
    later = utcnow() + timedelta(minutes=1)
    assert store.events.stranded(timedelta(seconds=30), later) == [rid]
    store.events.mark_enqueued(rid)  # the drain queued it
    assert store.events.stranded(timedelta(seconds=30), later) == []

def test_conversation_state_defaults_to_bot_and_moves(store):
    assert store.events.state("i1", "42") is State.BOT
    store.events.set_state("i1", "42", State.ESCALATED)
    store.events.set_state("i1", "42", State.ESCALATED)
    assert store.events.state("i1", "42") is State.ESCALATED

def test_a_plan_is_stored_once_claimed_by_its_worker_and_a_claim_is_exclusive(store):
    now = utcnow()
    _, row = commit(store, Outcome("processed", plan=PLAN), now=now)
    assert (row.plan, row.status, row.attempts) == (PLAN, "sending", 1)
    assert commit(store, Outcome("processed", plan=PLAN), key="e2", now=now)[1] is None  # the key exists once
    assert store.events.claim(row.id, timedelta(seconds=60), now) is None  # held by the committing worker's lease
    assert store.events.claim(row.id, timedelta(seconds=60), now + timedelta(seconds=61)).row.attempts == 2  # it died
    store.events.finish(row.id, "sent")
    assert store.events.claim(row.id, timedelta(seconds=60), now + timedelta(hours=1)) is None
    assert store.events.outbox_row(row.id).plan is None  # customer text is not kept once sent

def test_parked_writes_wait_for_their_time(store):
    now = utcnow()
    _, row = commit(store, Outcome("processed", plan=PLAN), now=now)
    store.events.finish(row.id, "parked", "429", now + timedelta(seconds=30))
    assert store.events.claim(row.id, timedelta(seconds=60), now + timedelta(seconds=29)) is None
    assert store.events.due_outbox(now + timedelta(seconds=29)) == []
    assert store.events.due_outbox(now + timedelta(seconds=31)) == [row.id]
    assert store.events.claim(row.id, timedelta(seconds=60), now + timedelta(seconds=31)) is not None

def test_a_queued_event_whose_task_was_lost_is_queued_again(store):
    rid, _, _ = store.events.receive(Event("zendesk", "i1", "lost", "comment_added", "1"))
    now = utcnow()
    assert store.events.stranded(timedelta(seconds=30), now, requeue_after=timedelta(minutes=15)) == []
    later = now + timedelta(minutes=16)
    assert store.events.stranded(timedelta(seconds=30), later, requeue_after=timedelta(minutes=15)) == [rid]
    store.events.mark_enqueued(rid)  # the drain queued it again: its clock restarts
    assert store.events.stranded(timedelta(seconds=30), utcnow(), requeue_after=timedelta(minutes=15)) == []
    with store.engine.begin() as conn:
        conn.execute(events.update().where(events.c.id == rid).values(status="processed"))
    assert store.events.stranded(timedelta(seconds=30), later + timedelta(hours=1)) == []
