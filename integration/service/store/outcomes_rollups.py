"""The outcomes' rollups for the analytics (issue 22): each closed UTC day's tallies
(``integration.core.tally``) of an installation, one row per day and category, so a report sums a
few hundred rows instead of reading a hundred thousand outcomes.

- ``rollup_marks.through``: every day before it is in ``rollups``; the days from it on are counted
  from the outcomes when a report asks (``tallies``). Beat's hourly ``baton.roll_up`` moves the mark
  past each day that closed, or the first report after it does (``settle``), a day per transaction;
  ``python -m integration rollups --rebuild`` counts them all again. The mark keeps the topics the
  rows were counted with (an old reason-category counts under a topic, ``tally.as_topic``): a
  report with other topics has every day counted again.
- An outcome of a day before the mark is changed in the transaction that changes it (a late CSAT,
  a reopen, a solve, the agents' feedback): its tally before the change is taken away from its
  day's row and its tally after is added (``record``, ``feedback_given``); when what was taken
  away cannot be (an answer's latest wording went with it), that day and category are counted
  again from its outcomes. The retention and an erasure count the days they blanked again
  (``recount_tickets``): the rows hold the agents' answers, which go with the outcomes' text.

Locking, so that no change is lost between a day being counted and the mark moving past it: the
mark moves under ``LOCK TABLE outcomes IN SHARE ROW EXCLUSIVE MODE`` (PostgreSQL; SQLite has one
writer at a time), so it waits for every transaction writing outcomes and none starts meanwhile;
every change of an outcome writes it first and then reads the mark, in the same statement for the
common case (``record``'s upsert skips a row of a counted day, which then takes the slow path).
Writers of rows hold the mark ``FOR SHARE`` and lock each row ``FOR UPDATE``; counting a whole day
again holds the mark ``FOR UPDATE``.
"""
from __future__ import annotations

import functools
import json
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Collection, Iterable, Mapping

from sqlalchemy import TextClause, bindparam, delete, exists, func, select, text, update
from sqlalchemy.engine import Connection, Engine

from integration.core.model import utc
from integration.core.tally import ABANDONED_AFTER, Tally, tally
from integration.service.store.base import _dialect_insert
from integration.service.store.outcomes import _outcome_rows, _with_feedback
from integration.service.store.tables import outcomes, rollup_marks, rollups

UTC = timezone.utc
BUILD_DAYS = 1  # days counted per transaction when the mark moves: outcomes' writers wait that long at most


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _day(at: datetime) -> date:
    return at.astimezone(UTC).date()


# changing an outcome

def record(conn: Connection, inst_id: str, ticket_id: str, values: Mapping[str, Any], now: datetime) -> None:
    """Set these outcome columns (the row is made on first sight, first seen ``now``), and keep the
    rollups of a counted day right. One statement when the conversation's day is not counted yet."""
    done = conn.execute(_upsert(tuple(sorted(values))),
                        {**values, "installation_id": inst_id, "ticket_id": ticket_id, "now": now}).first()
    if done is not None:
        created, through = utc(done[0]), utc(done[1])
        if through is not None and created < through:  # a new conversation of a counted day (history written late)
            _move(conn, inst_id, ticket_id, None, _one(conn, inst_id, ticket_id))
        return
    before = _one(conn, inst_id, ticket_id)  # a conversation of a counted day: the upsert left it, locked
    conn.execute(update(outcomes).where(outcomes.c.installation_id == inst_id, outcomes.c.ticket_id == ticket_id)
                 .values(**values, updated_at=now))
    _move(conn, inst_id, ticket_id, before, _one(conn, inst_id, ticket_id))


@functools.lru_cache(maxsize=256)
def _upsert(columns: tuple[str, ...]) -> TextClause:
    """Insert the outcome, or update ``columns`` of it unless its day is counted (then nothing is
    returned, the row is locked); returns its first sight and the installation's mark. Text, typed
    by the table's columns: SQLAlchemy neither caches nor correlates an upsert whose WHERE reads
    another table, and this is the statement of every outcome written."""
    names = ", ".join(columns)
    sql = (f"INSERT INTO outcomes (installation_id, ticket_id, created_at, updated_at{', ' if columns else ''}{names}) "
           f"VALUES (:installation_id, :ticket_id, :now, :now{''.join(f', :{c}' for c in columns)}) "
           "ON CONFLICT (installation_id, ticket_id) DO UPDATE SET updated_at = excluded.updated_at"
           f"{''.join(f', {c} = excluded.{c}' for c in columns)} "
           "WHERE NOT EXISTS (SELECT 1 FROM rollup_marks m WHERE m.installation_id = outcomes.installation_id "
           "AND m.through > outcomes.created_at) "
           "RETURNING created_at, (SELECT m.through FROM rollup_marks m WHERE m.installation_id = :installation_id) AS through")
    return text(sql).bindparams(bindparam("now", type_=outcomes.c.created_at.type),
                                *(bindparam(c, type_=outcomes.c[c].type) for c in columns)).columns(
        created_at=outcomes.c.created_at.type, through=rollup_marks.c.through.type)


