"""What every repository shares: the engine (SQLite by default, PostgreSQL through
``DATABASE_URL``), the table helpers that speak both dialects, and plans as JSON."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from sqlalchemy import Text, cast, create_engine, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.schema import Table

from integration.core.model import AddNote, AddTags, Assign, Plan, Priority, ReplyToCustomer, SetPriority, WriteBack

if TYPE_CHECKING:
    from integration.service.store.installations import Vault


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Repository:
    """One aggregate's tables behind methods; every repository of a ``Store`` shares its engine
    and vault (each method is its own transaction, as before the split)."""

    def __init__(self, engine: Engine, vault: Vault):
        self.engine = engine
        self.vault = vault


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=url.startswith("sqlite"), future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    else:  # a connection the server dropped (a restart) is replaced before use, without a transaction of its own
        event.listen(engine, "checkout", _ping_in_transaction)
    return engine


def _driver(url: str) -> str:
    """Heroku-style postgres:// URLs and plain postgresql:// use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _ping_in_transaction(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """SQLAlchemy's ``pool_pre_ping`` pings PostgreSQL in autocommit: every checkout commits a
    transaction of its own, as many as the work itself (bench/load.py counted 4 commits per
    webhook, half of them pings). This ping opens the transaction the checkout's work then uses
    (the DBAPI begins implicitly), so it commits or rolls back with it; a dead connection is
    replaced (DisconnectionError: the pool connects anew and pings again)."""
    try:
        with dbapi_conn.cursor() as cur:
            cur.execute("SELECT 1")
    except Exception as e:  # the server went away: this connection is of no use
        raise DisconnectionError(str(e)) from e


def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
    # the web process and the worker share the file: WAL lets readers and one writer proceed
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def alembic_config(conn: Connection) -> Any:
    """Alembic pointed at our migrations, running on ``conn``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parents[1] / "migrations"))
    cfg.attributes["connection"] = conn
    return cfg


def _dialect_insert(conn: Connection, table: Table) -> Any:
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


def _insert_or_ignore(conn: Connection, table: Table, unique: tuple[str, ...], values: Mapping[str, Any]) -> int | None:
    """Insert a row unless one with the same ``unique`` columns exists: its new id, or None."""
    stmt = _dialect_insert(conn, table).values(**values).on_conflict_do_nothing(index_elements=list(unique))
    return conn.execute(stmt.returning(table.c.id)).scalar()


def _upsert(conn: Connection, table: Table, unique: tuple[str, ...], key: Mapping[str, Any],
            values: Mapping[str, Any], insert_only: Mapping[str, Any] | None = None) -> None:
    """Insert the row, or update ``values`` of the existing one (``insert_only`` is set on insert only)."""
    stmt = _dialect_insert(conn, table).values(**key, **values, **(insert_only or {}))
    conn.execute(stmt.on_conflict_do_update(index_elements=list(unique), set_=dict(values)))


def _has_json(column: Any) -> Any:
    """The JSON column holds a value: neither SQL NULL nor a JSON ``null`` (what SQLAlchemy stores
    for a Python None, e.g. the plan of a sent write-back)."""
    return column.is_not(None) & (cast(column, Text) != "null")


# Plans as JSON (outbox rows and task arguments never carry Python objects).

def plan_to_json(plan: Plan) -> dict[str, Any]:
    def action(a: WriteBack) -> dict[str, Any]:
        if isinstance(a, AddNote):
            brief = {"brief_html": a.brief.html, "brief_text": a.brief.text} if a.brief else {}
            return {"type": "note", "html": a.html, "text": a.text, **brief}
        if isinstance(a, AddTags):
            return {"type": "tags", "tags": list(a.tags)}
        if isinstance(a, SetPriority):
            return {"type": "priority", "priority": a.priority.value}
        if isinstance(a, Assign):
            return {"type": "assign", "group_id": a.group_id, "agent_id": a.agent_id, "why": a.why}
        return {"type": "reply", "text": a.text}

    return {"key": plan.key, "ticket_id": plan.ticket_id, "ticket_fields": dict(plan.ticket_fields), "handoff": plan.handoff,
            "actions": [action(a) for a in plan.actions]}


def plan_from_json(data: Mapping[str, Any]) -> Plan:
    def action(a: Mapping[str, Any]) -> WriteBack:
        kind = a["type"]
        if kind == "note":
            brief = AddNote(a["brief_html"], a["brief_text"]) if a.get("brief_html") else None
            return AddNote(a["html"], a["text"], brief)
        if kind == "tags":
            return AddTags(tuple(a["tags"]))
        if kind == "priority":
            return SetPriority(Priority(a["priority"]))
        if kind == "assign":
            return Assign(a.get("group_id"), a.get("agent_id"), a.get("why", ""))
        return ReplyToCustomer(a["text"])

    # "remote" is what rows written before the ticket_fields name call it
    fields = data.get("ticket_fields", data.get("remote")) or {}
    return Plan(data["key"], data["ticket_id"], tuple(action(a) for a in data["actions"]), fields,
                bool(data.get("handoff")))
