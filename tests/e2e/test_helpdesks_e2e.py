"""The shared end-to-end suite, run on every helpdesk with a real Redis and a real Celery worker."""
import threading
import time

import pytest
import requests

from connectors.zendesk import webhook

from integration.tools.local import wait_for

HUMAN = "I already tried restarting twice. Can I talk to a human please?"


def post(h, body: bytes, headers: dict) -> requests.Response:
    return requests.post(f"{h.baton_url}/webhooks/{h.inst.provider}/{h.inst.id}", data=body,
                         headers={"Content-Type": "application/json", **headers}, timeout=10)


def test_webhook_to_note_in_the_helpdesk(harness):
    h, desk = harness, harness.helpdesk
    cid = desk.new_conversation(HUMAN)
    (note,) = wait_for(lambda: desk.notes(cid))
    assert "[Baton handoff]" in note and "talk to a human" in note
    routine = desk.new_conversation("What are your opening hours?")
    wait_for(lambda: any(e["status"] == "processed" for e in h.events(routine)))
    h.quiet(1)
    assert desk.notes(routine) == []


def test_on_postgresql_too(pg_harness):
    h, desk = pg_harness, pg_harness.helpdesk
    cid = desk.new_conversation(HUMAN)
    wait_for(lambda: desk.notes(cid))
    h.quiet(1)
    assert len(desk.notes(cid)) == 1


def test_duplicate_deliveries_sequential_and_concurrent_give_one_note(harness):
    h, desk = harness, harness.helpdesk
    cid = desk.new_conversation(HUMAN)
    wait_for(lambda: desk.notes(cid))
    h.quiet(1)
    rows = len(h.events(cid))
    first = desk.deliveries_for(cid)[0]
    for _ in range(10):
        assert desk.redeliver(first) == 200
    threads = [threading.Thread(target=desk.redeliver, args=(first,)) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    h.quiet()
    assert len(desk.notes(cid)) == 1
    assert len(h.events(cid)) == rows  # a redelivery is recognised, not recorded again


def test_our_own_writes_echo_back_and_are_dropped(harness):
    h, desk = harness, harness.helpdesk
    cid = desk.new_conversation(HUMAN)
    wait_for(lambda: desk.notes(cid))
    h.quiet()
    writes = len(desk.writes(cid))
    rows = len(h.events(cid))
    h.quiet()
    assert len(desk.notes(cid)) == 1 and len(desk.writes(cid)) == writes
    assert len(h.events(cid)) == rows
    assert all(desk.status_of(i) == 200 for i in desk.deliveries_for(cid))  # echoes answered, never retried


def test_bad_or_missing_signatures_get_401_and_nothing_is_recorded(harness):
    h, desk = harness, harness.helpdesk
    body = desk.forged()
    for headers in ({}, desk.auth(h.inst, body, secret="another-tenants-secret-" + "x" * 30)):
        assert post(h, body, headers).status_code == 401
    assert h.events() == []
    assert not [r for r in desk.api_log() if "4242" in r["path"]]


@pytest.mark.parametrize("harness", ["zendesk"], indirect=True)  # the only helpdesk that signs a timestamp
def test_stale_zendesk_timestamp_is_refused(harness):
    h, desk = harness, harness.helpdesk
    body = desk.forged()
    stale = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 301))
    r = post(h, body, {webhook.TIMESTAMP: stale, webhook.SIGNATURE: webhook.sign(h.inst.webhook_secret, stale, body)})
    assert r.status_code == 401 and h.events() == []


def test_body_of_one_mib_plus_one_byte_is_413(harness):
    h, desk = harness, harness.helpdesk
    body = b" " * (1024 * 1024 + 1)
    assert post(h, body, desk.auth(h.inst, body)).status_code == 413
    assert h.events() == []