# first_reply's statements, run per event that tells a first reply: built once (store/base.py)
_UNREPLIED = (outcomes.c.installation_id == bindparam("b_inst"), outcomes.c.ticket_id == bindparam("b_ticket"),
              outcomes.c.escalated_at.is_not(None), outcomes.c.first_agent_reply_at.is_(None))
_REPLIED = update(outcomes).where(*_UNREPLIED, ~exists().where(  # unless its day is counted
    rollup_marks.c.installation_id == bindparam("b_inst"), rollup_marks.c.through > outcomes.c.created_at))
_UNREPLIED_ROW = select(outcomes.c.ticket_id).where(*_UNREPLIED)


def first_reply(conn: Connection, inst_id: str, ticket_id: str, now: datetime) -> None:
    """A person first answered a handed-over conversation (until the helpdesk's own figure is read)."""
    where = {"b_inst": inst_id, "b_ticket": ticket_id}
    if conn.execute(_REPLIED, {**where, "first_agent_reply_at": now}).rowcount:
        return
    if conn.execute(_UNREPLIED_ROW, where).first() is not None:
        record(conn, inst_id, ticket_id, {"first_agent_reply_at": now}, now)


def feedback_given(conn: Connection, inst_id: str, ticket_id: str, feedback_id: int) -> None:
    """The agents' feedback ``feedback_id`` (just inserted) changes what the report reads of the
    conversation: keep its day's rollup right when that day is counted."""
    counted = exists().where(rollup_marks.c.installation_id == inst_id, rollup_marks.c.through > outcomes.c.created_at)
    touched = conn.execute(update(outcomes).where(  # writes first (see the module's note), and only a counted day's
        outcomes.c.installation_id == inst_id, outcomes.c.ticket_id == ticket_id, counted)
        .values(updated_at=outcomes.c.updated_at)).rowcount
    if touched:
        _move(conn, inst_id, ticket_id, _one(conn, inst_id, ticket_id, before_id=feedback_id),
              _one(conn, inst_id, ticket_id))


def recount_tickets(conn: Connection, inst_id: str, tickets: Iterable[str]) -> None:
    """Count again the counted days of these conversations (their text was blanked)."""
    ids = sorted(set(tickets))
    through, topics = _hold(conn, inst_id, exclusive=True)
    if through is None or not ids:
        return
    days: set[date] = set()
    for start in range(0, len(ids), 500):
        days.update(_day(utc(at)) for (at,) in conn.execute(select(outcomes.c.created_at).where(  # type: ignore[arg-type]
            outcomes.c.installation_id == inst_id, outcomes.c.ticket_id.in_(ids[start:start + 500]),
            outcomes.c.created_at < through)))
    for day in sorted(days):
        _write_days(conn, inst_id, day, day + timedelta(days=1), topics, replace=True)


def _one(conn: Connection, inst_id: str, ticket_id: str, before_id: int | None = None) -> dict[str, Any] | None:
    rows = _with_feedback(conn, inst_id, _outcome_rows(conn, inst_id, None, ticket_id=ticket_id), before_id=before_id)
    return rows[0] if rows else None


