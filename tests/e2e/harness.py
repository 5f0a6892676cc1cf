"""End-to-end harness: a real Redis server, a real `celery worker` subprocess, Baton's web app on a
real HTTP port and a helpdesk sandbox sending it signed webhooks."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from cryptography.fernet import Fernet

import connectors
from connectors.sandbox import Driver
from integration.service.settings import Settings
from integration.service.store import Store, Vault, events, outbox
from integration.service.web import create_app
from integration.tools.local import CeleryWorker, RedisServer, Server, install_into
from tests import leakscan


class Harness:
    def __init__(self, tmp: Path, database_url: str, provider: str = "zendesk", *, messaging: bool = False,
                 rules: Callable[[Driver], Mapping[str, Any]] | None = None):
        """``messaging``: the admin gives the install a Conversations API key (Zendesk), so bot-held
        messaging conversations go through Baton; ``rules``: the installation's rules, made from the
        helpdesk once its sandbox runs (group ids are the helpdesk's)."""
        self.redis = RedisServer(aof=tmp)  # production's setting: appendonly, fsync every second
        self.redis.start()
        key = Fernet.generate_key().decode()
        self.store = Store(database_url, Vault(key))
        self.store.migrate()
        settings = Settings(database_url=database_url, redis_url=self.redis.url, secret_key=key)
        self.server = Server(create_app(settings, store=self.store))
        self.baton_url = self.server.url
        self.helpdesk = connectors.driver(provider)()
        if messaging:
            self.helpdesk.enable_messaging()  # type: ignore[attr-defined]
        self.helpdesk.start()
        self.inst = install_into(self.helpdesk, self.store, self.baton_url,
                                 rules=rules(self.helpdesk) if rules else None)
        env = {**os.environ, "REDIS_URL": self.redis.url, "DATABASE_URL": database_url, "BATON_SECRET_KEY": key,
               "BATON_DEVELOPMENT": "1",  # the worker's helpdesk is a sandbox on 127.0.0.1 (egress.check_connections)
               "BATON_VISIBILITY_TIMEOUT": "6", "BATON_LEASE_SECONDS": "3", "BATON_DRAIN_SECONDS": "1",
               "BATON_STRANDED_SECONDS": "3", "BATON_REQUEUE_SECONDS": "8"}
        self.worker_log = tmp / "worker.log"
        self.worker = CeleryWorker(env, self.worker_log, tmp / "beat-schedule")
        self.worker.start()

    def close(self) -> None:
        self.worker.stop()
        leakscan.scan_file(self.worker_log)  # S11: the worker's log lines join the session's leak scan
        self.helpdesk.stop()
        self.server.stop()
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
