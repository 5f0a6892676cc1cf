"""The schema the migrations build is exactly the one the store declares, and released migrations
never change; plans survive their JSON form (outbox rows, task arguments)."""
import hashlib
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from integration.service import store as store_module
from integration.service.store import metadata, plan_from_json, plan_to_json
from tests.store.common import PLAN

RELEASED_0001 = "88107c954e2cae2bb7242fa5da974e6a29693cefa22861a2702947e0f52322aa"
RELEASED_0003 = "91026d069f66d2f6300b282227288e5263c0741cf775318618f8bb17fc88c537"
RELEASED_0002 = "41699c7ca406ed5fd024c247832c64542151709c0c0cc44ff5bfb170e31ba4bd"


def test_migrations_are_idempotent(store):
    before = _schema(store)
    store.migrate()  # running again changes nothing and does not fail
    assert _schema(store) == before

def test_the_migrations_build_exactly_the_tables_the_code_declares(store):
    """Tables are declared in store/tables.py and built by the Alembic migrations: a column, type,
    nullability, key or index that one has and the other lacks fails here."""
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []

def test_migrations_are_append_only():
    """A released migration is never edited: its file must hash as when it was released. A new
    schema change is a new file (0002_… with down_revision "0001")."""
    versions = Path(store_module.__file__).parents[1] / "migrations" / "versions"
    released = {"0001_initial.py": RELEASED_0001, "0002_outbox_ticket_index.py": RELEASED_0002,
                "0003_messages_at_handoff.py": RELEASED_0003}
    for name, digest in released.items():
        assert hashlib.sha256((versions / name).read_bytes()).hexdigest() == digest, f"{name} was edited in place"

def _schema(store):
    inspector = inspect(store.engine)
    return {t: sorted((c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(t))
            for t in inspector.get_table_names()}

def test_plan_round_trips_through_json():
    assert plan_from_json(plan_to_json(PLAN)) == PLAN
