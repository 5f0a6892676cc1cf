"""Many tenants under load, with faults. Prints figures; asserts nothing.

    .venv/bin/python bench/load.py [--seconds 60] [--rate 200] [--tenants 50] [--database URL]
                                   [--noisy] [--chaos worker-kill|web-kill|redis-restart|pg-restart|blackhole]
                                   [--redis-monitor]
    .venv/bin/python bench/load.py --redis-costs

Real processes as deployed (the Procfile's): gunicorn (2 workers × 8 threads), a Celery worker
(prefork, 2 processes, with beat), a private Redis with its append-only file on (fsync every
second), PostgreSQL (a fresh ``baton_load`` database unless ``--database``). ``--tenants``
installations across the three helpdesks, each with its own sandbox (its own API, its own webhook
sender with the vendor's retries), all in this process.

The load is open loop at ``--rate`` sends per second spread evenly over the tenants: 70 % new
routine conversations, 25 % new conversations that must be handed over, 5 % redeliveries of an
earlier webhook (duplicates). Baton's own write-backs come back as webhooks too (echoes), so the
webhooks Baton receives per second are printed as counted by gunicorn.

Figures: webhooks received per second; acknowledgement latency inside gunicorn (p50/p99);
end-to-end latency of the handoffs, from the conversation's creation in the sandbox to Baton's
write landing there (p50/p95), for all tenants and for the quiet ones; decisions per second per
worker CPU-second; and, once everything settled, ``lost`` (a handoff without its note, or an
event Baton acknowledged and never finished) and ``duplicated`` (a conversation with more than
one note), on the last line.

``--noisy``: tenant 0 floods at 10× a tenant's rate and tenant 1's helpdesk answers every call
with 429 (Retry-After 30 s) for the whole run, then recovers; the quiet tenants' end-to-end p95 is
the figure to compare with a run without ``--noisy``.

``--redis-monitor``: Redis's MONITOR feed from the first send to the settle, every command sorted
by who sent it (kombu's queues and unacked bookkeeping, Baton's queued set and backlog counters, the
quota guard, health checks) and by whether a client sent it or a script ran it inside Redis (one
round trip per script, its commands in memory); the feed itself costs Redis and the machine some
CPU, so the other figures of such a run are not the ones to compare.

``--redis-costs`` (no load): what each kind of Redis work costs Redis itself, in its own CPU time,
one at a time on a private redis-server with the append-only file on: a simple command, the guard's
one script per API call, Baton's bookkeeping per publish and per take, and kombu's commands per
message. With ``--redis-monitor``'s counts per webhook, Redis's CPU per webhook and what one Redis
core carries (the README's capacity arithmetic).

``--chaos``: a third into the run, one fault: the worker SIGKILLed (and restarted, as a supervisor
would), gunicorn SIGKILLed (restarted 5 s later), Redis SIGKILLed and restarted on its
append-only file, PostgreSQL restarted (``pg_ctlcluster``; the machine's own), or one tenant's
helpdesk blackholed for 30 s (every call hangs past Baton's timeout). Recovery time: from the
fault to the first handoff landing that was created after it.
"""
from __future__ import annotations

import argparse
import logging
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import connectors  # noqa: E402
from integration.service.store import Store, Vault, decisions, events  # noqa: E402
from integration.tools.local import CeleryWorker, RedisServer, free_port, install_into, wait_for  # noqa: E402

ROUTINE = ["What are your opening hours?", "How do I change my delivery address?", "Where can I download my invoice?",
           "Do you ship to Canada?", "How do I reset my password?"]
HANDOFF = ["I was charged twice!!! I want to talk to a human now.", "This is the third time I ask. Get me a person, please.",
           "My lawyer will contact you about the refund you refused. I want a manager."]
# the vendors' webhook senders retry for hours; here the first minutes of that, compressed
RETRIES = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 30.0, 30.0)
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/baton_load"
# By default every account announces this per-minute API limit: the bench measures Baton, not the
# quotas (4 sends a second is ~1,000 API calls a minute per tenant, above half of any Freshdesk plan;
# tests/test_quota.py shows Baton keeping to half of what an account announces).
UNMETERED = 1_000_000


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


