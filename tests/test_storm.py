"""A long 429 storm on one tenant (issue 18, item 5): one probe call per installation per
Retry-After, the parked rest released only once it succeeds, every event landing once, and the
other tenants never waiting for any of it. The pipeline on each helpdesk's sandbox and both
databases, with the guards in memory and on a real Redis, on the test's clock; then the drain on a
real broker (fair dispatch of what a lifted hold releases)."""
from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
import redis
from cryptography.fernet import Fernet
from sqlalchemy import insert, update

import connectors
from integration.core.model import Event, State, utc
from integration.service import tasks
from integration.service.pipeline import RetryLater
from integration.service.quota import Guards, Policy
from integration.service.quota_state import MemoryBackend, RedisBackend
from integration.service.settings import Settings
from integration.service.store import events, outbox, utcnow
from integration.service.web import create_app
from integration.tools.local import RedisServer, install_into
from tests.test_pipeline import HUMAN, desk  # noqa: F401 - the fixture, reused

RETRY_AFTER = 30
STORM = 30  # conversations of the storm tenant, each one event


@pytest.fixture(scope="module")
def guard_redis():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["memory", "redis"])
def backend(request):
    """Where the guards keep the hold: one process's memory, or Redis (what every worker shares)."""
    if request.param == "memory":
        yield lambda clock: MemoryBackend()
        return
    client = redis.Redis.from_url(request.getfixturevalue("guard_redis").url)
    yield lambda clock: RedisBackend(client, f"baton:test:{uuid.uuid4().hex}:")
    client.close()


class Worker:
    """The Celery worker and the drain, run by hand on the desk's clock: a countdown (RetryLater)
    runs once its delay has passed; the drain queues what ``Pipeline.released`` lets go."""

    def __init__(self, desk: Any) -> None:
        self.desk = desk
        self.countdowns: list[tuple[Any, str, int]] = []  # due at, kind, id

    def event(self, eid: int) -> None:
        try:
            held = self.desk.pipe.process_event(eid)
        except RetryLater as e:
            self._later(e, "event", eid)
            return
        for delivery in held:
            try:
                self.desk.pipe.send(delivery)
            except RetryLater as e:
                self._later(e, "write", delivery.row.id)

    def write(self, oid: int) -> None:
        try:
            self.desk.pipe.deliver(oid)
        except RetryLater as e:
            self._later(e, "write", oid)

    def _later(self, e: RetryLater, kind: str, ident: int) -> None:
        self.countdowns.append((self.desk.clock.now + timedelta(seconds=e.delay), kind, ident))

    def countdowns_due(self) -> None:
        due = [c for c in self.countdowns if c[0] <= self.desk.clock.now]
        self.countdowns = [c for c in self.countdowns if c[0] > self.desk.clock.now]
        for _, kind, ident in due:
            (self.event if kind == "event" else self.write)(ident)

    def drain(self) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
        released = self.desk.pipe.released()
        for eid, _ in released[0]:
            self.desk.store.events.mark_enqueued(eid)
            self.event(eid)
        for oid, _ in released[1]:
            self.write(oid)
        return released


def calls(driver: Any) -> list[int]:
    return [r["status"] for r in driver.api_log()]


