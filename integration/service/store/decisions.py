"""Decisions, the console's activity and health, and the agents' feedback on a handoff."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import func, insert, select, tuple_

from integration.core import limits
from integration.core.handoff import bounded_reason
from integration.core.model import Decision, utc
from integration.service.store import outcomes_rollups
from integration.service.store.base import Repository, utcnow
from integration.service.store.tables import decisions, events, feedback, installations, outbox


class DecisionRepository(Repository):
    def for_ticket(self, inst_id: str, ticket_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(decisions).where(
                decisions.c.installation_id == inst_id, decisions.c.ticket_id == ticket_id)
                .order_by(decisions.c.id)).mappings()]

    def decided_conversations(self, inst_id: str, limit: int = 500, ticket_id: str | None = None) -> list[dict[str, Any]]:
        """The latest decision of each of the ``limit`` most recently decided conversations that
        kept their text (or of one ``ticket_id``), the newest first (what the preview replays)."""
        with self.engine.connect() as conn:
            kept = [decisions.c.installation_id == inst_id, decisions.c.conversation.is_not(None)]
            if ticket_id is not None:
                kept.append(decisions.c.ticket_id == ticket_id)
            latest = (select(func.max(decisions.c.id).label("id")).where(*kept)
                      .group_by(decisions.c.ticket_id).order_by(func.max(decisions.c.id).desc()).limit(limit)
                      .subquery())
            return [dict(r) for r in conn.execute(select(decisions).join(latest, latest.c.id == decisions.c.id)
                                                  .order_by(decisions.c.id.desc())).mappings()]

    def decided_conversation(self, inst_id: str, decision_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            return conn.execute(select(decisions.c.conversation).where(  # type: ignore[no-any-return]
                decisions.c.installation_id == inst_id, decisions.c.id == decision_id)).scalar()

    def activity(self, inst_id: str, *, action: str | None = None, category: str | None = None,
                 ticket_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Recent decisions, the newest first, without the conversation text."""
        cols = [c for c in decisions.c if c.name != "conversation"]
        q = select(*cols).where(decisions.c.installation_id == inst_id)
        if action:
            q = q.where(decisions.c.action == action)
        if category:
            q = q.where(decisions.c.category == category)
        if ticket_id:
            q = q.where(decisions.c.ticket_id == ticket_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q.order_by(decisions.c.id.desc()).limit(limit)).mappings()]

    def activity_page(self, inst_id: str, *, action: str | None = None, categories: list[str] | None = None,
                      ticket_id: str | None = None, since: datetime | None = None,
                      before: tuple[datetime, int] | None = None, after: tuple[datetime, int] | None = None,
                      limit: int = 50) -> tuple[list[dict[str, Any]], bool, bool]:
        """A page of decisions, the newest first, by keyset on (created_at, id) (an offset would
        read every row before the page): ``before`` a row's (created_at, id) gives the page of older
        decisions, ``after`` the page of newer ones, neither the newest. ``categories`` None is any
        category, [] none. Without ``ticket_id``, each conversation once: its latest decision among
        those the filters keep, with ``decided``, how many decisions it has in all (a Freshdesk
        ticket decided on each customer reply); with it, every decision of that conversation.
        Returns the rows (without the conversation, with its subject), whether older ones exist and
        whether newer ones exist."""
        if categories is not None and not categories:
            return [], False, False
        cols = [c for c in decisions.c if c.name != "conversation"]
        subject = decisions.c.conversation["subject"].as_string().label("subject")

        def kept(table: Any) -> list[Any]:  # the filters, on that table of decisions
            return [table.c.installation_id == inst_id, *([table.c.action == action] if action else []),
                    *([table.c.category.in_(categories)] if categories is not None else []),
                    *([table.c.created_at >= since] if since is not None else [])]

        q = select(*cols, subject).where(*kept(decisions))
        if ticket_id:
            q = q.where(decisions.c.ticket_id == ticket_id)
        else:  # one row per conversation: no later decision of it that the filters keep (ix_decisions_ticket)
            later = decisions.alias("later")
            q = q.where(~select(later.c.id).where(
                *kept(later), later.c.ticket_id == decisions.c.ticket_id,
                tuple_(later.c.created_at, later.c.id) > tuple_(decisions.c.created_at, decisions.c.id)).exists())
        key = tuple_(decisions.c.created_at, decisions.c.id)
        if after is not None:
            q = q.where(key > tuple_(*after)).order_by(decisions.c.created_at, decisions.c.id)
        else:
            if before is not None:
                q = q.where(key < tuple_(*before))
            q = q.order_by(decisions.c.created_at.desc(), decisions.c.id.desc())
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(q.limit(limit + 1)).mappings()]
            more, rows = len(rows) > limit, rows[:limit]
            counts = dict(conn.execute(select(decisions.c.ticket_id, func.count()).where(
                decisions.c.installation_id == inst_id, decisions.c.ticket_id.in_({r["ticket_id"] for r in rows}))
                .group_by(decisions.c.ticket_id)).all()) if rows else {}
        for r in rows:
            r["created_at"] = utc(r["created_at"])
            r["decided"] = int(counts.get(r["ticket_id"], 1))
        if after is not None:
            return rows[::-1], True, more
        return rows, more, before is not None

    def health(self, inst_id: str, since: datetime) -> dict[str, Any]:
        """What the console's overview shows: the installation's status, its last event, events
        and decisions since ``since``, and what is dead (events and write-backs, with why)."""
        with self.engine.connect() as conn:
            inst = conn.execute(select(installations.c.status, installations.c.status_reason,
                                       installations.c.rate_limited_until, installations.c.created_at)
                                .where(installations.c.id == inst_id)).mappings().first()
            last_event = conn.execute(select(func.max(events.c.received_at))
                                      .where(events.c.installation_id == inst_id)).scalar()
            n_events = conn.execute(select(func.count()).select_from(events).where(
                events.c.installation_id == inst_id, events.c.received_at >= since)).scalar_one()
            by_action = dict(conn.execute(select(decisions.c.action, func.count()).where(
                decisions.c.installation_id == inst_id, decisions.c.created_at >= since)
                .group_by(decisions.c.action)).all())
            dead_events = [dict(r) for r in conn.execute(
                select(events.c.id, events.c.ticket_id, events.c.kind, events.c.error, events.c.processed_at)
                .where(events.c.installation_id == inst_id, events.c.status == "dead")
                .order_by(events.c.id.desc()).limit(50)).mappings()]
            dead_writes = [dict(r) for r in conn.execute(
                select(outbox.c.id, outbox.c.ticket_id, outbox.c.last_error, outbox.c.created_at, outbox.c.status)
                .where(outbox.c.installation_id == inst_id, outbox.c.status.in_(("dead", "parked")))
                .order_by(outbox.c.id.desc()).limit(50)).mappings()]
        return {"status": inst["status"] if inst else "unknown", "reason": inst["status_reason"] if inst else None,
                "rate_limited_until": utc(inst["rate_limited_until"]) if inst else None,
                "last_event": utc(last_event), "events": int(n_events), "decisions": by_action,
                "dead_events": dead_events, "dead_writes": dead_writes}

    # feedback

    def record_feedback(self, inst_id: str, ticket_id: str, *, author_id: str, author_name: str,
                        verdict: str | None, resolution: str | None, missing_knowledge: str | None) -> int:
        """An agent's feedback on the handoff of a ticket, tied to its latest decision."""
        now = utcnow()
        with self.engine.begin() as conn:
            decision_id = conn.execute(select(func.max(decisions.c.id)).where(
                decisions.c.installation_id == inst_id, decisions.c.ticket_id == ticket_id)).scalar()
            fid = int(conn.execute(insert(feedback).values(
                installation_id=inst_id, ticket_id=ticket_id, decision_id=decision_id, verdict=verdict,
                resolution=resolution, missing_knowledge=missing_knowledge, author_id=author_id,
                author_name=author_name, created_at=now)).inserted_primary_key[0])
            outcomes_rollups.feedback_given(conn, inst_id, ticket_id, fid)  # the panel's word in a closed day's rollup
            return fid

    def feedback_for(self, inst_id: str, ticket_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(feedback).where(
                feedback.c.installation_id == inst_id, feedback.c.ticket_id == ticket_id)
                .order_by(feedback.c.id)).mappings()]


def _decision_values(inst_id: str, ticket_id: str, event_id: int | None, d: Decision,
                     route: Mapping[str, Any] | None) -> dict[str, Any]:
    # as the note bounds them (integration.core.limits: a decision row stays under 100 KB)
    reasons = [{"code": r.code, "summary": r.summary,
                "evidence": [{"message_index": e.message_index, "quote": e.quote, "score": e.score,
                              "threshold": e.threshold, "note": e.note} for e in r.evidence]}
               for r in map(bounded_reason, d.reasons[:limits.REASONS])]
    return dict(installation_id=inst_id, ticket_id=ticket_id, event_id=event_id, action=d.action.value,
                priority=d.priority.value, category=d.category, tier=d.tier, reasons=reasons,
                explanation=d.explanation, route=dict(route) if route else None)