def test_429_storm_every_write_lands_once_and_none_before_retry_after(harness):
    h, desk = harness, harness.helpdesk
    desk.throttle(6, retry_after=2)
    cids = [desk.new_conversation(HUMAN) for _ in range(3)]
    for cid in cids:
        wait_for(lambda cid=cid: desk.notes(cid), timeout=60)
    h.quiet()
    assert [len(desk.notes(c)) for c in cids] == [1, 1, 1]
    log = desk.api_log()
    limited = [r for r in log if r["status"] == 429]
    assert limited
    last_429 = max(r["at"] for r in limited)
    after = [r for r in log if r["at"] > last_429]
    assert after and min(r["at"] for r in after) >= last_429 + 2  # nothing before Retry-After


def test_worker_killed_mid_write_is_processed_exactly_once_after_restart(harness):
    h, desk = harness, harness.helpdesk
    desk.delay(3)
    cid = desk.new_conversation(HUMAN)
    wait_for(lambda: [r for r in desk.api_log() if r["method"] == desk.write_method and r["status"] is None])
    h.worker.kill()  # inside a call the helpdesk will complete
    desk.delay(0)
    h.worker.start()
    wait_for(lambda: [o for o in h.outbox() if o["ticket_id"] == str(cid) and o["status"] == "sent"], timeout=60)
    h.quiet()
    assert len(desk.notes(cid)) == 1


def test_redis_down_answers_503_and_nothing_acknowledged_is_lost(harness):
    h, desk = harness, harness.helpdesk
    before = desk.new_conversation(HUMAN)
    wait_for(lambda: desk.notes(before))
    h.quiet(1)
    h.redis.stop()
    during = desk.new_conversation(HUMAN)
    desk.wait_for_deliveries(timeout=15)
    attempts = desk.deliveries_for(during)
    assert attempts and all(desk.status_of(i) == 503 for i in attempts)  # never a 2xx while the queue is down
    assert {e["status"] for e in h.events(during)} == {"received"}
    h.redis.start()
    wait_for(lambda: desk.notes(during), timeout=90)
    h.quiet()
    assert len(desk.notes(before)) == 1 and len(desk.notes(during)) == 1


def _stream(desk, n: int) -> list:
    """n conversations that must be handed over, one after the other, as customers write in."""
    return [desk.new_conversation(f"{HUMAN} (order {i})") for i in range(n)]


def test_a_warm_shutdown_mid_stream_loses_and_repeats_nothing(harness):
    """R7: a deploy stops the worker with SIGTERM while work is queued and running; Celery finishes
    the task in hand and leaves the rest in the broker; the next worker takes it from there."""
    h, desk = harness, harness.helpdesk
    desk.delay(0.3)  # each write takes a while: the stop comes while one is under way
    cids = _stream(desk, 8)
    wait_for(lambda: any(desk.notes(c) for c in cids), timeout=60)
    h.worker.stop()  # SIGTERM: a warm shutdown
    desk.delay(0)
    h.worker.start()
    for cid in cids:
        wait_for(lambda cid=cid: desk.notes(cid), timeout=90)
    h.quiet()
    assert [len(desk.notes(c)) for c in cids] == [1] * len(cids)
    assert {e["status"] for c in cids for e in h.events(c)} <= {"processed"}


def test_redis_killed_mid_stream_comes_back_from_its_append_only_file_and_nothing_is_lost(harness):
    """R6: the broker crashes (SIGKILL) while events wait in it; restarted on its append-only file,
    it still holds them (what the last second's fsync missed, the drain re-queues from the store)."""
    h, desk = harness, harness.helpdesk
    h.worker.stop()  # events pile up in the broker
    cids = _stream(desk, 6)
    desk.wait_for_deliveries(timeout=15)
    assert {e["status"] for c in cids for e in h.events(c)} == {"enqueued"}
    time.sleep(1.5)  # past appendfsync everysec
    h.redis.kill()
    h.redis.start()
    h.worker.start()
    for cid in cids:
        wait_for(lambda cid=cid: desk.notes(cid), timeout=90)
    h.quiet()
    assert [len(desk.notes(c)) for c in cids] == [1] * len(cids)
