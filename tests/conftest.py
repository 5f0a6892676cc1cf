"""Shared fixtures: a migrated store on SQLite and on a real PostgreSQL."""
from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from integration.service.store import Store, Vault, metadata
from tests.receiver import Receiver

pytest_plugins = ["tests.leakscan"]  # S11: no secret or personal data in logs or task arguments

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def vault() -> Vault:
    return Vault(Fernet.generate_key().decode())


@pytest.fixture(scope="session")
def postgres_url():
    name = f"baton_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def _pg_store(postgres_url, vault):
    store = Store(postgres_url, vault)
    store.migrate()
    yield store
    store.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path, vault):
    """A fresh, migrated store; every test using it runs on both databases."""
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path}/baton.db", vault)
        s.migrate()
        yield s
        s.engine.dispose()
    else:
        s = request.getfixturevalue("_pg_store")
        with s.engine.begin() as conn:
            conn.execute(text("TRUNCATE " + ", ".join(t.name for t in metadata.sorted_tables) + " RESTART IDENTITY"))
        yield s


@pytest.fixture
def receiver():
    """A local webhook endpoint the sandboxes deliver to."""
    rec = Receiver()
    yield rec
    rec.close()


# Every process a test starts must end with it. Processes inherit this marker from the test
# session's environment; after the session, any still alive fails the run (and is ended).
SESSION_MARK = f"BATON_TEST_SESSION={uuid.uuid4().hex}"
os.environ["BATON_TEST_SESSION"] = SESSION_MARK.split("=", 1)[1]


def survivors() -> list[tuple[int, str]]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if SESSION_MARK.encode() in (proc / "environ").read_bytes().split(b"\0"):
                found.append((int(proc.name), (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:160]))
        except OSError:  # ended meanwhile, or not ours to read
            continue
    return found


def pytest_sessionfinish(session, exitstatus):
    left = survivors()
    deadline = time.monotonic() + 10
    while left and time.monotonic() < deadline:  # give processes being stopped a moment
        time.sleep(0.2)
        left = survivors()
    if left:
        for pid, _ in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        lines = "\n".join(f"  {pid}: {cmd}" for pid, cmd in left)
        session.config.get_terminal_writer().line(f"processes started by tests were still running:\n{lines}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