def _move(conn: Connection, inst_id: str, ticket_id: str, before: Mapping[str, Any] | None,
          after: Mapping[str, Any] | None) -> None:
    """One conversation's tally goes from ``before`` to ``after`` in its day's rows."""
    _, topics = _hold(conn, inst_id)
    old = {(t.day, t.category): t for t in tally([before] if before else [], topics=topics)}
    new = {(t.day, t.category): t for t in tally([after] if after else [], topics=topics)}
    for day, category in sorted(old.keys() | new.keys()):
        row = conn.execute(select(rollups.c.figures).where(*_cell(inst_id, day, category)).with_for_update()).first()
        if row is None:  # a day and category with nothing counted yet: made here, or by another writer meanwhile
            inserted = conn.execute(_dialect_insert(conn, rollups).values(
                installation_id=inst_id, day=day, category=category,
                figures=Tally(day, category, midnight(day)).to_json()).on_conflict_do_nothing()).rowcount
            if not inserted:
                row = conn.execute(select(rollups.c.figures).where(*_cell(inst_id, day, category))
                                   .with_for_update()).first()
        try:
            cell = Tally.from_json(day, category, row[0]) if row is not None else Tally(day, category, midnight(day))
        except ValueError:  # counted by another version of Baton
            cell = None
        if cell is None or not cell.replace(old.get((day, category)), new.get((day, category))):
            again = [t for t in _count(conn, inst_id, day, day + timedelta(days=1), topics) if t.category == category]
            cell = again[0] if again else Tally(day, category, midnight(day))  # counted again under this row's lock
        _save(conn, inst_id, cell)


def _cell(inst_id: str, day: date, category: str) -> tuple[Any, ...]:
    return rollups.c.installation_id == inst_id, rollups.c.day == day, rollups.c.category == category


def _save(conn: Connection, inst_id: str, cell: Tally) -> None:
    where = _cell(inst_id, cell.day, cell.category)
    if cell.conversations:
        stmt = _dialect_insert(conn, rollups).values(installation_id=inst_id, day=cell.day, category=cell.category,
                                                     figures=cell.to_json())
        conn.execute(stmt.on_conflict_do_update(index_elements=["installation_id", "day", "category"],
                                                set_={"figures": stmt.excluded.figures}))
    else:
        conn.execute(delete(rollups).where(*where))


def _hold(conn: Connection, inst_id: str, exclusive: bool = False) -> tuple[datetime | None, list[str] | None]:
    """The installation's mark and the topics its rollups were counted with, held against a recount
    of whole days (shared) or held alone."""
    q = select(rollup_marks.c.through, rollup_marks.c.topics).where(rollup_marks.c.installation_id == inst_id)
    q = q.with_for_update(read=not exclusive) if conn.dialect.name == "postgresql" else q
    row = conn.execute(q).first()
    return (utc(row[0]), row[1]) if row is not None else (None, None)


def _count(conn: Connection, inst_id: str, start: date, end: date, topics: list[str] | None) -> list[Tally]:
    """The tallies of the days from ``start`` to ``end`` (excluded)."""
    since, before = midnight(start), midnight(end)
    rows = _outcome_rows(conn, inst_id, since, before)
    return tally(_with_feedback(conn, inst_id, rows, since, before), topics=topics)


def _write_days(conn: Connection, inst_id: str, start: date, end: date, topics: list[str] | None,
                replace: bool = False) -> None:
    """Count the days from ``start`` to ``end`` (excluded) again and keep exactly those rows."""
    counted = _count(conn, inst_id, start, end, topics)
    if replace:
        conn.execute(delete(rollups).where(rollups.c.installation_id == inst_id, rollups.c.day >= start,
                                           rollups.c.day < end))
    if counted:
        conn.execute(_dialect_insert(conn, rollups), [
            dict(installation_id=inst_id, day=t.day, category=t.category, figures=t.to_json()) for t in counted])


# the mark: counting closed days

def settle(engine: Engine, inst_id: str, today: date, topics: Collection[str]) -> date:
    """Count every day before ``today`` not counted yet, with the installation's ``topics`` (rollups
    counted with other topics are counted again); the day the rollups now end (``today``, or later
    when a report of a later day moved it already)."""
    keys = sorted(topics)
    with engine.connect() as conn:
        mark = conn.execute(select(rollup_marks.c.through, rollup_marks.c.topics)
                            .where(rollup_marks.c.installation_id == inst_id)).first()
    through, counted_with = (utc(mark[0]), mark[1]) if mark is not None else (None, None)
    if through is not None and counted_with == keys and _day(through) >= today:
        return _day(through)
    while True:
        with engine.begin() as conn:
            through, counted_with = _lock_for_counting(conn, inst_id)
            if through is not None and counted_with != keys:  # the topics changed: every day again
                _forget(conn, inst_id)
                through = None
            if through is None:
                first = conn.execute(select(func.min(outcomes.c.created_at))
                                     .where(outcomes.c.installation_id == inst_id)).scalar()
                start = min(_day(utc(first)), today) if first is not None else today
            else:
                start = _day(through)
            end = min(today, start + timedelta(days=BUILD_DAYS)) if start < today else start
            if start < today:
                _write_days(conn, inst_id, start, end, keys, replace=True)
            _set_mark(conn, inst_id, end, keys)
            if end >= today:
                return end


