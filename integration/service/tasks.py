"""Thin Celery tasks around the pipeline, the queue the web tier hands events to, and the
embedded in-process queue. The Celery app itself is made by the Flask app factory
(``celery_init_app``, Flask's pattern); the worker's entry point is ``integration.service.worker``.

Reliability settings (../shared/reference/reliability_anchors.md §2.3): late ack and requeue on
a lost worker, prefetch 1, only ids in task arguments (no customer text in Redis), countdowns
always well below the visibility timeout (longer waits are parked in the store and drained).
"""
from __future__ import annotations

import base64
import heapq
import itertools
import json
import logging
import math
import threading
import time
from datetime import datetime, timezone
from functools import lru_cache
from typing import Callable

import redis
from celery import Celery, Task, shared_task
from flask import Flask, current_app
from kombu import Queue
from kombu.exceptions import OperationalError
from redis.backoff import NoBackoff
from redis.retry import Retry

from integration.service.pipeline import Pipeline, RetryLater
from integration.service.settings import Settings

log = logging.getLogger("baton.tasks")


class QueueUnavailable(Exception):
    pass


SLA_SECONDS = 60.0  # how often handoff SLAs are checked
RETENTION_SECONDS = 3600.0  # how often the retention runs (settings["retention_days"] is in days)


