"""Operations metrics for Prometheus (``prometheus_client``): what an on-call engineer graphs and
alerts on. Labels are bounded: the helpdesk (three values), a result or action from a fixed set;
never an installation, ticket or event id.

The web tier serves ``GET /metrics``: the counters (webhooks and their acknowledgement time in the
web processes; decisions, write-backs and rate-limit waits where the pipeline runs) and two
gauges read from the database when scraped (queue depth, dead letters). gunicorn and Celery run
several processes: with ``PROMETHEUS_MULTIPROC_DIR`` set for all of them (one directory per
machine, emptied at start), ``/metrics`` sums every process's counters (prometheus_client's
multiprocess mode); without it, a process shows its own (the demo's embedded queue runs in the
web process, so it shows everything).
"""
from __future__ import annotations

from typing import Any, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

WEBHOOKS = Counter("baton_webhooks_total", "Webhook deliveries answered, by helpdesk and result",
                   ["helpdesk", "result"])
ACK_SECONDS = Histogram("baton_webhook_ack_seconds", "Time to answer a webhook delivery", ["helpdesk"],
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
DECISIONS = Counter("baton_decisions_total", "Decisions made, by helpdesk and action", ["helpdesk", "action"])
WRITEBACKS = Counter("baton_writebacks_total", "Write-back attempts, by helpdesk and result", ["helpdesk", "result"])
RATE_LIMIT_WAITS = Counter("baton_rate_limit_waits_total", "Times a helpdesk answered 429 and Baton waited",
                           ["helpdesk"])
# integration/service/quota.py: Baton's own share of each account's rate limit, and its breakers
QUOTA_WAITS = Counter("baton_quota_waits_total", "Calls that waited for Baton's own share of an account's rate "
                      "limit: slept (under a second) or deferred (the step waits and retries)", ["helpdesk", "result"])
BREAKER_CHANGES = Counter("baton_breaker_changes_total", "Circuit breaker state changes of installations: broken "
                          "(opened or re-opened), recovery (a probe call let through), ok (closed)",
                          ["helpdesk", "state"])
BREAKER_REFUSED = Counter("baton_breaker_refused_total", "Calls not made because the installation's breaker was open",
                          ["helpdesk"])
OUT_OF_TIME = Counter("baton_evaluations_out_of_time_total", "Evaluations that ran out of their time budget and "
                      "were decided on the signals that finished")
LOOP_BREAKS = Counter("baton_loop_breaks_total", "Write-backs not sent: their ticket had the most writes allowed "
                      "in ten minutes", ["helpdesk"])

# what a webhook answer means, by status (200s say it in their body)
RESULTS = {400: "not_ours", 401: "invalid_signature", 404: "unknown", 410: "uninstalled", 413: "too_large",
           415: "not_json", 503: "unavailable"}


def webhook_result(status: int, body: Any) -> str:
    if status == 200:
        said = body.get("status") if isinstance(body, dict) else None
        return said if said in ("queued", "duplicate") else "ignored"
    return RESULTS.get(status, "other")


class StoreGauges(Collector):
    """Queue depth and dead letters, read from the database when Prometheus scrapes (two counts)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            depth, dead = self.store.events.backlog()
        except Exception:  # noqa: BLE001 - a scrape must not fail because the database is down
            return
        queue = GaugeMetricFamily("baton_queue_depth", "Events received or queued and not processed yet",
                                  labels=["helpdesk"])
        letters = GaugeMetricFamily("baton_dead_letters", "Dead events and write-backs waiting for a replay",
                                    labels=["helpdesk", "kind"])
        for helpdesk, n in depth.items():
            queue.add_metric([helpdesk], n)
        for (helpdesk, kind), n in dead.items():
            letters.add_metric([helpdesk, kind], n)
        yield queue
        yield letters


def exposition(store: Any, multiprocess_dir: str = "") -> bytes:
    """The text Prometheus scrapes."""
    if multiprocess_dir:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=multiprocess_dir)
        registry.register(StoreGauges(store))
        return generate_latest(registry)
    register_store(store)
    return generate_latest(REGISTRY)


def register_store(store: Any) -> None:
    """Add the database gauges to this process's registry once (tests and the demo build several apps)."""
    global _registered
    if _registered is None:
        _registered = StoreGauges(store)
        REGISTRY.register(_registered)
    else:
        _registered.store = store


_registered: StoreGauges | None = None
