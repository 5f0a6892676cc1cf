"""What every repository shares: the engine (SQLite by default, PostgreSQL through
``DATABASE_URL``), the table helpers that speak both dialects, and plans as JSON."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from sqlalchemy import Text, bindparam, cast, create_engine, event, text
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


# Built once: the statements the worker runs for every event are module-level objects executed with a
# parameter dict (``conn.execute(STMT, {...})``). Building one per call (``update(t).where(…).values(…)``)
# coerces every value and computes a new cache key, more CPU than SQLite spends running it; a statement
# object keeps its cache key. Their WHERE takes ``bindparam("b_…")`` values (a parameter may not be named
# after a column the statement sets); the columns an UPDATE sets or an INSERT fills are the parameters'
# other keys (SQLAlchemy compiles once per set of keys). ON CONFLICT statements: ``_on_conflict``.


def _dialect_insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT with its ON CONFLICT clauses (compiled on every execution: SQLAlchemy
    2.0 gives them no cache key; a statement run per event takes :func:`_on_conflict`)."""
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


def _insert_or_ignore(conn: Connection, table: Table, unique: tuple[str, ...], values: Mapping[str, Any]) -> int | None:
    """Insert a row unless one with the same ``unique`` columns exists: its new id, or None."""
    stmt = _on_conflict(conn, table, unique, tuple(values), (), returning=True)
    return conn.execute(stmt, dict(values)).scalar()


def _upsert(conn: Connection, table: Table, unique: tuple[str, ...], key: Mapping[str, Any],
            values: Mapping[str, Any], insert_only: Mapping[str, Any] | None = None) -> None:
    """Insert the row, or update ``values`` of the existing one (``insert_only`` is set on insert only)."""
    row = {**key, **values, **(insert_only or {})}
    conn.execute(_on_conflict(conn, table, unique, tuple(row), tuple(values), returning=False), row)


_ON_CONFLICT: dict[tuple[Any, ...], Any] = {}
_ON_CONFLICT_MAX = 512  # statement shapes kept (tables × column sets); past it, built per call


def _on_conflict(conn: Connection, table: Table, unique: tuple[str, ...], columns: tuple[str, ...],
                 updated: tuple[str, ...], returning: bool) -> Any:
    """``INSERT … ON CONFLICT (unique) DO NOTHING`` (no ``updated``), or ``DO UPDATE SET`` each
    of ``updated`` to the value inserted, as one statement with typed parameters. SQLite and
    PostgreSQL spell it the same. The dialects' own ``insert().on_conflict_…`` have no cache key
    (SQLAlchemy 2.0 compiles them anew on every execution, a third of a commit's CPU); a text
    statement has one, so it is compiled once per shape and process. Column types still bind
    the values (JSON encoded, times as the dialect stores them)."""
    shape = (conn.dialect.name, table.name, unique, columns, updated, returning)
    stmt = _ON_CONFLICT.get(shape)
    if stmt is not None:
        return stmt
    quote = conn.dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
           f"VALUES ({', '.join(f':{c}' for c in columns)}) ON CONFLICT ({', '.join(quote(c) for c in unique)}) ")
    sql += (f"DO UPDATE SET {', '.join(f'{quote(c)} = excluded.{quote(c)}' for c in updated)}" if updated
            else "DO NOTHING")
    stmt = text(sql + (f" RETURNING {quote(table.c.id.name)}" if returning else ""))
    stmt = stmt.bindparams(*(bindparam(c, type_=table.c[c].type) for c in columns))
    if returning:
        stmt = stmt.columns(table.c.id)
    if len(_ON_CONFLICT) < _ON_CONFLICT_MAX:
        _ON_CONFLICT[shape] = stmt
    return stmt


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