def test_a_storm_costs_one_call_per_retry_after_and_every_event_lands_once(desk, backend, receiver):
    guards = Guards(backend(lambda: desk.clock.now.timestamp()), Policy(), lambda: desk.clock.now.timestamp(),
                    desk.clock.advance)
    desk.pipe.guards = guards
    quiet_driver = connectors.driver(desk.key)()
    quiet_driver.start()
    try:
        quiet = install_into(quiet_driver, desk.store, receiver.url.removesuffix("/hook"))
        worker = Worker(desk)

        def quiet_handoff() -> None:
            """Another tenant's conversation, decided and written at once, whatever the storm."""
            cid = quiet_driver.new_conversation(HUMAN)
            eid = desk.store.events.receive(Event(desk.key, quiet.id, f"quiet-{uuid.uuid4().hex}", "comment_added", str(cid)))[0]
            (held,) = desk.pipe.process_event(eid)
            assert desk.pipe.send(held) == "sent" and len(quiet_driver.notes(cid)) == 1

        cids = [desk.driver.new_conversation(HUMAN) for _ in range(STORM)]
        desk.driver.sandbox.reset_log()
        desk.driver.throttle(10**6, retry_after=RETRY_AFTER)  # every call answers 429 until it ends
        for cid in cids:
            worker.event(desk.event(cid))
        # the first event's call was answered 429; the other 29 were parked without a call
        assert calls(desk.driver) == [429]
        assert len(worker.countdowns) == 1
        parked = [r for r in desk.store.rows(events, installation_id=desk.inst.id) if r["status"] == "received"]
        assert len(parked) == STORM - 1 and all(r["not_before"] is not None for r in parked)
        quiet_handoff()

        desk.clock.advance(RETRY_AFTER / 2)
        assert worker.drain() == ([], [])  # held: the drain lets none of them go
        worker.countdowns_due()
        assert calls(desk.driver) == [429]
        quiet_handoff()

        desk.clock.advance(RETRY_AFTER / 2 + 1)  # Retry-After has passed
        events_, writes = worker.drain()  # the drain first: it releases exactly one, the probe
        assert len(events_) + len(writes) == 1
        worker.countdowns_due()  # the first event's countdown: the probe is out, or answered 429 already
        assert calls(desk.driver) == [429, 429]  # one call for this Retry-After
        assert worker.drain() == ([], [])  # held again until the next Retry-After: nothing else attempted
        quiet_handoff()

        for cycle in range(3):  # three more Retry-Afters of the storm: one call each, whoever makes it
            desk.clock.advance(RETRY_AFTER + 1)
            worker.countdowns_due()
            worker.drain()
            worker.drain()
            assert calls(desk.driver) == [429] * (3 + cycle)
            quiet_handoff()
        assert not any(desk.driver.notes(cid) for cid in cids)

        desk.driver.throttle(0, retry_after=0)  # the storm ends
        desk.clock.advance(RETRY_AFTER + 1)
        worker.countdowns_due()  # the probe succeeded: its event decided and wrote
        assert sum(len(desk.driver.notes(cid)) for cid in cids) == 1
        events_, writes = worker.drain()  # the hold is lifted: the rest, all at once
        assert len(events_) + len(writes) == STORM - 1
        for _ in range(5):  # what waits for Baton's own budget (all of it decided at one moment)
            desk.clock.advance(RETRY_AFTER + 1)
            worker.countdowns_due()
            worker.drain()
        assert [len(desk.driver.notes(cid)) for cid in cids] == [1] * STORM  # each exactly once
        assert {r["status"] for r in desk.store.rows(events, installation_id=desk.inst.id)} == {"processed"}
        assert {r["status"] for r in desk.store.rows(outbox, installation_id=desk.inst.id)} == {"sent"}
        assert all(desk.store.events.state(desk.inst.id, str(cid)) is State.ESCALATED for cid in cids)
        assert worker.countdowns == []
        assert calls(desk.driver).count(429) == 5  # never more than one per Retry-After
    finally:
        quiet_driver.stop()


def test_a_worker_given_an_event_of_a_held_installation_parks_it_without_a_call(desk, backend):
    """Taken from the queue before the hold was known to the database (the 429 answered another
    process a moment ago): the guard refuses the call, and the event is parked for the drain."""
    guards = Guards(backend(lambda: desk.clock.now.timestamp()), Policy(), lambda: desk.clock.now.timestamp(),
                    desk.clock.advance)
    desk.pipe.guards = guards
    cid = desk.driver.new_conversation(HUMAN)
    now = desk.clock.now.timestamp()
    guards.backend.hold(desk.inst.id, now, now + RETRY_AFTER)  # another process's call was answered 429
    desk.driver.sandbox.reset_log()
    eid = desk.event(cid)
    assert desk.pipe.process_event(eid) == []  # no countdown: parked
    assert calls(desk.driver) == []
    (row,) = desk.store.rows(events, id=eid)
    assert row["status"] == "received" and row["attempts"] == 0
    assert utc(row["not_before"]) >= desk.clock.now + timedelta(seconds=RETRY_AFTER)
    assert desk.store.installations.rate_limited_until(desk.inst.id) is None  # a refusal moves no 429 hold of its own
    desk.clock.advance(RETRY_AFTER + 2)
    assert desk.pipe.due() == ([eid], [])  # its turn: the probe
    (held,) = desk.pipe.process_event(eid)
    assert desk.pipe.send(held) == "sent" and len(desk.driver.notes(cid)) == 1


# the drain on a real broker: what a lifted hold releases goes through fair dispatch