class Web:
    """gunicorn as the Procfile runs it, in its own process group (a SIGKILL takes all of it)."""

    def __init__(self, env: dict[str, str], access: Path):
        self.env, self.access, self.port = env, access, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "8", "--bind", f"127.0.0.1:{self.port}",
             "--log-level", "warning", "--access-logfile", str(self.access), "--access-logformat", "%(D)s %(s)s %(U)s",
             "integration.service.web:create_app()"], cwd=ROOT, env=self.env, start_new_session=True)
        wait_for(self._up, timeout=30)

    def _up(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).status_code in (200, 503)
        except requests.RequestException:
            return False

    def kill(self) -> None:
        assert self.proc
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)


class Tenant:
    def __init__(self, index: int, key: str, store: Store, baton: str, limit: int | None):
        self.index, self.key = index, key
        self.driver = connectors.driver(key)(retry_delays=RETRIES)
        if limit is not None:
            self.driver.sandbox.rate_limit = limit  # what the account's rate-limit headers announce
        self.driver.start()
        self.driver.seed_team()
        self.inst = install_into(self.driver, store, baton)
        self.created: dict[str, tuple[float, bool]] = {}  # conversation → (created at, must be handed over)
        self.lock = threading.Lock()

    def send(self, rng: random.Random) -> None:
        roll = rng.random()
        deliveries = self.driver.sandbox.deliveries
        if roll < 0.05 and deliveries:
            self.driver.redeliver(rng.randrange(len(deliveries)))
            return
        handoff = roll < 0.30
        at = time.monotonic()
        cid = self.driver.new_conversation(rng.choice(HANDOFF if handoff else ROUTINE))
        with self.lock:
            self.created[str(cid)] = (at, handoff)

    def landed(self) -> dict[str, float]:
        """Conversation → when Baton's first write landed in the sandbox."""
        first: dict[str, float] = {}
        for cid in list(self.created):
            writes = self.driver.writes(cid)
            if writes:
                first[cid] = writes[0]["at"]
        return first


