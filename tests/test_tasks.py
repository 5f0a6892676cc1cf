import json
import time
from dataclasses import dataclass
from datetime import timedelta

import pytest
import redis
from celery import Celery
from cryptography.fernet import Fernet
from kombu import Connection

import connectors
from integration.core.model import Event
from integration.service import tasks
from integration.service.pipeline import RetryLater
from integration.service.settings import Settings
from integration.service.store import events, utcnow
from integration.service.web import create_app
from integration.tools.local import RedisServer, install_into


def test_reliability_settings_hold():
    settings = Settings(database_url="sqlite://", visibility_timeout=3600)
    conf = tasks.celery_config(settings)
    vt = conf["broker_transport_options"]["visibility_timeout"]
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["task_time_limit"] < vt


def test_a_wait_the_broker_could_outlive_is_parked_in_the_database_not_given_as_a_countdown(tmp_path, receiver):
    """With a short visibility timeout, a Retry-After of half of it must not become a task
    countdown (the broker would hand the task to a second worker meanwhile): it is parked."""
    settings = Settings(database_url=f"sqlite:///{tmp_path}/b.db", secret_key=Fernet.generate_key().decode(),
                        visibility_timeout=40, redis_unsafe=True)  # the machine's Redis (guards only) may run without AOF
    baton = create_app(settings).extensions["baton"]
    baton.store.migrate()
    driver = connectors.driver("zendesk")()
    driver.start()
    try:
        inst = install_into(driver, baton.store, receiver.url.removesuffix("/hook"))
        cid = driver.new_conversation("I was charged twice, I want to talk to a human")
        (held,) = baton.pipeline.process_event(baton.store.events.receive(Event("zendesk", inst.id, "e1", "comment_added", cid))[0])
        driver.throttle(1, retry_after=20)
        assert baton.pipeline.send(held) == "parked"
        assert baton.store.events.outbox_row(held.row.id).status == "parked"
    finally:
        driver.stop()


def test_the_app_factory_builds_the_celery_app_from_the_settings(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path}/b.db", redis_url="redis://127.0.0.1:1/5",
                        secret_key=Fernet.generate_key().decode(), drain_seconds=7)
    app = create_app(settings)
    celery = app.extensions["celery"]
    assert isinstance(celery, Celery) and celery.conf.broker_url == "redis://127.0.0.1:1/5"
    assert celery.conf.beat_schedule["baton-drain"]["schedule"] == 7
    assert {"baton.process_event", "baton.deliver", "baton.drain", "baton.roll_up"} <= set(celery.tasks)
    assert celery.conf.beat_schedule["baton-rollups"]["task"] == "baton.rollups"
    # sessions are signed with their own key, never with the key that encrypts credentials
    assert app.config["SECRET_KEY"] and app.config["SECRET_KEY"] != settings.secret_key


class FlakyPipeline:
    """The first write-back waits, as a 429 with Retry-After would make it."""

    def __init__(self):
        self.calls: list[tuple[str, int, float]] = []
        nothing_left = type("NothingLeftOver", (), {"unfinished": staticmethod(lambda: [])})()
        self.store = type("Store", (), {"events": nothing_left})()

    def process_event(self, event_id):
        self.calls.append(("event", event_id, time.monotonic()))
        return [Held(event_id * 10)]

    def send(self, held):
        return self.deliver(held.row.id)

    def deliver(self, outbox_id):
        self.calls.append(("deliver", outbox_id, time.monotonic()))
        if len([c for c in self.calls if c[0] == "deliver"]) == 1:
            raise RetryLater(0.3, "rate limited")
        return "sent"

    def due(self):
        return [], []


class Held:
    def __init__(self, oid):
        self.row = type("Row", (), {"id": oid})()


def test_local_queue_runs_the_pipeline_and_waits_before_retrying():
    pipe = FlakyPipeline()
    q = tasks.LocalQueue(pipe, drain_every=60)
    try:
        q.enqueue_event(7)
        assert q.wait_idle(timeout=5)
    finally:
        q.stop()
    kinds = [(k, i) for k, i, _ in pipe.calls]
    assert kinds == [("event", 7), ("deliver", 70), ("deliver", 70)]
    assert pipe.calls[2][2] - pipe.calls[1][2] >= 0.3  # the retry came no sooner than asked