@pytest.fixture
def baton(tmp_path):
    server = RedisServer(aof=tmp_path)  # production's Redis settings
    server.start()
    try:
        settings = Settings(database_url=f"sqlite:///{tmp_path}/b.db", redis_url=server.url,
                            secret_key=Fernet.generate_key().decode())
        app = create_app(settings)
        app.extensions["baton"].store.migrate()
        yield app, redis.Redis.from_url(server.url)
    finally:
        server.stop()


def waiting(broker: redis.Redis) -> dict[str, list[tuple[str, int]]]:
    """Each queue's tasks as (task name, id)."""
    found: dict[str, list[tuple[str, int]]] = {}
    for queue in (tasks.QUEUE, tasks.BULK):
        found[queue] = []
        for raw in broker.lrange(queue, 0, -1):
            message = json.loads(raw)
            found[queue].append((message["headers"]["task"], json.loads(base64.b64decode(message["body"]))[0][0]))
    return found


def test_the_drain_releases_one_probe_per_retry_after_and_the_rest_through_fair_dispatch(baton):
    app, broker = baton
    pipeline = app.extensions["baton"].pipeline
    store = pipeline.store
    now = [2_000_000_000.0]
    pipeline.guards = guards = Guards(pipeline.guards.backend, Policy(), lambda: now[0])
    long_ago = utcnow() - timedelta(hours=1)
    with store.engine.begin() as conn:  # the storm tenant's parked work, and a calm tenant's stranded event
        storm = [conn.execute(insert(events).values(
            installation_id="storm", key=f"k{n}", kind="comment_added", ticket_id=str(n), status="received", attempts=0,
            not_before=long_ago + timedelta(seconds=n), received_at=long_ago)).inserted_primary_key[0] for n in range(STORM)]
        writes = [conn.execute(insert(outbox).values(
            installation_id="storm", ticket_id=f"w{n}", key=f"w{n}", status="parked", attempts=1,
            not_before=long_ago + timedelta(seconds=STORM + n), created_at=long_ago)).inserted_primary_key[0] for n in range(3)]
        calm = conn.execute(insert(events).values(
            installation_id="calm", key="c1", kind="comment_added", ticket_id="c1", status="received", attempts=0,
            received_at=long_ago)).inserted_primary_key[0]
    storm_guard = guards.guard(type("Inst", (), {"id": "storm", "provider": "zendesk"})())
    storm_guard.before("GET", "/x")
    storm_guard.after(429, {"Retry-After": str(RETRY_AFTER)}, False)

    tasks.drain.apply()  # held: only the calm tenant's event goes
    assert waiting(broker) == {tasks.QUEUE: [("baton.process_event", calm)], tasks.BULK: []}
    broker.delete(tasks.QUEUE)

    now[0] += RETRY_AFTER
    tasks.drain.apply()
    tasks.drain.apply()
    assert waiting(broker) == {tasks.QUEUE: [("baton.process_event", storm[0])], tasks.BULK: []}  # the probe, once
    storm_guard.before("GET", "/x")  # its call
    storm_guard.after(429, {"Retry-After": str(RETRY_AFTER)}, False)  # still limited
    with store.engine.begin() as conn:  # its worker parked it again
        conn.execute(update(events).where(events.c.id == storm[0]).values(status="received"))
    broker.delete(tasks.QUEUE)
    tasks.drain.apply()
    assert waiting(broker) == {tasks.QUEUE: [], tasks.BULK: []}  # nothing else attempted

    now[0] += RETRY_AFTER
    tasks.drain.apply()
    assert waiting(broker)[tasks.QUEUE] == [("baton.process_event", storm[0])]
    storm_guard.before("GET", "/x")
    storm_guard.after(200, {}, False)  # the probe succeeded (its event went on and finished)
    with store.engine.begin() as conn:
        conn.execute(update(events).where(events.c.id == storm[0]).values(status="processed"))
    tasks.drain.apply()  # the rest, at once, past FAIR_BACKLOG waiting into the bulk queue
    queued = waiting(broker)
    released = queued[tasks.QUEUE] + queued[tasks.BULK]
    assert sorted(released) == sorted([("baton.process_event", storm[0])]
                                      + [("baton.process_event", e) for e in storm[1:]]
                                      + [("baton.deliver", w) for w in writes])  # each once
    assert len(queued[tasks.QUEUE]) <= tasks.FAIR_BACKLOG and queued[tasks.BULK]
    tasks.drain.apply()
    again = waiting(broker)
    assert [t for t in again[tasks.QUEUE] + again[tasks.BULK] if t[0] == "baton.process_event"] \
        == [t for t in released if t[0] == "baton.process_event"]  # no event queued twice
