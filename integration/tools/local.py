"""Baton's real processes and the helpdesk sandboxes on this machine: a Redis server, a Celery
worker, a web server on a thread, and installing Baton into a sandbox as its admin would. The
demo, the end-to-end tests and the benches use these; every process started here is ended by
its ``stop``."""
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
from typing import Any, Callable, Mapping

from connectors.sandbox import AppSetup, Driver, Serving
from integration.core.model import Installation
from integration.service.installs import install
from integration.service.settings import Settings
from integration.service.store import Store

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, every: float = 0.1) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


class Server(Serving):
    """A WSGI app (Baton's web, in the demo and the tests) on a real port, served from a daemon
    thread with connections kept alive."""

    def __init__(self, app: Any, port: int = 0) -> None:
        super().__init__(app, "127.0.0.1", port, name="baton-web")


def install_into(driver: Driver, store: Store, baton_url: str, rules: Mapping[str, Any] | None = None,
                 settings: Mapping[str, Any] | None = None) -> Installation:
    """Install Baton into the driver's sandbox the way its admin would: the install command, then
    whatever the helpdesk makes them do by hand. ``settings`` adds what the operator types into
    ``--settings`` besides what the helpdesk's setup gives (e.g. Freshchat's link to a Freshdesk
    installation)."""
    setup = driver.setup()
    inst = install(store, driver.key, driver.url, setup.credentials, baton_url,
                   settings={**setup.settings, **(settings or {})},
                   rules=rules, mode=setup.mode, development=True)  # the sandbox listens on 127.0.0.1
    driver.connect(inst, f"{baton_url}/webhooks/{driver.key}/{inst.id}")
    return inst


def show_app(driver: Driver, store: Store, settings: Settings, installation: Installation | None = None) -> None:
    """Baton's marketplace app in the driver's sandbox, as this deployment registered it with the
    vendor (its OAuth client) and as the app's install would leave it (Freshdesk's settings page
    stores a new installation key)."""
    key = ""
    if installation is not None and driver.key == "freshdesk":
        from integration.service.apps.freshdesk import issue_key

        key, change = issue_key(installation.id)
        store.installations.change_settings(installation.id, change, "operator")
    client = {"zendesk": (settings.zendesk_client_id, settings.zendesk_client_secret),
              "intercom": (settings.intercom_client_id, settings.intercom_client_secret)}.get(driver.key, ("", ""))
    driver.show_app(AppSetup(settings.public_url, installation, *client, app_key=key,
                             app_id=settings.zendesk_app_id if driver.key == "zendesk" else ""))


class RedisServer:
    """A private ``redis-server``. With ``aof`` (a folder) it keeps an append-only file there, fsynced
    every second (production's setting): a restart on the same folder finds the queues again."""

    def __init__(self, port: int | None = None, aof: Path | None = None):
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.aof = aof
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server; .ci/run does it)")
        durable = (["--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(self.aof)] if self.aof
                   else ["--appendonly", "no"])
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--maxmemory-policy", "noeviction", *durable],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _connects(self.port), timeout=10)

    def kill(self) -> None:
        """SIGKILL, as a crash: only what the append-only file holds survives."""
        assert self.proc
        self.proc.kill()
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc:
            _end(self.proc)
            self.proc = None


class CeleryWorker:
    """``celery worker`` in its own process (the Procfile's entry point), with an embedded beat."""

    def __init__(self, env: Mapping[str, str], log: Path, schedule: Path, pool: tuple[str, ...] = ("--pool=solo",)):
        self.env, self.log, self.schedule, self.pool = dict(env), log, schedule, pool
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.starts += 1
        # a fresh beat schedule file per start: a SIGKILLed beat can leave its shelve unreadable
        schedule = self.schedule.with_name(f"{self.schedule.name}-{self.starts}")
        cmd = [sys.executable, "-m", "celery", "-A", "integration.service.worker", "worker", *self.pool,
               "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat", "-B", "-s", str(schedule)]
        # its own process group: stopping it ends the pool's children and beat with it
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_for(lambda: b"ready" in self.log.read_bytes(), timeout=30)

    def kill(self) -> None:
        """SIGKILL the whole worker (main process, pool children, beat), as a crash would."""
        assert self.proc
        _signal_group(self.proc, signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc:
            _end(self.proc, group=True)
            self.proc = None


def _connects(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def _end(proc: subprocess.Popen[bytes], group: bool = False) -> None:
    """TERM, then KILL after 15 s; with ``group``, every process of its group too."""
    if group:
        _signal_group(proc, signal.SIGTERM)
    else:
        proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        if group:
            _signal_group(proc, signal.SIGKILL)
        else:
            proc.kill()
        proc.wait(10)
    if group:  # children that outlived their parent
        _signal_group(proc, signal.SIGKILL)
