"""Shared fixtures: a migrated store on SQLite and on a real PostgreSQL."""
from __future__ import annotations

import os
import uuid

import psycopg
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from integration.store import Store, Vault, metadata
from tests.receiver import Receiver

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
