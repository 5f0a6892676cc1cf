"""Outcomes: what became of each conversation (the analytics, the calibration, the suggestions)."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any, Collection, Mapping

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection

from integration.core.model import utc
from integration.core.tally import Tally
from integration.service.store.base import Repository, utcnow
from integration.service.store.tables import feedback, outcomes, rollup_marks, rollups

BY_ID = 500  # a report's feedback read by ticket id up to this many conversations, else by when they were first seen


class OutcomeRepository(Repository):
    def record(self, inst_id: str, ticket_id: str, values: Mapping[str, Any], now: datetime | None = None) -> None:
        """Set these outcome columns of the conversation (the row is made on first sight)."""
        now = now or utcnow()
        with self.engine.begin() as conn:
            _record_outcome(conn, inst_id, ticket_id, values, now)

    def get(self, inst_id: str, ticket_id: str) -> dict[str, Any] | None:
        """Everything recorded about one conversation's outcome (the figures read less: ``outcome_rows``)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(outcomes).where(outcomes.c.installation_id == inst_id,
                                                      outcomes.c.ticket_id == ticket_id)).mappings().first()
        return None if row is None else {k: utc(v) if isinstance(v, datetime) else v for k, v in row.items()}

    def rows(self, inst_id: str, since: datetime | None = None) -> list[dict[str, Any]]:
        """Every outcome of the installation first seen since ``since``, oldest first, with the
        agents' feedback from the panel taking precedence over tags (``verdict``, ``resolution``;
        ``missing_knowledge``: what the bot should have known)."""
        with self.engine.connect() as conn:
            return _with_feedback(conn, inst_id, _outcome_rows(conn, inst_id, since), since)

    # the analytics' rollups (outcomes_rollups.py)

    def tallies(self, inst_id: str, now: datetime, since: datetime | None, topics: Collection[str]) -> list[Tally]:
        """What a report of the conversations first seen since ``since`` sums: the closed days'
        rollups (counting the days closed since the last report) and the open days' outcomes;
        ``topics``, the installation's topic keys (an old reason-category counts under a topic)."""
        from integration.service.store import outcomes_rollups

        return outcomes_rollups.tallies(self.engine, inst_id, now, since, topics)

    def settle_rollups(self, inst_id: str, today: date, topics: Collection[str]) -> date:
        """Count the days before ``today`` not counted yet (a report does it too; beat does it hourly
        so that no request waits for it); the day the rollups now end."""
        from integration.service.store import outcomes_rollups

        return outcomes_rollups.settle(self.engine, inst_id, today, topics)

    def rebuild_rollups(self, inst_id: str, today: date, topics: Collection[str]) -> int:
        """Count every day before ``today`` again from the outcomes; the rollup rows written."""
        from integration.service.store import outcomes_rollups

        return outcomes_rollups.rebuild(self.engine, inst_id, today, topics)

    def rollups_end(self, inst_id: str) -> tuple[date | None, int]:
        """The day the installation's rollups end (None: none yet) and how many rows they are."""
        with self.engine.connect() as conn:
            through = conn.execute(select(rollup_marks.c.through).where(rollup_marks.c.installation_id == inst_id)).scalar()
            rows = conn.execute(select(func.count()).select_from(rollups).where(rollups.c.installation_id == inst_id)).scalar_one()
        return (utc(through).date() if through is not None else None), int(rows)  # type: ignore[union-attr]

    def unrated_solved(self, inst_id: str, since: datetime, limit: int = 200) -> list[str]:
        """Tickets solved since ``since`` without a rating yet: ratings come after the solve, and
        Zendesk sends no event for them."""
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(outcomes.c.ticket_id).where(
                outcomes.c.installation_id == inst_id, outcomes.c.solved_at >= since, outcomes.c.csat.is_(None))
                .order_by(outcomes.c.solved_at.desc()).limit(limit))]

    def resolved_escalations(self, inst_id: str, limit: int = 50_000) -> list[dict[str, Any]]:
        """Handed-over conversations that were solved, with the customer's words and the agent's
        answer, the newest first (what the suggested resolutions are looked up in)."""
        cols = (outcomes.c.ticket_id, outcomes.c.query_text, outcomes.c.answer_text, outcomes.c.resolution,
                outcomes.c.category, outcomes.c.escalated_at, outcomes.c.solved_at)
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(select(*cols).where(
                outcomes.c.installation_id == inst_id, outcomes.c.escalated.is_(True), outcomes.c.solved_at.is_not(None),
                outcomes.c.query_text.is_not(None)).order_by(outcomes.c.solved_at.desc()).limit(limit)).mappings()]
            said = dict(conn.execute(select(feedback.c.ticket_id, feedback.c.resolution).where(
                feedback.c.installation_id == inst_id, feedback.c.resolution.is_not(None)).order_by(feedback.c.id)).all())
        for row in rows:  # the panel's word over a tag's
            row.update(resolution=said.get(row["ticket_id"], row["resolution"]), escalated=True,
                       solved_at=utc(row["solved_at"]), escalated_at=utc(row["escalated_at"]))
        return rows


# what the figures and the calibration labels read of an outcome (not the customer's words, not the
# bookkeeping): the analytics read a hundred thousand rows at a time
_OUTCOME_FIGURES = ("ticket_id", "created_at", "bot_involved", "escalated", "escalated_at", "category", "reasons",
                    "asked_for_human_later", "assigned_at", "first_agent_reply_at", "solved_at", "reopens", "csat",
                    "verdict", "resolution", "suggested", "answer_text", "bot_verdict")
_OUTCOME_TIMES = ("created_at", "escalated_at", "assigned_at", "first_agent_reply_at", "solved_at")