def worker_cpu(pgid: int) -> float:
    """CPU seconds (user + system) of every process in the worker's process group."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 of stat: the process group
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def fresh_postgres(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(base.replace("postgresql://", "postgresql://", 1) + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rate", type=float, default=200, help="sends per second over all quiet tenants (default 200)")
    ap.add_argument("--tenants", type=int, default=50)
    ap.add_argument("--database", default=PG_DEFAULT)
    ap.add_argument("--noisy", action="store_true", help="tenant 0 floods 10×, tenant 1 is under a 429 storm")
    ap.add_argument("--chaos", choices=["worker-kill", "web-kill", "redis-restart", "pg-restart", "blackhole"])
    ap.add_argument("--settle", type=float, default=300, help="the longest wait for everything to finish (s)")
    ap.add_argument("--redis-monitor", action="store_true",
                    help="sort every Redis command of the run by who sent it (MONITOR: costs CPU)")
    ap.add_argument("--plan-limits", action="store_true",
                    help="the sandboxes announce their plans' API limits (Zendesk 700, Freshdesk 400 a minute …) "
                         "instead of an unmetered account: Baton then keeps to half of them and the rest waits")
    ap.add_argument("--redis-costs", action="store_true",
                    help="no load: Redis's own CPU per guard call, per bookkeeping script and per kombu message")
    args = ap.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    if args.redis_costs:
        redis_costs()
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="baton-load-"))
    if args.database.startswith("postgresql://"):
        fresh_postgres(args.database)
    key = Fernet.generate_key().decode()
    redis_server = RedisServer(aof=tmp)
    redis_server.start()
    store = Store(args.database, Vault(key))
    store.migrate()
    env = {**os.environ, "REDIS_URL": redis_server.url, "DATABASE_URL": args.database, "BATON_SECRET_KEY": key,
           "PYTHONPATH": str(ROOT), "BATON_DEVELOPMENT": "1", "BATON_DRAIN_SECONDS": "2",
           "BATON_STRANDED_SECONDS": "5", "BATON_REQUEUE_SECONDS": "20", "BATON_LEASE_SECONDS": "20"}
    web = Web(env, tmp / "access.log")
    web.start()
    limit = None if args.plan_limits else UNMETERED
    tenants = [Tenant(i, connectors.KEYS[i % len(connectors.KEYS)], store, web.url, limit) for i in range(args.tenants)]
    for t in tenants:
        t.driver.wait_for_deliveries(timeout=30)
    worker = CeleryWorker(env, tmp / "worker.log", tmp / "beat", pool=("--pool=prefork", "--concurrency=2"))
    worker.start()
    quiet = tenants[2:] if args.noisy else tenants
    print(f"{len(tenants)} tenants ({', '.join(f'{k} {sum(t.key == k for t in tenants)}' for k in connectors.KEYS)}), "
          f"{args.rate:.0f} sends/s for {args.seconds:.0f} s{' + tenant 0 at 10×, tenant 1 under a 429 storm' if args.noisy else ''}"
          f"{', chaos: ' + args.chaos if args.chaos else ''}; database {args.database.split('://')[0]}; machine {os.cpu_count()} cores")
    try:
        if args.noisy:
            tenants[1].driver.throttle(10**9, retry_after=30)
        skip = len((tmp / "access.log").read_text().splitlines())
        cpu0, decided0 = worker_cpu(worker.proc.pid), _count(store, decisions)  # type: ignore[union-attr]
        load0 = _backends(redis_server, store)
        web0 = worker_cpu(web.proc.pid)  # type: ignore[union-attr]
        fault: dict[str, float] = {}
        chaos = threading.Thread(target=_chaos, args=(args, fault, worker, web, redis_server, tenants), daemon=True)
        if args.chaos:
            chaos.start()
        depth = {"main": 0, "bulk": 0}
        monitor = RedisMonitor(redis_server.url) if args.redis_monitor else None
        sampling = threading.Event()
        threading.Thread(target=_sample, args=(redis_server, depth, sampling), daemon=True).start()
        start = time.monotonic()
        _drive(args, tenants)
        sampling.set()
        sent_end = time.monotonic()
        if args.noisy:
            tenants[1].driver.throttle(0, retry_after=0)
        if args.chaos:
            chaos.join()
        cpu1 = worker_cpu(worker.proc.pid)  # type: ignore[union-attr]
        decided1 = _count(store, decisions)
        settled = _settle(store, tenants, args.settle)
        load1 = _backends(redis_server, store)
        if monitor is not None:
            monitor.stop()
        web_cpu = worker_cpu(web.proc.pid) - web0  # type: ignore[union-attr]
        _report(args, tmp / "access.log", skip, tenants, quiet, fault, start, sent_end, settled,
                (decided1 - decided0) / max(cpu1 - cpu0, 1e-9), store, (load0, load1), depth, web_cpu)
        if monitor is not None and not args.chaos:
            monitor.report(_webhooks(tmp / "access.log", skip))
    finally:
        worker.stop()
        web.stop()
        for t in tenants:
            t.driver.stop()
        redis_server.stop()
        store.engine.dispose()
    return 0


def _backends(redis_server: RedisServer, store: Store) -> tuple[int, float, int]:
    """Commands Redis has executed (a script's own commands included: Redis counts each), the CPU
    seconds Redis has used, and transactions PostgreSQL has committed so far (what each webhook
    costs them: the capacity arithmetic in the README)."""
    import redis

    info = redis.Redis.from_url(redis_server.url).info()
    commands, cpu = int(info["total_commands_processed"]), float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
    if store.engine.dialect.name != "postgresql":
        return commands, cpu, 0
    with store.engine.connect() as conn:
        committed = conn.exec_driver_sql("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        return commands, cpu, int(committed.scalar_one())


_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')
KOMBU_KEYS = ("celery", "baton.bulk", "unacked", "_kombu.", "celeryev", "/0.celeryev")


class RedisMonitor:
    """Redis's MONITOR feed, every command counted by owner and origin (see ``--redis-monitor``).
    A MULTI … EXEC counts for the owner of the commands inside it; a script (EVALSHA) for the owner
    of its first key; the bench's own queue-depth sampler (LLEN) and counters (INFO) are left out."""

    def __init__(self, url: str):
        import redis

        self.client = redis.Redis.from_url(url)
        self.counts: dict[tuple[str, str], int] = {}
        self.commands: dict[tuple[str, str], int] = {}
        self._multi: dict[str, list[str]] = {}  # client → the commands of its open MULTI
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        with self.client.monitor() as m:
            self._ready.set()
            while not self._stop.is_set():  # never idle: the workers' BRPOP comes back every second
                line = m.connection.read_response()
                with self._lock:
                    if self._stop.is_set():
                        break
                    self._count(line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line))

    def _count(self, line: str) -> None:
        head, _, rest = line.partition("] ")
        client = head.rsplit(" ", 1)[-1]
        args = _ARG.findall(rest)
        if not args:
            return
        name = args[0].upper()
        origin = "script" if client == "lua" else "sent"
        if name in ("LLEN", "INFO", "MONITOR"):
            return  # the bench's own
        if origin == "sent" and name == "MULTI":
            self._multi[client] = []
            return
        if origin == "sent" and name in ("EXEC", "DISCARD") and client in self._multi:
            inside = self._multi.pop(client)
            owner = next((o for o in inside if o != "other"), "other")
            self._add(owner, "sent", "MULTI")
            self._add(owner, "sent", name)
            return
        owner = _owner(name, args[1:])
        if origin == "sent" and client in self._multi:
            self._multi[client].append(owner)
        self._add(owner, origin, name)

    def _add(self, owner: str, origin: str, name: str) -> None:
        self.counts[owner, origin] = self.counts.get((owner, origin), 0) + 1
        self.commands[owner, name] = self.commands.get((owner, name), 0) + 1

    def stop(self) -> None:
        time.sleep(1)  # the feed lags a little
        with self._lock:
            self._stop.set()

    def report(self, webhooks: int) -> None:
        n = max(webhooks, 1)
        sent = sum(c for (_, o), c in self.counts.items() if o == "sent")
        inside = sum(c for (_, o), c in self.counts.items() if o == "script")
        print(f"Redis by MONITOR, per webhook received: {sent / n:.1f} commands sent by clients, "
              f"{inside / n:.1f} more run inside scripts, {(sent + inside) / n:.1f} executed")
        for owner in ("kombu", "baton-queue", "guard", "other"):
            s, i = self.counts.get((owner, "sent"), 0), self.counts.get((owner, "script"), 0)
            top = sorted(((c, name) for (o, name), c in self.commands.items() if o == owner), reverse=True)[:12]
            print(f"  {owner:<12} sent {s / n:5.2f}  in scripts {i / n:5.2f}   "
                  + ", ".join(f"{name} {c / n:.2f}" for c, name in top))


