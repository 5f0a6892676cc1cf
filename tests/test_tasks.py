import time

from integration import tasks
from integration.pipeline import RetryLater


def test_reliability_settings_hold():
    conf = tasks.celery_config()
    vt = conf["broker_transport_options"]["visibility_timeout"]
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["task_time_limit"] < vt
    assert min(300.0, vt / 4) < vt  # the longest countdown a task is ever given


class FlakyPipeline:
    """Fails the first write with a short wait, as a 429 with Retry-After would."""

    def __init__(self):
        self.calls: list[tuple[str, int, float]] = []
        self.store = None

    def process_event(self, event_id):
        self.calls.append(("event", event_id, time.monotonic()))
        return [event_id * 10]

    def deliver(self, outbox_id):
        self.calls.append(("deliver", outbox_id, time.monotonic()))
        if len([c for c in self.calls if c[0] == "deliver"]) == 1:
            raise RetryLater(0.3, "rate limited")
        return "sent"

    def due(self):
        return [], []


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
    tasks.configure("redis://127.0.0.1:1/0")
    try:
        try:
            tasks.CeleryQueue().enqueue_event(1)
            raised = False
        except tasks.QueueUnavailable:
            raised = True
        assert raised
    finally:
        tasks.configure(tasks.celery_config()["broker_url"])
