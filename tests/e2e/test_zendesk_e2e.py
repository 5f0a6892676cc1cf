"""Zendesk end to end with a real Redis broker and a real Celery worker process."""
import json
import threading
import time

import requests

from connectors.zendesk import webhook
from tests.e2e.harness import wait_for

HUMAN = "I already tried restarting twice. Can I talk to a human please?"


def test_webhook_to_note_in_the_sandbox(harness):
    h = harness
    ticket = h.new_ticket(HUMAN)
    (note,) = wait_for(lambda: h.notes(ticket))
    assert "[Baton handoff]" in note["html_body"] and "talk to a human" in note["html_body"]
    t = h.sandbox.get_ticket(ticket)
    assert "baton_escalated" in t["tags"]
    routine = h.new_ticket("What are your opening hours?")
    wait_for(lambda: [e for e in h.events() if e["ticket_id"] == str(routine) and e["status"] == "processed"])
    assert h.notes(routine) == []


def test_on_postgresql_too(pg_harness):
    h = pg_harness
    ticket = h.new_ticket(HUMAN)
    wait_for(lambda: h.notes(ticket))
    h.quiet(1)
    assert len(h.notes(ticket)) == 1 and len(h.puts(ticket)) == 1


def test_duplicate_deliveries_sequential_and_concurrent_give_one_note(harness):
    h = harness
    ticket = h.new_ticket(HUMAN)
    h.sandbox.wait_for_deliveries(timeout=10)
    first = next(i for i, d in enumerate(h.sandbox.deliveries) if str(ticket) in d["body"].decode())
    for _ in range(10):
        assert h.sandbox.redeliver(first) == 200
    threads = [threading.Thread(target=h.sandbox.redeliver, args=(first,)) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_for(lambda: h.notes(ticket))
    h.quiet()
    assert len(h.notes(ticket)) == 1
    assert len(h.puts(ticket)) == 1
    assert len([e for e in h.events() if e["ticket_id"] == str(ticket)]) == 1


def test_our_own_update_echoes_back_and_is_dropped(harness):
    h = harness
    ticket = h.new_ticket(HUMAN)
    wait_for(lambda: h.notes(ticket))
    h.quiet()
    # the sandbox sent comment_added (our private note), priority_changed and tags_changed for our PUT
    echoes = [d for d in h.sandbox.deliveries if str(ticket) in d["body"].decode()
              and json.loads(d["body"])["detail"].get("actor_id") == str(h.sandbox.api_user_id)]
    assert echoes and all(d["status"] == 200 for d in echoes)
    assert len(h.puts(ticket)) == 1
    assert len([e for e in h.events() if e["ticket_id"] == str(ticket)]) == 1  # echoes never recorded


def _post(h, body: bytes, headers: dict) -> requests.Response:
    return requests.post(f"{h.baton_url}/webhooks/zendesk/{h.inst.id}", data=body,
                         headers={"Content-Type": "application/json", **headers}, timeout=10)


def _forged(h, ticket: int) -> bytes:
    return json.dumps({"type": "zen:event-type:ticket.comment_added", "id": f"forged-{ticket}", "time": "2026-11-20T10:00:00Z",
                       "detail": {"id": str(ticket)}, "event": {"comment": {"author": {"id": "1"}, "is_public": True}}}).encode()


def test_invalid_missing_or_stale_signatures_get_401_and_nothing_happens(harness):
    h = harness
    body = _forged(h, 4242)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    stale = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 301))
    good = webhook.sign(h.inst.webhook_secret, stamp, body)
    cases = [
        {},
        {webhook.TIMESTAMP: stamp},
        {webhook.TIMESTAMP: stamp, webhook.SIGNATURE: webhook.sign("wrong-secret", stamp, body)},
        {webhook.TIMESTAMP: stale, webhook.SIGNATURE: webhook.sign(h.inst.webhook_secret, stale, body)},
        {webhook.TIMESTAMP: stamp, webhook.SIGNATURE: good[:-2] + "A="},
    ]
    for headers in cases:
        assert _post(h, body, headers).status_code == 401
    assert h.events() == []
    assert h.sandbox.requests_log and not [r for r in h.sandbox.requests_log if "4242" in r["path"]]


def test_body_of_one_mib_plus_one_byte_is_413(harness):
    h = harness
    body = b" " * (1024 * 1024 + 1)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    r = _post(h, body, {webhook.TIMESTAMP: stamp, webhook.SIGNATURE: webhook.sign(h.inst.webhook_secret, stamp, body)})
    assert r.status_code == 413
    assert h.events() == []


def test_429_storm_every_write_lands_once_and_none_before_retry_after(harness):
    h = harness
    h.sandbox.throttle(6, retry_after=2)
    tickets = [h.new_ticket(HUMAN) for _ in range(3)]
    for t in tickets:
        wait_for(lambda t=t: h.notes(t), timeout=60)
    h.quiet()
    assert [len(h.notes(t)) for t in tickets] == [1, 1, 1]
    assert [len([p for p in h.puts(t) if p["status"] == 200]) for t in tickets] == [1, 1, 1]
    log = [r for r in h.sandbox.requests_log if r["path"].startswith("/api/v2/tickets") or "/users/" in r["path"]]
    limited = [r for r in log if r["status"] == 429]
    assert limited
    # after a 429, the worker's next request comes no sooner than Retry-After
    last_429 = max(r["at"] for r in limited)
    after = [r for r in log if r["at"] > last_429]
    assert after and min(r["at"] for r in after) >= last_429 + 2


def test_worker_killed_mid_write_is_processed_exactly_once_after_restart(harness):
    h = harness
    h.sandbox.delay(3, "PUT")
    ticket = h.new_ticket(HUMAN)
    wait_for(lambda: h.puts(ticket))  # the worker is inside the PUT
    h.worker.kill()
    wait_for(lambda: h.notes(ticket), timeout=10)  # the helpdesk finished the write the worker never recorded
    h.sandbox.delay(0, "PUT")
    h.worker.start()
    wait_for(lambda: [o for o in h.outbox() if o["ticket_id"] == str(ticket) and o["status"] == "sent"], timeout=60)
    h.quiet()
    assert len(h.notes(ticket)) == 1
    assert len(h.puts(ticket)) == 1


def test_redis_down_answers_503_and_nothing_acknowledged_is_lost(harness):
    h = harness
    before = h.new_ticket(HUMAN)  # acknowledged while Redis is up
    wait_for(lambda: h.notes(before))
    h.redis.stop()
    during = h.new_ticket(HUMAN)
    h.sandbox.wait_for_deliveries(timeout=15)
    attempts = [d for d in h.sandbox.deliveries if str(during) in d["body"].decode()]
    assert attempts and all(d["status"] == 503 for d in attempts)  # never a 2xx while the queue is down
    assert [e["status"] for e in h.events() if e["ticket_id"] == str(during)] == ["received"]
    h.redis.start()
    wait_for(lambda: h.notes(during), timeout=90)  # the drain, or the helpdesk's next retry, queues it
    h.quiet()
    assert len(h.notes(before)) == 1 and len(h.notes(during)) == 1