def celery_config(settings: Settings) -> dict[str, object]:
    vt = settings.visibility_timeout
    return {
        "broker_url": settings.redis_url,
        "broker_transport_options": {"visibility_timeout": vt, "queue_order_strategy": "round_robin"},
        "task_default_queue": QUEUE,
        "task_queues": (Queue(QUEUE), Queue(BULK)),  # every worker takes from both, in turn
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_ignore_result": True,
        "task_time_limit": min(300, vt // 2),
        "task_soft_time_limit": min(240, vt // 3),
        "broker_connection_retry_on_startup": True,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "beat_schedule": {
            "baton-drain": {"task": "baton.drain", "schedule": settings.drain_seconds},
            "baton-rosters": {"task": "baton.sync_rosters", "schedule": settings.roster_seconds},
            "baton-reprobe": {"task": "baton.reprobe", "schedule": settings.reprobe_seconds},
            # Zendesk tells nobody when its app is removed (its webhook goes with it): look hourly
            "baton-uninstalled": {"task": "baton.sweep_uninstalled", "schedule": 3600.0},
            # handoff SLAs are minutes: every minute (the helpdesks' own automations run hourly)
            "baton-sla": {"task": "baton.check_slas", "schedule": SLA_SECONDS},
            # ratings arrive after the solve, without an event on Zendesk: re-read recent solves hourly
            "baton-outcomes": {"task": "baton.reread_outcomes", "schedule": 3600.0},
            # helpdesks drop webhooks: list what changed since the last sweep and process what was missed
            "baton-reconcile": {"task": "baton.reconcile", "schedule": settings.reconcile_seconds},
            # customer text older than each installation's retention is removed (README "Data lifecycle")
            "baton-retention": {"task": "baton.retention", "schedule": RETENTION_SECONDS},
            # the analytics count each day that closed here, not in the first report's request (README "Rollups")
            "baton-rollups": {"task": "baton.rollups", "schedule": RETENTION_SECONDS},
        },
    }


def celery_init_app(app: Flask) -> Celery:
    """Flask's own Celery pattern: a Celery app configured from ``app.config["CELERY"]`` whose
    tasks run inside the Flask app's context, so they find the pipeline there."""

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


# Events whose task waits in the broker, with when it was published (a sorted set). It lives in the
# broker itself: the drain re-queues an event queued long ago only when its task was really lost,
# never one merely waiting behind a backlog (see ``drain``); a broker restarted without its data
# forgets both together.
QUEUED = "baton:queued"

# Fair dispatch. Events wait in one of two broker queues, and every worker consumes both: kombu's
# Redis transport takes from its queues in turn (it rotates a queue to the back of the line after
# taking from it), so each queue gets at least half of the workers whenever both hold work. An
# installation with more than FAIR_BACKLOG events already waiting is flooding (a bulk import, a
# trigger loop, a storm of echoes): its further events go to the BULK queue, so the other
# tenants' events, in QUEUE, never wait behind its backlog. A rate-limited or broken helpdesk
# holds no worker at all: its work is parked in the store (Retry-After, breaker) and drained later.
QUEUE, BULK = "celery", "baton.bulk"
FAIR_BACKLOG = 20
BACKLOG = "baton:backlog:"  # + installation id: its events published and not yet taken by a worker (see _published)


def _pipeline() -> Pipeline:
    return current_app.extensions["baton"].pipeline  # type: ignore[no-any-return]


@lru_cache(maxsize=8)
def _broker(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2, retry=Retry(NoBackoff(), 0))


# Baton's own bookkeeping of one task, one round trip each and no script (bench/load.py
# --redis-monitor counts them). Publish: the event waits since now, in QUEUED and, with an
# installation, in its backlog (a sorted set of its events' ids by when they were published), whose
# size comes back (the queue is chosen from it). Take: the event waits no more, in either. Adding or
# removing an id twice changes nothing: a task the drain queues again, a retry's or a redelivered
# message's take count once. A lost task's id stops counting after BACKLOG_KEPT seconds and goes when
# its event's task is queued again and taken. The keys are not in one Redis Cluster slot: kombu's
# Redis transport runs on one Redis, not a cluster, and so does this.
BACKLOG_KEPT = 3600  # seconds a published event counts in its installation's backlog without being taken


def _published(url: str, event_id: int, installation: str | None) -> int:
    """Record that the event's task is about to be published; returns how many of the
    installation's events then wait (0 without one). Raises redis.RedisError or OSError."""
    now = time.time()
    pipe = _broker(url).pipeline(transaction=False)
    pipe.zadd(QUEUED, {event_id: now})
    if installation is None:
        pipe.execute()
        return 0
    pipe.zadd(BACKLOG + installation, {event_id: now})
    pipe.zcount(BACKLOG + installation, now - BACKLOG_KEPT, "+inf")
    return int(pipe.execute()[-1])


def _backlog(broker: redis.Redis, installation: str) -> int:
    """How many of the installation's events wait (see ``_published``)."""
    return int(broker.zcount(BACKLOG + installation, time.time() - BACKLOG_KEPT, "+inf"))


def _taken(url: str, event_id: int, installation: str | None) -> None:
    """The event's task left the broker's queue for a worker."""
    pipe = _broker(url).pipeline(transaction=False)
    pipe.zrem(QUEUED, event_id)
    if installation is not None:
        pipe.zrem(BACKLOG + installation, event_id)
    try:
        pipe.execute()
    except (redis.RedisError, OSError):  # the sets only steer the drain and the next events
        log.warning("tasks.taken-not-recorded", extra={"installation": installation})


@shared_task(name="baton.process_event", bind=True, max_retries=None)
def process_event(self: Task, event_id: int, installation: str | None = None) -> None:
    broker = _broker(self.app.conf.broker_url)
    _taken(self.app.conf.broker_url, event_id, installation)
    try:
        held = _pipeline().process_event(event_id)
    except RetryLater as e:
        broker.zadd(QUEUED, {event_id: time.time()})  # waiting in the broker again, as a countdown
        raise self.retry(countdown=e.delay)
    for delivery in held:  # write back at once, in this task; only a wait goes back to the queue
        try:
            _pipeline().send(delivery)
        except RetryLater as e:  # if this publish fails, the drain finds the row
            self.app.send_task("baton.deliver", (delivery.row.id,), countdown=e.delay)


@shared_task(name="baton.deliver", bind=True, max_retries=None)
def deliver(self: Task, outbox_id: int) -> None:
    try:
        _pipeline().deliver(outbox_id)
    except RetryLater as e:
        raise self.retry(countdown=e.delay)


@shared_task(name="baton.drain", bind=True)
def drain(self: Task) -> None:
    """Queue what is due (``Pipeline.released``: of an installation held after a 429, one probe at
    Retry-After and the rest once it answered), through fair dispatch: an installation's work past
    FAIR_BACKLOG waiting goes to the bulk queue, so a storm's backlog released at once never waits
    in front of the other tenants."""
    pipeline = _pipeline()
    events, writes = pipeline.released()
    broker = _broker(self.app.conf.broker_url)
    queued = {int(m): at for m, at in broker.zrange(QUEUED, 0, -1, withscores=True)}
    held, orphans = _held(broker, pipeline.requeue_after.total_seconds())
    heads = [_head(broker, name, queued) for name in (QUEUE, BULK)]
    for eid, inst in events:
        at = queued.get(eid)
        if eid in held or (at is not None and eid not in orphans and any(h is not None and h <= at for h in heads)):
            continue  # a worker has it, or something published no later still waits: its turn will come
        try:
            queue = _fair_queue(_published(self.app.conf.broker_url, eid, inst))
        except redis.RedisError:  # the count only steers: the main queue
            queue = QUEUE
        self.app.send_task("baton.process_event", (eid,), {"installation": inst}, queue=queue)
        pipeline.store.events.mark_enqueued(eid)
    extra: dict[str, int] = {}  # writes queued for each installation in this pass (not in its backlog count)
    for oid, inst in writes:
        extra[inst] = extra.get(inst, 0) + 1
        try:
            queue = _fair_queue(_backlog(broker, inst) + extra[inst])
        except redis.RedisError:
            queue = QUEUE
        self.app.send_task("baton.deliver", (oid,), queue=queue)


def _fair_queue(waiting: int) -> str:
    """The queue for one more task of an installation with ``waiting`` tasks waiting, itself
    included (see FAIR_BACKLOG)."""
    return BULK if waiting > FAIR_BACKLOG else QUEUE


UNACKED, UNACKED_INDEX = "unacked", "unacked_index"  # kombu's Redis transport: messages a worker holds


def _head(broker: redis.Redis, queue: str, queued: dict[int, float]) -> float | None:
    """When the oldest task still waiting in ``queue`` was published (kombu pushes on the left and
    takes from the right): None when the queue is empty, minus infinity when that is not known (not
    an event's task). An event queued before it that is neither waiting there (a queue is first in,
    first out) nor held by a worker had its task lost: a worker SIGKILLed between taking a message
    and recording it as held, a broker that lost its last second of writes."""
    try:
        raw = broker.lindex(queue, -1)
    except redis.RedisError:
        return -math.inf
    if raw is None:
        return None
    event = _event_of(json.loads(raw))
    return queued.get(event, -math.inf) if event is not None else -math.inf


def _event_of(message: dict) -> int | None:
    """The event id of a ``baton.process_event`` message as kombu stores it, else None."""
    try:
        if message["headers"]["task"] == "baton.process_event":
            return int(json.loads(base64.b64decode(message["body"]))[0][0])
    except (TypeError, ValueError, KeyError, IndexError):
        pass  # not a message of ours, or of another shape
    return None


def _held(broker: redis.Redis, older_than: float) -> tuple[set[int], set[int]]:
    """Events whose task a worker has taken and not acked: (held less than ``older_than`` seconds,
    held longer). A worker holds a message (late ack) while it runs the task or waits to (prefetch),
    never longer than the task's time limit; one held longer belonged to a connection that died
    (the broker or the worker crashed). Kombu gives such messages back only after the visibility
    timeout (an hour): the drain queues their events again now (a later redelivery of the old
    message finds the event processed and does nothing)."""
    try:
        since = dict(broker.zrange(UNACKED_INDEX, 0, -1, withscores=True))
        messages = broker.hmget(UNACKED, list(since)) if since else []
    except redis.RedisError:
        return set(), set()
    recent, orphans = set(), set()
    for tag, raw in zip(since, messages):
        try:
            message = json.loads(raw)[0]
            event = _event_of(message)
            # a retry's countdown is held until its time (eta), and only then runs
            eta = message["headers"].get("eta")
            held_from = max(since[tag], datetime.fromisoformat(eta).timestamp() if eta else 0.0)
        except (TypeError, ValueError, IndexError, KeyError, AttributeError):
            continue  # not of the shape kombu writes: left to kombu
        if event is not None:
            (orphans if held_from < time.time() - older_than else recent).add(event)
    return recent, orphans


@shared_task(name="baton.sync_rosters", bind=True)
def sync_rosters(self: Task) -> None:
    for inst_id in _pipeline().store.installations.active():
        self.app.send_task("baton.sync_roster", (inst_id,))


@shared_task(name="baton.reprobe")
def reprobe() -> None:
    _pipeline().reprobe()


@shared_task(name="baton.reread_outcomes")
def reread_outcomes() -> None:
    _pipeline().reread_outcomes()


@shared_task(name="baton.check_slas")
def check_slas() -> None:
    _pipeline().check_slas()


@shared_task(name="baton.retention", bind=True)
def retention(self: Task) -> None:
    """One task per installation: a large one's first run never holds up the others' (nor meets
    the time limit for all of them)."""
    for inst_id in _pipeline().store.lifecycle.retained_installations():
        self.app.send_task("baton.retain", (inst_id,))


@shared_task(name="baton.retain")
def retain(inst_id: str) -> None:
    counts = _pipeline().store.lifecycle.apply_retention(inst_id)
    if any(counts.values()):
        log.info("tasks.retention", extra={"installation": inst_id, **counts})


@shared_task(name="baton.rollups", bind=True)
def rollups(self: Task) -> None:
    """One task per installation, as the retention's."""
    for inst_id in _pipeline().store.lifecycle.retained_installations():
        self.app.send_task("baton.roll_up", (inst_id,))


@shared_task(name="baton.roll_up")
def roll_up(inst_id: str) -> None:
    from integration.service.reports import topic_labels

    store = _pipeline().store
    store.outcomes.settle_rollups(inst_id, datetime.now(timezone.utc).date(),
                                  topic_labels(store.installations.get(inst_id)))


@shared_task(name="baton.reconcile", bind=True)
def reconcile(self: Task) -> None:
    """The events a sweep records are queued as the web tier queues a webhook's (fair dispatch too)."""
    _pipeline().reconcile(CeleryQueue(self.app).enqueue_event)


@shared_task(name="baton.sweep_uninstalled")
def sweep_uninstalled() -> None:
    from integration.service.apps.zendesk import sweep_uninstalled as zendesk_sweep

    baton = current_app.extensions["baton"]
    zendesk_sweep(baton.store, baton.settings)


@shared_task(name="baton.sync_roster")
def sync_roster(inst_id: str) -> None:
    _pipeline().sync_roster(inst_id)


class UnsafeBroker(RuntimeError):
    """The broker's Redis can lose Baton's work: the processes refuse to start on it."""


UNSAFE_OVERRIDE = "BATON_REDIS_UNSAFE=1"


def broker_config_problem(client: redis.Redis) -> str | None:
    """Why the broker's Redis can lose queued tasks or the guards' state (one line naming each
    setting and its fix), or None. Evicting keys when full (any ``maxmemory-policy`` but
    ``noeviction``) drops queued messages and breaker state without an error; without the
    append-only file (``appendonly no``) a restart loses everything written since the last
    snapshot. ``CONFIG GET`` first; a managed Redis may forbid or rename CONFIG (ElastiCache), then
    ``INFO persistence`` and ``INFO memory``, which every Redis answers. Raises redis.RedisError or
    OSError when neither can be read."""
    try:
        appendonly = client.config_get("appendonly").get("appendonly")
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
    except redis.ResponseError:  # CONFIG refused (renamed, disabled or not in the ACL)
        aof = client.info("persistence").get("aof_enabled")
        appendonly = None if aof is None else "yes" if str(aof) == "1" else "no"
        policy = client.info("memory").get("maxmemory_policy")
    if appendonly is None or policy is None:
        raise redis.RedisError("the broker's Redis reports neither appendonly nor maxmemory-policy")
    problems = []
    if str(policy) != "noeviction":
        problems.append(f"maxmemory-policy is {policy}, so a full Redis evicts queued tasks and guard state: "
                        "set maxmemory-policy noeviction")
    if str(appendonly) != "yes":
        problems.append("appendonly is no, so a Redis restart loses the queued tasks: set appendonly yes")
    return "; ".join(problems) or None


def check_broker(settings: Settings, client: redis.Redis | None = None) -> None:
    """At start: refuse (UnsafeBroker, one line) a broker Redis that can lose work, unless the
    deployment says it may (``redis_unsafe``, ``development``: a warning). A Redis whose
    configuration cannot be read (down, or neither CONFIG nor INFO allowed) is not refused: a
    warning, and /healthz reports it."""
    client = client or _broker(settings.redis_url)
    try:
        problem = broker_config_problem(client)
    except (redis.RedisError, OSError) as e:
        log.warning("tasks.redis-config-unknown", extra={"redis": _where(client), "error": f"{type(e).__name__}: {e}"})
        return
    if problem is None:
        return
    if settings.redis_unsafe or settings.development:
        log.warning("tasks.redis-config-unsafe", extra={"redis": _where(client), "why": problem,
                                                         "allowed_by": "BATON_REDIS_UNSAFE" if settings.redis_unsafe
                                                         else "BATON_DEVELOPMENT"})
        return
    message = (f"Baton refuses to start: the broker Redis at {_where(client)} can lose queued work: {problem} "
               f"(redis.conf, or CONFIG SET then CONFIG REWRITE; a managed Redis: its parameter group). "
               f"A development broker: {UNSAFE_OVERRIDE}")
    log.critical("tasks.redis-config-refused", extra={"redis": _where(client), "why": problem})
    raise UnsafeBroker(message)


def broker_health(settings: Settings, client: redis.Redis) -> tuple[str, bool]:
    """/healthz's ``redis_config``: what it says, and whether Baton is healthy on it (a Redis
    reconfigured after the start; one allowed by the settings or not readable is not a failure)."""
    try:
        problem = broker_config_problem(client)
    except (redis.RedisError, OSError) as e:
        return f"unknown: cannot read CONFIG or INFO ({type(e).__name__})", True
    if problem is None:
        return "ok", True
    if settings.redis_unsafe or settings.development:
        return f"unsafe, allowed by {'BATON_REDIS_UNSAFE' if settings.redis_unsafe else 'BATON_DEVELOPMENT'}: {problem}", True
    return problem, False


def _where(client: redis.Redis) -> str:
    """host:port/db of the client's Redis, never its password."""
    kw = client.connection_pool.connection_kwargs
    return kw["path"] if kw.get("path") else f"{kw.get('host')}:{kw.get('port')}/{kw.get('db', 0)}"


class CeleryQueue:
    """What the web layer uses to hand an event to the workers.

    A down broker must turn into a 503 at once, not after the client library's own reconnect
    attempts (seconds): Baton's own bookkeeping of the publish, on a client with no retries, comes
    first and is that probe."""

    def __init__(self, celery: Celery):
        self.celery = celery
        self._probe = _broker(celery.conf.broker_url)

    def enqueue_event(self, event_id: int, installation: str | None = None) -> str:
        """Publish the event for the workers; returns the queue it went to (see FAIR_BACKLOG).
        Baton's bookkeeping goes first, on the client without retries: it is the quick probe."""
        try:
            queue = _fair_queue(_published(self.celery.conf.broker_url, event_id, installation))
            self.celery.send_task("baton.process_event", (event_id,),
                                  {"installation": installation} if installation else None, queue=queue, retry=False)
        except (OperationalError, OSError, redis.RedisError) as e:
            raise QueueUnavailable(str(e)) from e
        return queue

    def ping(self) -> None:
        try:
            self._probe.ping()
        except (redis.RedisError, OSError) as e:
            raise QueueUnavailable(str(e)) from e

    def config_health(self, settings: Settings) -> tuple[str, bool]:
        """/healthz's ``redis_config`` (see ``broker_health``)."""
        return broker_health(settings, self._probe)


class LocalQueue:
    """The embedded default: the same pipeline steps on a background thread of this process,
    with delays honoured (a rate-limited write waits for Retry-After, never hammers). Its queue
    lives in memory, so at start it takes up every event and write a previous process left
    unfinished."""

    def __init__(self, pipeline: Pipeline, drain_every: float = 5.0, reprobe_every: float = 300.0,
                 reconcile_every: float = Settings.reconcile_seconds):
        self.pipeline = pipeline
        self._reconcile_every = reconcile_every
        self._heap: list[tuple[float, int, str, int]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._busy = 0
        self._stop = False
        self._drain_every = drain_every
        self._reprobe_every = reprobe_every
        for eid in pipeline.store.events.unfinished():  # nothing else will ever queue these again
            self._push(0.0, "event", eid)
        self._thread = threading.Thread(target=self._run, name="baton-local-queue", daemon=True)
        self._thread.start()

    def enqueue_event(self, event_id: int, installation: str | None = None) -> str:
        self._push(0.0, "event", event_id)
        return "local"

    def ping(self) -> None:
        if not self._thread.is_alive():
            raise QueueUnavailable("local queue stopped")

    def _push(self, delay: float, kind: str, ident: int) -> None:
        with self._cv:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), kind, ident))
            self._cv.notify()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until nothing runs and nothing is due before the timeout ends."""
        end = time.monotonic() + timeout
        with self._cv:
            while self._busy or (self._heap and self._heap[0][0] <= end):
                remaining = end - time.monotonic()
                if remaining <= 0:
                    return False
                self._cv.wait(timeout=remaining)
        return True

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        next_drain = time.monotonic() + self._drain_every
        next_reprobe = time.monotonic() + self._reprobe_every
        next_sla = time.monotonic() + SLA_SECONDS
        next_reconcile = time.monotonic() + self._reconcile_every
        next_retention = time.monotonic()  # at start, then hourly: a laptop is rarely up an hour
        while True:
            with self._cv:
                while not self._stop:
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        break
                    wake = min(self._heap[0][0] if self._heap else next_drain, next_drain)
                    if now >= next_drain:
                        break
                    self._cv.wait(timeout=max(0.0, wake - now))
                if self._stop:
                    return
                item = heapq.heappop(self._heap) if self._heap and self._heap[0][0] <= time.monotonic() else None
                self._busy += 1
            try:
                if item is None:
                    next_drain = time.monotonic() + self._drain_every
                    if time.monotonic() >= next_reprobe:
                        next_reprobe = time.monotonic() + self._reprobe_every
                        self.pipeline.reprobe()
                    if time.monotonic() >= next_sla:
                        next_sla = time.monotonic() + SLA_SECONDS
                        self.pipeline.check_slas()
                    if time.monotonic() >= next_reconcile:
                        next_reconcile = time.monotonic() + self._reconcile_every
                        self.pipeline.reconcile(self.enqueue_event)
                    if time.monotonic() >= next_retention:
                        next_retention = time.monotonic() + RETENTION_SECONDS
                        self.pipeline.store.lifecycle.apply_retention_everywhere()
                    events, writes = self.pipeline.due()
                    for eid in events:
                        self.pipeline.store.events.mark_enqueued(eid)
                        self._push(0.0, "event", eid)
                    for oid in writes:
                        self._push(0.0, "deliver", oid)
                else:
                    self._step(item[2], item[3])
            except Exception:  # a bug in one step must not stop the queue
                log.exception("tasks.local-queue.step-failed")
            finally:
                with self._cv:
                    self._busy -= 1
                    self._cv.notify_all()

    def _step(self, kind: str, ident: int) -> None:
        step: Callable[[int], object] = self.pipeline.process_event if kind == "event" else self.pipeline.deliver
        try:
            result = step(ident)
        except RetryLater as e:
            self._push(e.delay, kind, ident)
            return
        if kind == "event":
            for delivery in result:  # type: ignore[union-attr]
                try:
                    self.pipeline.send(delivery)
                except RetryLater as e:
                    self._push(e.delay, "deliver", delivery.row.id)
