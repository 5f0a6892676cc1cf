"""Pipeline figures with real processes: gunicorn (the Procfile's web), a Celery worker on a real
Redis, the Zendesk sandbox. Prints figures; asserts nothing.

    .venv/bin/python bench/pipeline.py [--seconds 10] [--ack-rate 200] [--e2e-rate 50] [--database URL]
    .venv/bin/python bench/pipeline.py --worker 400 [--database URL]   # only 4.
    .venv/bin/python bench/pipeline.py --calls-only                    # only 3.

1. webhook acknowledgement latency (client side, p50/p99) at a sustained rate of signed webhooks;
2. end-to-end latency at a sustained rate of escalating conversations: from the moment the
   sandbox sends the webhook to the moment the write-back has landed in the sandbox (p50/p95);
3. API calls per escalation (reads and writes), counted by the sandbox, on each helpdesk;
4. worker decisions per second on one core, and SQL statements and transactions per event.
Targets (issue #3, this 2-core machine): ack p99 ≤ 50 ms at 200/s; end-to-end p95 ≤ 1 s at 50/s;
one write call per Zendesk escalation.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.zendesk import webhook  # noqa: E402
from connectors.zendesk.sandbox import ZendeskDriver, ZendeskSandbox  # noqa: E402
from integration.core.model import State  # noqa: E402
from integration.service.store import Store, Vault, events, outbox  # noqa: E402
from integration.tools.local import CeleryWorker, RedisServer, Server, free_port, install_into, wait_for  # noqa: E402


# Every helpdesk answers with its plan's rate limit, and Baton keeps to half of it
# (integration/service/quota.py): these sandboxes announce an unmetered account.
UNMETERED = 1_000_000


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def paced(rate: float, seconds: float, fn, workers: int = 32) -> list:  # type: ignore[no-untyped-def]
    """Call fn(i) at a steady rate (open loop: a slow answer does not slow the sender)."""
    results: list = []
    start = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        futures = []
        for i in range(int(rate * seconds)):
            due = start + i / rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            futures.append(pool.submit(fn, i))
        results = [f.result() for f in futures]
    return results


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--ack-rate", type=float, default=200)
    ap.add_argument("--e2e-rate", type=float, default=50)
    ap.add_argument("--calls-only", action="store_true", help="only count API calls per escalation per helpdesk")
    ap.add_argument("--worker", type=int, metavar="N", help="only the worker's decisions/s on one core, over N conversations")
    ap.add_argument("--helpdesk", default="zendesk", help="with --worker: the helpdesk whose sandbox it reads")
    ap.add_argument("--profile", type=int, metavar="LINES", default=0,
                    help="with --worker: cProfile the worker thread and print this many lines by own and by total time")
    ap.add_argument("--database", default=os.environ.get("BENCH_DATABASE_URL"),
                    help="default: a new SQLite file (PostgreSQL: postgresql://postgres@127.0.0.1/<db>)")
    args = ap.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    if args.worker:
        worker_rate(args.database, args.worker, args.helpdesk, args.profile)
        return 0
    if args.calls_only:
        calls_per_helpdesk()
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="baton-bench-"))
    db = args.database or f"sqlite:///{tmp}/baton.db"
    key = Fernet.generate_key().decode()
    redis = RedisServer(aof=tmp)  # production's setting: Baton refuses a Redis without it (tasks.check_broker)
    redis.start()
    store = Store(db, Vault(key))
    store.migrate()
    env = {**os.environ, "REDIS_URL": redis.url, "DATABASE_URL": db, "BATON_SECRET_KEY": key,
           "PYTHONPATH": str(ROOT), "BATON_DRAIN_SECONDS": "2", "BATON_DEVELOPMENT": "1"}  # the sandbox is on 127.0.0.1
    port = free_port()
    access = tmp / "access.log"  # gunicorn writes each request's time in microseconds: the server side
    gunicorn = os.environ.get("BENCH_GUNICORN", "--workers 2 --threads 8").split()
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", *gunicorn, "--bind",
                            f"127.0.0.1:{port}", "--log-level", "warning", "--access-logfile", str(access),
                            "--access-logformat", "%(D)s %(s)s", "integration.service.web:create_app()"], cwd=ROOT, env=env)
    baton = f"http://127.0.0.1:{port}"
    wait_for(lambda: _up(baton), timeout=30)
    desk = ZendeskDriver(retry_delays=(0.2, 0.5, 1.0))
    desk.sandbox.rate_limit = UNMETERED  # one account at 50 escalations/s: the bench measures Baton, not the quota
    desk.start()
    sandbox = desk.sandbox
    inst = install_into(desk, store, baton)
    pool = tuple(os.environ.get("BENCH_POOL", "--pool=prefork --concurrency=2").split())
    worker = CeleryWorker(env, tmp / "worker.log", tmp / "beat", pool=pool)
    worker.start()
    try:
        print(f"database: {db.split('://')[0]}; web: gunicorn {' '.join(gunicorn)}; worker: celery {' '.join(pool)} + beat; machine: {os.cpu_count()} cores")
        _ack(baton, inst, sandbox, store, args, access, handed_over=False)
        _ack(baton, inst, sandbox, store, args, access, handed_over=True)
        _e2e(sandbox, store, args)
    finally:
        worker.stop()
        web.terminate()
        web.wait(10)
        sandbox.stop()
        redis.stop()
    calls_per_helpdesk()
    return 0


def _up(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=1).status_code in (200, 503)
    except requests.RequestException:
        return False


def _ack(baton: str, inst, sandbox: ZendeskSandbox, store: Store, args, access: Path,  # type: ignore[no-untyped-def]
         handed_over: bool) -> None:
    """Signed comment_added webhooks. Routine questions make the worker read four resources from
    the sandbox each (which shares this machine's two cores); comments on conversations already
    handed over are recorded and dropped by the worker without calling the helpdesk."""
    user = sandbox.add_user("Load", f"load{int(handed_over)}@example.com")
    tickets = [sandbox.create_ticket(user["id"], f"Q{i}", "What are your opening hours?")["id"] for i in range(20)]
    sandbox.wait_for_deliveries(timeout=30)
    if handed_over:
        for t in tickets:
            store.events.set_state(inst.id, str(t), State.ESCALATED)
    session = requests.Session()
    lat: list[float] = []
    codes: dict[int, int] = {}
    lock = threading.Lock()

    def send(i: int) -> None:
        body = json.dumps({
            "type": "zen:event-type:ticket.comment_added", "id": str(uuid.uuid4()), "time": "2026-11-20T10:00:00Z",
            "detail": {"id": str(tickets[i % len(tickets)])},
            "event": {"comment": {"id": str(i), "body": "hours?", "is_public": True,
                                  "author": {"id": str(user["id"]), "is_staff": False, "name": "Load"}}},
        }).encode()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        headers = {"Content-Type": "application/json", webhook.TIMESTAMP: stamp,
                   webhook.SIGNATURE: webhook.sign(inst.webhook_secret, stamp, body)}
        t = time.perf_counter()
        r = session.post(f"{baton}/webhooks/zendesk/{inst.id}", data=body, headers=headers, timeout=10)
        with lock:
            lat.append((time.perf_counter() - t) * 1000)
            codes[r.status_code] = codes.get(r.status_code, 0) + 1

    skip = len(access.read_text().splitlines()) if access.exists() else 0
    paced(args.ack_rate, args.seconds, send)
    time.sleep(1)
    server = [int(line.split()[0]) / 1000 for line in access.read_text().splitlines()[skip:] if "/webhooks/" not in line]
    what = "on handed-over conversations" if handed_over else "with routine questions"
    print(f"\nwebhook acknowledgement at {args.ack_rate:.0f}/s for {args.seconds:.0f} s, {what} ({len(lat)} webhooks), answers {codes}:")
    print(f"  seen by the sender : p50 {statistics.median(lat):.1f} ms, p99 {pct(lat, 0.99):.1f} ms, max {max(lat):.1f} ms")
    print(f"  inside gunicorn    : p50 {statistics.median(server):.1f} ms, p99 {pct(server, 0.99):.1f} ms, max {max(server):.1f} ms")
    t = time.monotonic()
    wait_for(lambda: all(e["status"] in ("processed", "dead") for e in store.rows(events)), timeout=600, every=1)
    print(f"  the worker finished deciding for them {time.monotonic() - t:.0f} s after the last webhook")


def _e2e(sandbox: ZendeskSandbox, store: Store, args) -> None:  # type: ignore[no-untyped-def]
    """Escalating conversations created in the sandbox at a steady rate."""
    n = int(args.e2e_rate * args.seconds)
    users = [sandbox.add_user(f"C{i}", f"c{i}@example.com") for i in range(n)]
    sandbox.reset_log()
    first_delivery = len(sandbox.deliveries)
    created: dict[int, float] = {}

    def create(i: int) -> None:
        t = sandbox.create_ticket(users[i]["id"], f"Help {i}", "I was charged twice!!! I want to talk to a human now.")
        created[t["id"]] = time.monotonic()

    paced(args.e2e_rate, args.seconds, create, workers=8)
    wait_for(lambda: sum(1 for t in created if _landed(sandbox, t)) == len(created), timeout=600, every=0.5)
    sent = {}
    for d in sandbox.deliveries[first_delivery:]:
        body = json.loads(d["body"])
        if body.get("type") == "zen:event-type:ticket.created":
            sent.setdefault(int(body["detail"]["id"]), d["at"])
    landed = {}
    for r in sandbox.requests_log:
        if r["method"] == "PUT" and r["status"] == 200:
            tid = int(r["path"].rstrip("/").rsplit("/", 1)[-1])
            landed.setdefault(tid, r["at"])
    lat = [(landed[t] - sent[t]) * 1000 for t in created if t in landed and t in sent]
    print(f"\nend to end at {args.e2e_rate:.0f} escalating conversations/s for {args.seconds:.0f} s ({len(lat)} tickets): "
          f"p50 {statistics.median(lat):.0f} ms, p95 {pct(lat, 0.95):.0f} ms, max {max(lat):.0f} ms")
    reads = [r for r in sandbox.requests_log if r["method"] == "GET"]
    writes = [r for r in sandbox.requests_log if r["method"] in ("PUT", "POST", "DELETE")]
    print(f"API calls per escalation: {len(writes) / len(created):.2f} writes, {len(reads) / len(created):.2f} reads "
          f"(ticket, comments, requester, organization when set, recent tickets)")


def calls_per_helpdesk(n: int = 20) -> None:
    """API calls per escalation on each helpdesk (the count does not depend on the runtime, so
    this runs the pipeline in-process)."""
    import connectors
    from integration.service.pipeline import Pipeline
    from integration.service.settings import Settings
    from integration.service.tasks import LocalQueue
    from integration.service.web import create_app

    print(f"\nAPI calls per escalation, {n} escalations each (reads · writes):")
    follow_ups: list[str] = []
    for key in connectors.KEYS:
        tmp = Path(tempfile.mkdtemp(prefix=f"baton-calls-{key}-"))
        store = Store(f"sqlite:///{tmp}/baton.db", Vault(Fernet.generate_key().decode()))
        store.migrate()
        queue = LocalQueue(Pipeline(store), drain_every=60)
        server = Server(create_app(Settings(database_url=store.url), store=store, queue=queue))
        desk = connectors.driver(key)()
        desk.start()
        inst = install_into(desk, store, server.url)
        desk.sandbox.reset_log()
        cids = [desk.new_conversation("I was charged twice!!! I want to talk to a human now.") for _ in range(n)]
        for _ in range(3):
            desk.wait_for_deliveries(timeout=30)
            queue.wait_idle(timeout=30)
        assert all(len(desk.notes(c)) == 1 for c in cids), "every escalation should have one note"
        log = [r for r in desk.sandbox.requests_log if r["status"] == 200 or r["status"] == 201]
        writes = [r for r in log if r["method"] in ("PUT", "POST", "DELETE") and "/search" not in r["path"]]
        reads = [r for r in log if r not in writes]
        paths = sorted({f"{r['method']} {re.sub(r'[0-9a-f]{8}-[0-9a-f-]{27}|[0-9]+', '{id}', r['path'])}" for r in writes})
        print(f"  {key:<10} {len(reads) / n:.2f} · {len(writes) / n:.2f}   writes: {', '.join(paths)}  (installation {inst.id})")
        # the customer writes again while the conversation waits for a person: a while-waiting note
        desk.sandbox.reset_log()
        for c in cids:
            desk.say(c, "Hello? Still waiting here.")
        for _ in range(3):
            desk.wait_for_deliveries(timeout=30)
            queue.wait_idle(timeout=30)
        noted = sum(1 for c in cids if len(desk.notes(c)) == 2)
        log = [r for r in desk.sandbox.requests_log if r["status"] in (200, 201)]
        writes = [r for r in log if r["method"] in ("PUT", "POST", "DELETE") and "/search" not in r["path"]]
        reads = [r for r in log if r not in writes]
        paths = sorted({f"{r['method']} {re.sub(r'[0-9a-f]{8}-[0-9a-f-]{27}|[0-9]+', '{id}', r['path'])}" for r in reads})
        follow_ups.append(f"  {key:<10} {len(reads) / n:.2f} · {len(writes) / n:.2f}   {noted}/{n} noted   reads: {', '.join(paths)}")
        desk.stop()
        server.stop()
        queue.stop()
    print(f"\nAPI calls per follow-up customer message on a handed-over conversation, {n} each (reads · writes):")
    print("\n".join(follow_ups))


class _Collect:
    """A queue that only remembers event ids: the worker bench runs them itself afterwards."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def enqueue_event(self, event_id: int, installation: str | None = None) -> None:
        self.ids.append(event_id)

    def ping(self) -> None:
        pass


def worker_rate(database: str | None, n: int, helpdesk: str = "zendesk", profile: int = 0) -> None:
    """Worker decisions per second on one core: conversations arrive through the real web tier into
    ``database``; then one thread runs the pipeline (load from the sandbox, decide, record, write
    back) over every event. Half the conversations escalate. "Per CPU-second" counts the worker
    thread's own CPU time: the sandbox answering it runs in this process too and is not Baton's
    cost. Counts SQL statements and transactions per event too."""
    from sqlalchemy import event as sa_event
    import connectors
    from integration.service.pipeline import Pipeline
    from integration.service.settings import Settings
    from integration.service.web import create_app

    tmp = Path(tempfile.mkdtemp(prefix="baton-worker-"))
    db = database or f"sqlite:///{tmp}/baton.db"
    store = Store(db, Vault(Fernet.generate_key().decode()))
    store.migrate()
    queue = _Collect()
    server = Server(create_app(Settings(database_url=db), store=store, queue=queue))
    desk = connectors.driver(helpdesk)()
    desk.sandbox.rate_limit = UNMETERED
    desk.start()
    inst = install_into(desk, store, server.url)
    texts = ("What are your opening hours?", "I was charged twice!!! I want to talk to a human now.")
    for i in range(n):
        desk.new_conversation(texts[i % 2])
    desk.wait_for_deliveries(timeout=120)
    pipe = Pipeline(store)
    counts = {"statements": 0, "transactions": 0}
    sa_event.listen(store.engine, "before_cursor_execute", lambda *a: counts.__setitem__("statements", counts["statements"] + 1))
    sa_event.listen(store.engine, "begin", lambda *a: counts.__setitem__("transactions", counts["transactions"] + 1))
    ids = list(queue.ids)
    profiler = cProfile.Profile(time.thread_time) if profile else None  # CPU, not waiting
    wall, cpu = time.perf_counter(), time.thread_time()
    if profiler:
        profiler.enable()  # this thread only: the sandbox answering runs on others
    for eid in ids:
        for held in pipe.process_event(eid):
            pipe.send(held)
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    if profiler:
        for order in ("tottime", "cumulative"):
            pstats.Stats(profiler).sort_stats(order).print_stats(profile)
        profiler.dump_stats(str(tmp / "worker.prof"))
        print(f"profile: {tmp / 'worker.prof'}")
    notes = sum(1 for r in store.rows(outbox, installation_id=inst.id) if r["status"] == "sent")
    print(f"worker on {db.split(':')[0]}, {helpdesk}: {len(ids)} events ({notes} escalations written) in {wall:.2f} s "
          f"→ {len(ids) / wall:.0f} decisions/s wall, {len(ids) / cpu:.0f} decisions per CPU-second of the worker thread; "
          f"{counts['statements'] / len(ids):.1f} SQL statements and {counts['transactions'] / len(ids):.1f} transactions per event")
    desk.stop()
    server.stop()
    store.engine.dispose()


def _landed(sandbox: ZendeskSandbox, ticket_id: int) -> bool:
    return any(not c["public"] for c in sandbox.get_comments(ticket_id))


if __name__ == "__main__":
    raise SystemExit(main())