def rebuild(engine: Engine, inst_id: str, today: date, topics: Collection[str]) -> int:
    """Forget the installation's rollups and count every closed day again; the rows written."""
    with engine.begin() as conn:
        _lock_for_counting(conn, inst_id)
        _forget(conn, inst_id)
    settle(engine, inst_id, today, topics)
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(rollups)
                                .where(rollups.c.installation_id == inst_id)).scalar_one())


def _forget(conn: Connection, inst_id: str) -> None:
    conn.execute(delete(rollups).where(rollups.c.installation_id == inst_id))
    conn.execute(delete(rollup_marks).where(rollup_marks.c.installation_id == inst_id))


def _lock_for_counting(conn: Connection, inst_id: str) -> tuple[datetime | None, list[str] | None]:
    """Wait for every transaction writing outcomes and keep new ones out until this one ends (one
    counter at a time); the mark as it is then."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE outcomes IN SHARE ROW EXCLUSIVE MODE")
    else:  # a write first: SQLite's one writer is this transaction from here on
        conn.execute(update(rollup_marks).where(rollup_marks.c.installation_id == inst_id)
                     .values(through=rollup_marks.c.through))
    return _hold(conn, inst_id, exclusive=True)


def _set_mark(conn: Connection, inst_id: str, day: date, topics: list[str]) -> None:
    values = {"through": midnight(day), "topics": topics}
    conn.execute(_dialect_insert(conn, rollup_marks).values(installation_id=inst_id, **values)
                 .on_conflict_do_update(index_elements=["installation_id"], set_=values))


# reading: the tallies of a report

def tallies(engine: Engine, inst_id: str, now: datetime, since: datetime | None, topics: Collection[str]) -> list[Tally]:
    """The tallies of the conversations first seen from ``since`` (all when None): the rollups of the
    counted days, and from the outcomes the days after them, the part of ``since``'s day from
    ``since`` on, and the day ``ABANDONED_AFTER`` before ``now`` split at that instant. ``topics``:
    the installation's topic keys (``tally.as_topic``)."""
    cut = now - ABANDONED_AFTER
    partial = {_day(t) for t in (since, cut) if t is not None and t != midnight(_day(t))}
    first = _day(since) if since is not None else None
    through = settle(engine, inst_id, _day(now), topics)
    with engine.connect() as conn:
        try:
            stored = _stored(conn, inst_id, first, through)
        except ValueError:  # counted by another version of Baton: count them again
            conn.rollback()
            through = _day(now)
            rebuild(engine, inst_id, through, topics)
            stored = _stored(conn, inst_id, first, through)
        ranges = [(midnight(through), None)] + [(midnight(d), midnight(d + timedelta(days=1)))
                                                for d in sorted(partial) if d < through]
        live: list[dict[str, Any]] = []
        for start, end in ranges:
            start = max(start, since) if since is not None else start
            if end is None or start < end:
                live += _with_feedback(conn, inst_id, _outcome_rows(conn, inst_id, start, end), start, end)
    return [t for t in stored if t.day not in partial] + tally(live, cut, sorted(topics))


def _stored(conn: Connection, inst_id: str, first: date | None, through: date) -> list[Tally]:
    """The rollups of the days from ``first`` (all when None) to ``through`` (excluded), read through
    the driver: a few hundred rows of JSON, which SQLAlchemy's result processing would make slower
    than summing them."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"SELECT day, category, CAST(figures AS TEXT) FROM rollups WHERE installation_id = {mark} AND day < {mark}"
    params: tuple[Any, ...] = (inst_id, through.isoformat() if conn.dialect.name == "sqlite" else through)
    if first is not None:
        sql += f" AND day >= {mark}"
        params += (first.isoformat() if conn.dialect.name == "sqlite" else first,)
    parse = date.fromisoformat if conn.dialect.name == "sqlite" else (lambda d: d)
    return [Tally.from_json(parse(day), category, json.loads(figures))
            for day, category, figures in conn.exec_driver_sql(sql, params).all()]
