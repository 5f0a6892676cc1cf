"""End-to-end harness: a real Redis server, a real `celery worker` subprocess, Baton's web app on a
real HTTP port and the Zendesk sandbox sending it signed webhooks."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from cryptography.fernet import Fernet
from werkzeug.serving import make_server

from integration import tasks
from integration.store import Store, Vault, events, outbox
from integration.web import create_app

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, every: float = 0.1) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


class RedisServer:
    def __init__(self, port: int):
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server; .ci/run does it)")
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _connects(self.port), timeout=10)

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


def _connects(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Worker:
    """`celery worker` in its own process, with an embedded beat running the drain every second."""

    def __init__(self, env: dict[str, str], log: Path, schedule: Path, pool: tuple[str, ...] = ("--pool=solo",)):
        self.env, self.log, self.schedule, self.pool = env, log, schedule, pool
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.starts += 1
        # a fresh beat schedule file per start: a SIGKILLed beat can leave its shelve unreadable
        schedule = self.schedule.with_name(f"{self.schedule.name}-{self.starts}")
        cmd = [sys.executable, "-m", "celery", "-A", "integration.tasks", "worker", *self.pool, "--loglevel=INFO",
               "--without-gossip", "--without-mingle", "--without-heartbeat", "-B", "-s", str(schedule)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        wait_for(lambda: b"ready" in self.log.read_bytes(), timeout=30)

    def kill(self) -> None:
        assert self.proc
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None


class Harness:
    def __init__(self, tmp: Path, database_url: str, provider: str = "zendesk"):
        from tests.e2e.drivers import DRIVERS

        self.redis = RedisServer(free_port())
        self.redis.start()
        key = Fernet.generate_key().decode()
        self.store = Store(database_url, Vault(key))
        self.store.migrate()
        tasks.configure(self.redis.url)
        app = create_app(self.store, tasks.CeleryQueue())
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.baton_url = f"http://127.0.0.1:{self.server.server_port}"
        self.helpdesk = DRIVERS[provider]()
        self.helpdesk.start()
        self.inst = self.helpdesk.install(self.store, self.baton_url)
        env = {**os.environ, "REDIS_URL": self.redis.url, "DATABASE_URL": database_url, "BATON_SECRET_KEY": key,
               "BATON_VISIBILITY_TIMEOUT": "6", "BATON_LEASE_SECONDS": "3", "BATON_DRAIN_SECONDS": "1",
               "BATON_STRANDED_SECONDS": "3", "BATON_REQUEUE_SECONDS": "8", "PYTHONPATH": str(ROOT)}
        self.worker = Worker(env, tmp / "worker.log", tmp / "beat-schedule")
        self.worker.start()

    def close(self) -> None:
        self.worker.stop()
        self.helpdesk.stop()
        self.server.shutdown()
        self.redis.stop()
        self.store.engine.dispose()

    def events(self, cid: object | None = None) -> list[dict[str, Any]]:
        rows = self.store.rows(events)
        return rows if cid is None else [e for e in rows if e["ticket_id"] == str(cid)]

    def outbox(self) -> list[dict[str, Any]]:
        return self.store.rows(outbox)

    def quiet(self, seconds: float = 2.0) -> None:
        """Let echoes, redeliveries and the drain run; then nothing more may happen."""
        self.helpdesk.wait_for_deliveries(timeout=10)
        time.sleep(seconds)
        self.helpdesk.wait_for_deliveries(timeout=10)