def _owner(name: str, args: list[str]) -> str:
    """Who a command is for, from its first key."""
    if name in ("EVALSHA", "EVAL", "FCALL"):
        key = args[2] if len(args) > 2 and args[1] != "0" else ""
    elif name in ("BRPOP", "BLPOP", "PUBLISH", "SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE"):
        return "kombu"
    elif name in ("LINDEX", "HMGET", "ZRANGE") and args and args[0] in ("celery", "baton.bulk", "unacked", "unacked_index"):
        return "baton-queue"  # the drain looking into kombu's queues and unacked messages (kombu never does)
    else:
        key = args[0] if args else ""
    if key.startswith("baton:guard:"):
        return "guard"
    if key.startswith(("baton:queued", "baton:backlog:", "baton:")):
        return "baton-queue"
    if key.startswith(KOMBU_KEYS) or "pidbox" in key or "celery" in key:
        return "kombu"
    return "other"


def redis_costs(n: int = 20_000) -> None:
    """``--redis-costs``: each kind of work ``n`` times over one connection (50 installations in turn)."""
    import redis

    from integration.service import tasks
    from integration.service.quota import Budget, Policy
    from integration.service.quota_state import RedisBackend

    server = RedisServer(aof=Path(tempfile.mkdtemp(prefix="baton-costs-")))
    server.start()
    try:
        r = redis.Redis.from_url(server.url)
        guard, unmetered, message = RedisBackend(r), Budget.of(UNMETERED, 60.0, Policy()), "x" * 1000  # ~ a task's

        def held_and_acked(i: int) -> None:  # kombu's QoS: the message a worker took, then its ack
            r.pipeline().zadd("unacked_index", {f"t{i}": time.time()}).hset("unacked", f"t{i}", message).execute()
            r.pipeline().zrem("unacked_index", f"t{i}").hdel("unacked", f"t{i}").execute()

        work = {
            "a simple command (GET)": lambda i: r.get("k"),
            "the guard, per script (a batch of up to 8 API calls)":
                lambda i: guard.admit(f"i{i % 50}", 2e9 + i / 100, unmetered, 1.0, 30, 8, 1.0),
            "Baton's bookkeeping per publish (one round trip)": lambda i: tasks._published(server.url, i, f"i{i % 50}"),
            "Baton's bookkeeping per take (one round trip)": lambda i: tasks._taken(server.url, i, f"i{i % 50}"),
            "kombu per message: publish (LPUSH)": lambda i: r.lpush("q", message),
            "kombu per message: take (BRPOP)": lambda i: r.brpop(["q"], 1),
            "kombu per message: held, then acked (2 x MULTI, 2, EXEC)": held_and_acked,
        }
        print(f"Redis's own CPU per operation ({n:,} of each, one connection, append-only file on):")
        for name, do in work.items():
            stats = r.info("cpu")
            before = float(stats["used_cpu_sys"]) + float(stats["used_cpu_user"])
            for i in range(n):
                do(i)
            stats = r.info("cpu")
            print(f"  {name:<58} {(float(stats['used_cpu_sys']) + float(stats['used_cpu_user']) - before) * 1e6 / n:6.1f} µs")
    finally:
        server.stop()


