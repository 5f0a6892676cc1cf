"""The Celery app and thin tasks around the pipeline, plus the embedded in-process queue.

Reliability settings (../shared/reference/reliability_anchors.md §2.3): late ack and requeue on
a lost worker, prefetch 1, only ids in task arguments (no customer text in Redis), countdowns
always well below the visibility timeout (longer waits are parked in the store and drained).
"""
from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from functools import lru_cache
from typing import Callable

import redis
from celery import Celery
from redis.backoff import NoBackoff
from redis.retry import Retry
from kombu.exceptions import OperationalError

from integration.pipeline import Pipeline, RetryLater
from integration.store import Store, Vault, default_url

log = logging.getLogger("baton.tasks")


class QueueUnavailable(Exception):
    pass


def visibility_timeout() -> int:
    return int(os.environ.get("BATON_VISIBILITY_TIMEOUT", "3600"))


def celery_config() -> dict[str, object]:
    vt = visibility_timeout()
    return {
        "broker_url": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "broker_transport_options": {"visibility_timeout": vt},
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_ignore_result": True,
        "task_time_limit": min(300, vt // 2),
        "task_soft_time_limit": min(240, vt // 3),
        "broker_connection_retry_on_startup": True,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "beat_schedule": {
            "baton-drain": {"task": "baton.drain", "schedule": float(os.environ.get("BATON_DRAIN_SECONDS", "15"))},
            "baton-rosters": {"task": "baton.sync_rosters",
                              "schedule": float(os.environ.get("BATON_ROSTER_SECONDS", "300"))},
        },
    }


app = Celery("baton")
app.conf.update(celery_config())


def configure(redis_url: str) -> None:
    """Point this process's publisher at another broker (tests and the embedded server)."""
    app.conf.broker_url = redis_url
    if app._pool is not None:  # connections made for the old URL must not be reused
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None


@lru_cache(maxsize=1)
def pipeline() -> Pipeline:
    store = Store(default_url(), Vault.from_env())
    park_after = min(300.0, visibility_timeout() / 4)  # a countdown never nears the visibility timeout
    return Pipeline(store, park_after=park_after)


@app.task(name="baton.process_event", bind=True, max_retries=None)
def process_event(self, event_id: int) -> None:  # type: ignore[no-untyped-def]
    try:
        outbox_ids = pipeline().process_event(event_id)
    except RetryLater as e:
        raise self.retry(countdown=e.delay)
    for oid in outbox_ids:  # write back at once, in this task; only a wait goes back to the queue
        try:
            pipeline().deliver(oid)
        except RetryLater as e:
            deliver.apply_async((oid,), countdown=e.delay)  # if this publish fails, the drain finds the row


@app.task(name="baton.deliver", bind=True, max_retries=None)
def deliver(self, outbox_id: int) -> None:  # type: ignore[no-untyped-def]
    try:
        pipeline().deliver(outbox_id)
    except RetryLater as e:
        raise self.retry(countdown=e.delay)


@app.task(name="baton.drain")
def drain() -> None:
    events, writes = pipeline().due()
    for eid in events:
        process_event.delay(eid)
        pipeline().store.mark_enqueued(eid)
    for oid in writes:
        deliver.delay(oid)


@app.task(name="baton.sync_rosters")
def sync_rosters() -> None:
    for inst_id in pipeline().store.active_installations():
        sync_roster.delay(inst_id)


@app.task(name="baton.sync_roster")
def sync_roster(inst_id: str) -> None:
    pipeline().sync_roster(inst_id)


class CeleryQueue:
    """What the web layer uses to hand an event to the workers.

    A down broker must turn into a 503 at once, not after the client library's own reconnect
    attempts (seconds): a quick ping with no retries comes first."""

    def enqueue_event(self, event_id: int) -> None:
        self.ping()
        try:
            process_event.apply_async((event_id,), retry=False)
        except (OperationalError, OSError) as e:
            raise QueueUnavailable(str(e)) from e

    def ping(self) -> None:
        try:
            _probe(app.conf.broker_url).ping()
        except (redis.RedisError, OSError) as e:
            raise QueueUnavailable(str(e)) from e


@lru_cache(maxsize=4)
def _probe(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2, retry=Retry(NoBackoff(), 0))


class LocalQueue:
    """The embedded default: the same pipeline steps on a background thread of this process,
    with delays honoured (a rate-limited write waits for Retry-After, never hammers)."""

    def __init__(self, pipeline: Pipeline, drain_every: float = 5.0):
        self.pipeline = pipeline
        self._heap: list[tuple[float, int, str, int]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._busy = 0
        self._stop = False
        self._drain_every = drain_every
        self._thread = threading.Thread(target=self._run, name="baton-local-queue", daemon=True)
        self._thread.start()

    def enqueue_event(self, event_id: int) -> None:
        self._push(0.0, "event", event_id)

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
                    events, writes = self.pipeline.due()
                    for eid in events:
                        self.pipeline.store.mark_enqueued(eid)
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
            for oid in result:  # type: ignore[union-attr]
                self._push(0.0, "deliver", oid)