def test_celery_queue_reports_a_down_broker():
    queue = tasks.CeleryQueue(Celery("t", broker="redis://127.0.0.1:1/0"))
    for call in (queue.ping, lambda: queue.enqueue_event(1)):
        try:
            call()
            raised = False
        except tasks.QueueUnavailable:
            raised = True
        assert raised


def test_the_embedded_queue_takes_up_what_the_previous_process_left(tmp_path, receiver, vault):
    """Its queue lives in memory: events acknowledged before a restart must not wait out the
    drain's lost-task window."""
    from integration.service.pipeline import Pipeline
    from integration.service.store import Store

    store = Store(f"sqlite:///{tmp_path}/b.db", vault)
    store.migrate()
    driver = connectors.driver("zendesk")()
    driver.start()
    try:
        inst = install_into(driver, store, receiver.url.removesuffix("/hook"))
        cid = driver.new_conversation("I was charged twice, I want to talk to a human")
        eid = store.events.receive(Event("zendesk", inst.id, "e1", "comment_added", cid))[0]  # acknowledged, then a restart
        queue = tasks.LocalQueue(Pipeline(store), drain_every=3600)
        try:
            assert queue.wait_idle(timeout=20)
        finally:
            queue.stop()
        assert store.events.get(eid).status == "processed"
        assert len(driver.notes(cid)) == 1
    finally:
        driver.stop()


@dataclass
class Broker:
    """Baton's web app on a private Redis: its queue, its store, and the broker to look into."""
    settings: Settings
    store: object
    queue: tasks.CeleryQueue
    redis: object

    def event(self, installation: str, key: str) -> int:
        return self.store.events.receive(Event("zendesk", installation, key, "comment_added", key))[0]

    def queued_an_hour_ago(self) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(events.update().values(queued_at=utcnow() - timedelta(hours=1)))


@pytest.fixture
def broker(tmp_path):
    server = RedisServer(aof=tmp_path)  # production's Redis (appendonly, noeviction): create_app refuses any other
    server.start()
    try:
        settings = Settings(database_url=f"sqlite:///{tmp_path}/b.db", redis_url=server.url,
                            secret_key=Fernet.generate_key().decode())
        app = create_app(settings)
        store = app.extensions["baton"].store
        store.migrate()
        yield Broker(settings, store, tasks.CeleryQueue(app.extensions["celery"]), redis.Redis.from_url(server.url))
    finally:
        server.stop()


def test_the_drain_requeues_only_events_whose_task_was_really_lost(broker):
    """A backlog is not a loss: events queued an hour ago and still waiting in the broker are left
    alone; once the broker has lost them (restarted without its data), they are queued again."""
    for n in range(5):
        broker.queue.enqueue_event(broker.event("i1", f"k{n}"))
    broker.queued_an_hour_ago()
    assert broker.redis.llen(tasks.QUEUE) == 5
    tasks.drain.apply()
    assert broker.redis.llen(tasks.QUEUE) == 5  # waiting behind a backlog: nothing queued twice
    broker.redis.flushall()  # the broker lost its data
    tasks.drain.apply()
    assert broker.redis.llen(tasks.QUEUE) == 5


def test_the_drain_requeues_an_event_a_dead_connection_held(broker):
    """A worker had taken the event's task from the queue (late ack: kombu keeps it in its unacked
    hash) when the broker crashed; reconnected, nobody will ack it and kombu gives it back only after
    the visibility timeout. The drain queues the event again once it is older than requeue_seconds."""
    held, waiting = broker.event("i1", "k1"), broker.event("i1", "k2")
    broker.queue.enqueue_event(held)
    worker = Connection(broker.settings.redis_url)  # a worker takes the first task, then its process dies
    assert worker.default_channel.basic_get(tasks.QUEUE, no_ack=False) is not None
    worker.default_channel.qos._delivered.clear()  # (dead: it will not give it back on closing)
    broker.queue.enqueue_event(waiting)
    broker.queued_an_hour_ago()
    tasks.drain.apply()
    assert broker.redis.llen(tasks.QUEUE) == 1  # held only a moment ago: a worker may still be on it
    broker.redis.zadd(tasks.UNACKED_INDEX, {tag: 0 for tag in broker.redis.hkeys(tasks.UNACKED)})  # held for long
    tasks.drain.apply()
    assert broker.redis.llen(tasks.QUEUE) == 2  # the held event queued again; the waiting one not twice
    worker.release()