def _outcome_rows(conn: Connection, inst_id: str, since: datetime | None, before: datetime | None = None,
                  ticket_id: str | None = None) -> list[dict[str, Any]]:
    """An installation's outcomes as plain dicts of ``_OUTCOME_FIGURES``, read through the driver:
    SQLAlchemy's per-row type processing cost twice the report itself. SQLite returns its stored
    text (times as "YYYY-MM-DD HH:MM:SS.ffffff" UTC, JSON, 0/1), PostgreSQL typed values; both
    become what the table's types say. The reasons repeat a handful of combinations: each is
    decoded once (the rows share the list; nobody changes it). First seen from ``since`` and before
    ``before``; of one ticket when given."""
    names = list(_OUTCOME_FIGURES)
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    picked = ", ".join("CAST(reasons AS TEXT)" if n == "reasons" else n for n in names)  # decoded here, once each
    sql = f"SELECT {picked} FROM outcomes WHERE installation_id = {mark}"
    params: tuple[Any, ...] = (inst_id,)
    for op, at in ((">=", since), ("<", before)):
        if at is not None:
            sql += f" AND created_at {op} {mark}"
            params += (_driver_time(conn, at),)
    if ticket_id is not None:
        sql += f" AND ticket_id = {mark}"
        params += (ticket_id,)
    result = conn.exec_driver_sql(sql + " ORDER BY created_at", params)
    rows = [dict(zip(names, r)) for r in result.all()]
    decoded: dict[str, Any] = {}
    for row in rows:
        text = row["reasons"]
        if text is not None:
            row["reasons"] = decoded[text] if text in decoded else decoded.setdefault(text, json.loads(text))
    if conn.dialect.name == "sqlite":
        parse = datetime.fromisoformat
        for row in rows:
            for key in _OUTCOME_TIMES:
                if row[key] is not None:
                    row[key] = parse(row[key] + "+00:00")  # 6× faster than .replace(tzinfo=)
            for key in ("bot_involved", "escalated", "asked_for_human_later"):
                row[key] = bool(row[key])
    return rows


def _driver_time(conn: Connection, at: datetime) -> Any:
    """A time as a driver parameter compared with a stored one (SQLite keeps UTC text)."""
    return at if conn.dialect.name != "sqlite" else at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def _with_feedback(conn: Connection, inst_id: str, rows: list[dict[str, Any]], since: datetime | None = None,
                   before: datetime | None = None, before_id: int | None = None) -> list[dict[str, Any]]:
    """``rows`` (``_outcome_rows``, first seen from ``since`` and before ``before``) with the agents'
    feedback from the panel taking precedence over tags (``verdict``, ``resolution``;
    ``missing_knowledge``), the latest given of each; only the feedback before ``before_id`` when
    given. Reads the feedback of those tickets only: by id when they are few, else by when their
    conversations were first seen."""
    if not rows:
        return rows
    q = (select(feedback.c.ticket_id, feedback.c.verdict, feedback.c.resolution, feedback.c.missing_knowledge)
         .where(feedback.c.installation_id == inst_id).order_by(feedback.c.id))
    if before_id is not None:
        q = q.where(feedback.c.id < before_id)
    if len(rows) <= BY_ID:
        q = q.where(feedback.c.ticket_id.in_([r["ticket_id"] for r in rows]))
    elif since is not None or before is not None:
        q = q.join(outcomes, (outcomes.c.installation_id == feedback.c.installation_id)
                   & (outcomes.c.ticket_id == feedback.c.ticket_id))
        if since is not None:
            q = q.where(outcomes.c.created_at >= since)
        if before is not None:
            q = q.where(outcomes.c.created_at < before)
    said: dict[str, dict[str, Any]] = {}
    for ticket, verdict, resolution, missing in conn.execute(q):
        given = said.setdefault(ticket, {})
        given.update({k: v for k, v in (("verdict", verdict), ("resolution", resolution),
                                        ("missing_knowledge", missing)) if v})
    for row in rows:
        if row["ticket_id"] in said:
            row.update(said[row["ticket_id"]])
    return rows


# read per handoff on request (built once: store/base.py)
_ESCALATED = select(outcomes.c.escalated).where(outcomes.c.installation_id == bindparam("b_inst"),
                                                outcomes.c.ticket_id == bindparam("b_ticket"))
# the columns an event may set (not the row's key and stamps)
_RECORDED = frozenset(c.name for c in outcomes.c) - {"installation_id", "ticket_id", "created_at", "updated_at"}


def _observe(conn: Connection, inst_id: str, ticket_id: str, observed: Mapping[str, Any], now: datetime) -> None:
    """Record what an event told about the conversation. A handoff on the customer's explicit
    request, in a conversation Baton had already decided to keep with the bot, marks that earlier
    choice as a likely under-escalation (``asked_for_human_later``)."""
    values = dict(observed)
    if values.get("escalated") and "explicit_request" in (values.get("reasons") or ()):
        before = conn.execute(_ESCALATED, {"b_inst": inst_id, "b_ticket": ticket_id}).first()
        if before is not None and not before[0]:
            values["asked_for_human_later"] = True
    _record_outcome(conn, inst_id, ticket_id, values, now)


def _record_outcome(conn: Connection, inst_id: str, ticket_id: str, values: Mapping[str, Any], now: datetime) -> None:
    from integration.service.store import outcomes_rollups  # it reads this module's readers

    unknown = set(values) - _RECORDED
    if unknown:
        raise ValueError(f"not outcome columns: {sorted(unknown)}")
    outcomes_rollups.record(conn, inst_id, ticket_id, values, now)  # and a closed day's rollup, when it is one's