def _webhooks(access: Path, skip: int) -> int:
    return sum(1 for line in access.read_text().splitlines()[skip:] if " /webhooks/" in line)


def _sample(redis_server: RedisServer, depth: dict[str, int], done: threading.Event) -> None:
    """The longest each broker queue got (fair dispatch sends a flooding tenant's surplus to bulk)."""
    import redis

    from integration.service.tasks import BULK, QUEUE

    broker = redis.Redis.from_url(redis_server.url, socket_timeout=1)
    while not done.wait(0.5):
        try:
            depth["main"] = max(depth["main"], broker.llen(QUEUE))
            depth["bulk"] = max(depth["bulk"], broker.llen(BULK))
        except redis.RedisError:
            continue  # the chaos restarts it


def _count(store: Store, table: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _drive(args: argparse.Namespace, tenants: list[Tenant]) -> None:
    """Open loop: a send is due every 1/rate s whether or not earlier ones finished; a pool of
    threads does them (a slow sandbox call does not slow the clock)."""
    from concurrent.futures import ThreadPoolExecutor

    rng = random.Random(7)
    plan = [t for t in tenants if not (args.noisy and t.index == 0)]
    weights = [1.0] * len(plan)
    if args.noisy:
        plan.append(tenants[0])
        weights.append(10.0)
    rate = args.rate * sum(weights) / (len(weights) - (9.0 if args.noisy else 0.0))
    start, n = time.monotonic(), int(rate * args.seconds)
    with ThreadPoolExecutor(32) as pool:
        for i in range(n):
            pause = start + i / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            tenant = rng.choices(plan, weights)[0]
            pool.submit(tenant.send, random.Random(i))


def _chaos(args: argparse.Namespace, fault: dict[str, float], worker: CeleryWorker, web: Web, redis_server: RedisServer,
           tenants: list[Tenant]) -> None:
    time.sleep(args.seconds / 3)
    fault["at"] = time.monotonic()
    if args.chaos == "worker-kill":
        worker.kill()
        worker.start()
    elif args.chaos == "web-kill":
        web.kill()
        time.sleep(5)
        web.start()
    elif args.chaos == "redis-restart":
        redis_server.kill()
        redis_server.start()
    elif args.chaos == "pg-restart":
        subprocess.run(["pg_ctlcluster", "15", "main", "restart"], check=False)
    elif args.chaos == "blackhole":
        sandbox = tenants[2].driver.sandbox
        for method in ("GET", "PUT", "POST"):
            sandbox.delay(20.0, method)  # past Baton's 15 s read timeout: a hang, as a blackhole is
        time.sleep(30)
        for method in ("GET", "PUT", "POST"):
            sandbox.delay(0.0, method)
    fault["over"] = time.monotonic()


def _settle(store: Store, tenants: list[Tenant], longest: float) -> float:
    """Wait until every webhook was delivered and every event finished, and the handoffs landed."""
    t0 = time.monotonic()

    def done() -> bool:
        if not all(t.driver.wait_for_deliveries(timeout=0.01) for t in tenants):
            return False
        with store.engine.connect() as conn:
            open_events = conn.execute(select(func.count()).select_from(events)
                                       .where(events.c.status.not_in(("processed", "dead")))).scalar_one()
        # (the landed writes are read last: it scans every sandbox's request log)
        return open_events == 0 and all(len(t.landed()) >= sum(h for _, h in t.created.values()) for t in tenants)

    try:
        wait_for(done, timeout=longest, every=5)
    except Exception:  # noqa: BLE001 - what did not finish is counted as lost below
        pass
    time.sleep(5)  # late echoes and redeliveries: nothing more may be written
    return time.monotonic() - t0


def _report(args: argparse.Namespace, access: Path, skip: int, tenants: list[Tenant], quiet: list[Tenant],
            fault: dict[str, float], start: float, sent_end: float, settled: float, per_cpu: float, store: Store,
            load: tuple[tuple[int, float, int], tuple[int, float, int]], depth: dict[str, int], web_cpu: float) -> None:
    lines = [line.split() for line in access.read_text().splitlines()[skip:]]
    hooks = [(int(d) / 1000, int(s)) for d, s, path in lines if path.startswith("/webhooks/")]
    acks = [ms for ms, _ in hooks]
    codes: dict[int, int] = {}
    for _, s in hooks:
        codes[s] = codes.get(s, 0) + 1
    e2e_all, e2e_quiet, lost, duplicated, after_fault = [], [], 0, 0, []
    for t in tenants:
        landed = t.landed()
        for cid, (at, handoff) in t.created.items():
            notes = len(t.driver.notes(cid))
            duplicated += notes > 1
            if handoff and notes == 0:
                lost += 1
            if handoff and cid in landed:
                e2e_all.append(landed[cid] - at)
                if t in quiet:
                    e2e_quiet.append(landed[cid] - at)
                if fault and at >= fault["at"]:
                    after_fault.append(landed[cid])
    with store.engine.connect() as conn:
        unfinished = conn.execute(select(func.count()).select_from(events)
                                  .where(events.c.status.not_in(("processed", "dead")))).scalar_one()
        dead = conn.execute(select(func.count()).select_from(events).where(events.c.status == "dead")).scalar_one()
    lost += unfinished
    duration = args.seconds
    print(f"webhooks received: {len(hooks)} ({len(hooks) / duration:.0f}/s), answers {dict(sorted(codes.items()))}")
    print(f"ack inside gunicorn: p50 {statistics.median(acks):.1f} ms, p99 {pct(acks, 0.99):.1f} ms, "
          f"max {max(acks):.1f} ms" if acks else "ack: none")
    handoffs = sum(h for t in tenants for _, h in t.created.values())
    print(f"handoffs: {handoffs}; end-to-end (created → note landed): all p50 {statistics.median(e2e_all):.3f} s, "
          f"p95 {pct(e2e_all, 0.95):.3f} s; quiet tenants p50 {statistics.median(e2e_quiet):.3f} s, "
          f"p95 {pct(e2e_quiet, 0.95):.3f} s" if e2e_all and e2e_quiet else f"handoffs: {handoffs}; none landed")
    print(f"most tasks waiting in the broker: main queue {depth['main']}, bulk queue {depth['bulk']}")
    print(f"decisions per worker CPU-second: {per_cpu:.0f}; settled {settled:.0f} s after the last send; "
          f"events dead-lettered: {dead}")
    (r0, c0, x0), (r1, c1, x1) = load
    if hooks and not fault:  # a restarted Redis, PostgreSQL or gunicorn starts its counters again
        print(f"per webhook received: {web_cpu * 1000 / len(hooks):.1f} ms of web CPU (gunicorn, all processes), "
              f"{(r1 - r0) / len(hooks):.1f} Redis commands executed (those inside scripts included) and "
              f"{(c1 - c0) * 1e6 / len(hooks):.0f} µs of Redis CPU, {(x1 - x0) / len(hooks):.1f} PostgreSQL commits "
              f"(all processes, beat included)")
    if args.noisy:
        for t in tenants[:2]:
            n = sum(h for _, h in t.created.values())
            # the API calls Baton made to it while the load ran (the storm: one per Retry-After is the floor)
            made = [r["status"] for r in t.driver.api_log() if start <= r["at"] <= sent_end]
            print(f"  tenant {t.index} ({t.key}, {'flooding' if t.index == 0 else '429 storm'}): {n} handoffs, "
                  f"{len(t.landed())} landed; {len(made)} API calls during the load, {made.count(429)} answered 429")
    if fault:
        first = min((x for x in after_fault), default=None)
        print(f"chaos {args.chaos}: {args.seconds / 3:.0f} s into the run; recovery "
              + (f"{first - fault['at']:.1f} s (first handoff created after the fault landed)" if first else "none seen"))
    print(f"lost={lost} duplicated={duplicated}")


if __name__ == "__main__":
    sys.exit(main())