def test_a_flooding_installation_waits_in_the_bulk_queue_and_the_others_do_not_wait_behind_it(broker):
    """Past FAIR_BACKLOG events waiting, an installation's further events go to the bulk queue,
    which every worker also consumes, in turn with the main one (bench/load.py measures the effect
    with real workers); as the worker takes them, the installation's count goes down again."""
    loud = [broker.event("loud", f"k{n}") for n in range(tasks.FAIR_BACKLOG + 30)]
    flood = [broker.queue.enqueue_event(eid, "loud") for eid in loud]
    quiet = broker.queue.enqueue_event(broker.event("calm", "c1"), "calm")
    assert flood.count(tasks.QUEUE) == tasks.FAIR_BACKLOG and flood.count(tasks.BULK) == 30
    assert quiet == tasks.QUEUE
    assert broker.redis.llen(tasks.QUEUE) == tasks.FAIR_BACKLOG + 1 and broker.redis.llen(tasks.BULK) == 30
    assert tasks._backlog(broker.redis, "loud") == tasks.FAIR_BACKLOG + 30
    assert broker.redis.zcard(tasks.QUEUED) == tasks.FAIR_BACKLOG + 31
    for eid in loud[:40]:  # the worker took 40 of the loud one's events
        tasks._taken(broker.settings.redis_url, eid, "loud")
    assert tasks._backlog(broker.redis, "loud") == 10
    assert broker.redis.zcard(tasks.QUEUED) == tasks.FAIR_BACKLOG + 31 - 40  # waiting in the broker no more
    assert broker.queue.enqueue_event(broker.event("loud", "k-late"), "loud") == tasks.QUEUE
    *rest, lost = loud[40:]
    for eid in rest:  # and the rest but one, whose task was lost; a retry's take is not counted again
        tasks._taken(broker.settings.redis_url, eid, "loud")
    tasks._taken(broker.settings.redis_url, loud[0], "loud")
    assert tasks._backlog(broker.redis, "loud") == 2  # the late one still waits, and the lost one
    tasks._published(broker.settings.redis_url, lost, "loud")  # the drain queues the lost one again: once
    assert tasks._backlog(broker.redis, "loud") == 2
    tasks._taken(broker.settings.redis_url, lost, "loud")
    assert tasks._backlog(broker.redis, "loud") == 1
    conf = tasks.celery_config(broker.settings)
    assert {q.name for q in conf["task_queues"]} == {tasks.QUEUE, tasks.BULK}  # workers consume both
    assert conf["broker_transport_options"]["queue_order_strategy"] == "round_robin"


def test_the_drain_requeues_an_event_whose_task_vanished_between_the_queue_and_a_worker(broker):
    """Kombu's consumer pops a message, then records it as held: a worker SIGKILLed in between loses
    it (bench/load.py --chaos worker-kill found one in 1,500). The event is still marked queued, but
    a younger task is first in line, so its own is no longer there: queued again."""
    lost, behind = broker.event("i1", "k1"), broker.event("i1", "k2")
    broker.queue.enqueue_event(lost)
    time.sleep(0.01)
    broker.queue.enqueue_event(behind)
    assert broker.redis.rpop(tasks.QUEUE) is not None  # the oldest taken, and the worker killed at once
    broker.queued_an_hour_ago()
    tasks.drain.apply()
    waiting = [tasks._event_of(json.loads(m)) for m in broker.redis.lrange(tasks.QUEUE, 0, -1)]
    assert sorted(waiting) == sorted([lost, behind])  # the lost one again; the one behind not twice


def test_a_retry_a_worker_holds_until_its_countdown_is_not_taken_for_lost(broker):
    """A worker holds a retry's message until its countdown ends (it waits for Retry-After): that is
    no dead connection, however long ago the worker took it."""
    waiting = broker.event("i1", "k1")
    broker.queue.celery.send_task("baton.process_event", (waiting,), countdown=3600)
    broker.redis.zadd(tasks.QUEUED, {waiting: time.time()})
    worker = Connection(broker.settings.redis_url)
    assert worker.default_channel.basic_get(tasks.QUEUE, no_ack=False) is not None
    worker.default_channel.qos._delivered.clear()
    broker.redis.zadd(tasks.UNACKED_INDEX, {tag: 0 for tag in broker.redis.hkeys(tasks.UNACKED)})  # taken long ago
    broker.queued_an_hour_ago()
    tasks.drain.apply()
    assert broker.redis.llen(tasks.QUEUE) == 0  # not queued a second time
    worker.release()
