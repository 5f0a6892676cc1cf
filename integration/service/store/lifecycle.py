"""The data lifecycle (README "Data lifecycle"): the retention of customer text, the purge at
uninstall, the erasure of one customer, and the reconciliation sweep's marks."""
from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any, Mapping

from sqlalchemy import JSON, Table, func, null, or_, select, update

from integration.core.model import utc
from integration.service.store import outcomes_rollups
from integration.service.store.base import Repository, _has_json, utcnow
from integration.service.store.rules import _audit
from integration.service.store.tables import decisions, events, feedback, installations, metadata, outbox, outcomes

RETENTION_DAYS = 90  # an installation's default retention of customer text
RETENTION_LIMITS = (1, 3650)  # days an admin may choose
LIFECYCLE_BATCH = 500  # rows per transaction when scrubbing, erasing or rotating
# the columns that hold customer text or identity, nulled by the retention and an erasure (the
# decisions' transcript, explanation and reasons are scrubbed by ``LifecycleRepository._scrub_decisions``)
CUSTOMER_TEXT: dict[str, tuple[str, ...]] = {
    "outcomes": ("query_text", "answer_text"),
    "feedback": ("missing_knowledge",),
    "outbox": ("plan", "last_error"),
    "events": ("actor_id", "error"),
}
SWEEP_CHUNK = 500  # ticket ids per query when a reconciliation sweep asks what Baton already heard of

_lifecycle_log = logging.getLogger("baton.store")


def retention_days(value: Any) -> int:
    """The retention an admin asked for, in whole days within ``RETENTION_LIMITS``; ValueError says
    what is allowed."""
    low, high = RETENTION_LIMITS
    problem = f"the retention is a whole number of days from {low} to {high}"
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(problem)
    try:
        days = int(str(value).strip())
    except ValueError:
        raise ValueError(problem) from None
    if not low <= days <= high:
        raise ValueError(problem)
    return days


def retention_days_of(settings: Mapping[str, Any] | None) -> int:
    """An installation's retention: its setting, or the default when unset or unusable (a bad value
    saved by hand must not keep text forever, nor stop the hourly run)."""
    value = (settings or {}).get("retention_days")
    if value is None:
        return RETENTION_DAYS
    try:
        return retention_days(value)
    except ValueError:
        _lifecycle_log.warning("store.retention-setting-invalid", extra={"value": repr(value)[:40]})
        return RETENTION_DAYS


class LifecycleRepository(Repository):
    # retention, uninstall purge, erasure of one customer

    def apply_retention(self, inst_id: str, days: int | None = None, now: datetime | None = None) -> dict[str, int]:
        """Remove the customer text and identity kept about this installation's conversations older
        than its retention (``settings["retention_days"]``, default ``RETENTION_DAYS``). Ids, times,
        actions, categories, reason codes and figures stay, so the analytics count the same
        conversations; a write-back not sent yet, or dead and still retryable, keeps its note (that
        work would be lost), and so does a dead event. Returns the rows changed per table."""
        now = now or utcnow()
        if days is None:
            with self.engine.connect() as conn:
                days = retention_days_of(conn.execute(select(installations.c.settings)
                                                      .where(installations.c.id == inst_id)).scalar())
        cut = now - timedelta(days=days)
        finished = (outbox.c.status == "sent") | ((outbox.c.status == "dead") & ~_has_json(outbox.c.plan))
        return {
            "decisions": self._scrub_decisions(decisions.c.installation_id == inst_id, decisions.c.created_at < cut),
            "outcomes": self._blank(outcomes, outcomes.c.installation_id == inst_id, outcomes.c.created_at < cut),
            "feedback": self._blank(feedback, feedback.c.installation_id == inst_id, feedback.c.created_at < cut),
            "outbox": self._blank(outbox, outbox.c.installation_id == inst_id, outbox.c.created_at < cut, finished),
            "events": self._blank(events, events.c.installation_id == inst_id, events.c.received_at < cut,
                                  events.c.status == "processed"),
        }

    def retained_installations(self) -> list[str]:
        """The installations the retention runs on: all but the uninstalled (their data went with the
        uninstall), broken ones included (their text ages all the same)."""
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(installations.c.id)
                                               .where(installations.c.status != "uninstalled"))]

    def apply_retention_everywhere(self, now: datetime | None = None) -> dict[str, dict[str, int]]:
        """The retention of every installation, in this process (the embedded queue; Celery runs one
        task per installation). One installation's failure is logged and never stops the others'."""
        done: dict[str, dict[str, int]] = {}
        for inst_id in self.retained_installations():
            try:
                done[inst_id] = self.apply_retention(inst_id, now=now)
            except Exception:
                _lifecycle_log.exception("store.retention-failed", extra={"installation": inst_id})
        return done

    def uninstall(self, inst_id: str, actor: str) -> dict[str, int]:
        """The helpdesk removed the app (or the operator did): Baton stops acting for this account
        and deletes its data, keeping a tombstone and the audited counts (:meth:`purge`,
        whose counts per table are returned)."""
        return self.purge(inst_id, actor)

    def purge(self, inst_id: str, actor: str = "Baton") -> dict[str, int]:
        """Delete every row of the installation in every table but its own, in one transaction: the
        installation stays as a tombstone (uninstalled, its helpdesk and address, the settings the
        webhooks and apps find it by, so they answer 410 / "not installed"), its credentials and
        webhook secret blanked. The one row kept is the "uninstall" audit entry, with the counts
        deleted per table (returned as well) and no text."""
        now = utcnow()
        counts: dict[str, int] = {}
        with self.engine.begin() as conn:
            for table in metadata.sorted_tables:  # every table, including ones added after this was written
                if table is not installations and "installation_id" in table.c:
                    counts[table.name] = int(conn.execute(
                        table.delete().where(table.c.installation_id == inst_id)).rowcount)
            conn.execute(update(installations).where(installations.c.id == inst_id).values(
                credentials=self.vault.encrypt("{}"), webhook_secret=self.vault.encrypt(""), rules={},
                rules_version=None, rate_limited_until=None, status="uninstalled",
                status_reason=f"uninstalled by {actor}"))
            _audit(conn, inst_id, actor, "uninstall", {"deleted": counts}, now)
        self.vault.forget(inst_id)
        return counts

    def erase_customer(self, inst_id: str, email: str | None = None, customer_id: str | None = None,
                       actor: str = "command line") -> dict[str, int]:
        """Erase one customer (GDPR Art. 17) from one installation: their conversations are found by
        the email or helpdesk id in the transcripts kept with the decisions (and the events they
        caused), then their text and identity go from every table, as the retention removes them but
        whatever the age. A write-back not sent yet is left to be written (into the helpdesk, which
        the customer asks separately). Audited with a hash of the identifier, never the identifier.
        Returns the rows changed per table and the conversations found (``tickets``)."""
        email = (email or "").strip().lower() or None
        customer_id = str(customer_id or "").strip() or None
        if not email and not customer_id:
            raise ValueError("give the customer's email or their id in the helpdesk")
        tickets, ids = self._customer_tickets(inst_id, email, customer_id)
        counts = {"tickets": len(tickets), "decisions": 0, "outcomes": 0, "feedback": 0, "outbox": 0, "events": 0}
        ordered = sorted(tickets)
        for start in range(0, len(ordered), LIFECYCLE_BATCH):
            chunk = ordered[start:start + LIFECYCLE_BATCH]
            counts["decisions"] += self._scrub_decisions(decisions.c.installation_id == inst_id,
                                                         decisions.c.ticket_id.in_(chunk))
            counts["outcomes"] += self._blank(outcomes, outcomes.c.installation_id == inst_id,
                                              outcomes.c.ticket_id.in_(chunk))
            counts["feedback"] += self._blank(feedback, feedback.c.installation_id == inst_id,
                                              feedback.c.ticket_id.in_(chunk))
            counts["outbox"] += self._blank(outbox, outbox.c.installation_id == inst_id, outbox.c.ticket_id.in_(chunk),
                                            outbox.c.status.in_(("sent", "dead")))
        with self.engine.begin() as conn:
            if ids:  # who acted: the customer's id, on any ticket of theirs
                counts["events"] = int(conn.execute(update(events).where(
                    events.c.installation_id == inst_id, events.c.actor_id.in_(sorted(ids))).values(actor_id=None)).rowcount)
            subject = f"email:{email}" if email else f"id:{customer_id}"
            _audit(conn, inst_id, actor, "erase", {"subject_sha256": hashlib.sha256(subject.encode()).hexdigest(),
                                                   "counts": counts}, utcnow())
        return counts

    def _customer_tickets(self, inst_id: str, email: str | None, customer_id: str | None) -> tuple[set[str], set[str]]:
        """The tickets of one customer in one installation, read from the transcripts kept with the
        decisions (a batch at a time) and the events they caused, and the customer's helpdesk ids."""
        tickets: set[str] = set()
        ids = {customer_id} if customer_id else set()
        after = 0
        with self.engine.connect() as conn:
            while True:
                rows = conn.execute(select(decisions.c.id, decisions.c.ticket_id, decisions.c.conversation).where(
                    decisions.c.installation_id == inst_id, decisions.c.id > after, _has_json(decisions.c.conversation))
                    .order_by(decisions.c.id).limit(LIFECYCLE_BATCH)).all()
                for _, ticket, conversation in rows:
                    who = (conversation or {}).get("customer") or {}
                    cid = str(who["id"]) if who.get("id") not in (None, "") else None
                    if (email and str(who.get("email") or "").strip().lower() == email) or (customer_id and cid == customer_id):
                        tickets.add(ticket)
                        if cid:
                            ids.add(cid)
                if len(rows) < LIFECYCLE_BATCH:
                    break
                after = rows[-1][0]
            if ids:
                tickets.update(r[0] for r in conn.execute(select(events.c.ticket_id).distinct().where(
                    events.c.installation_id == inst_id, events.c.actor_id.in_(sorted(ids)))))
        return tickets, ids

    def _scrub_decisions(self, *where: Any) -> int:
        """Remove the customer text of the decisions matching ``where``, a batch per transaction: the
        transcript, the explanation and the reasons' summaries and evidence (they quote the
        customer); action, priority, category, tier, route, times and reason codes stay."""
        kept = _has_json(decisions.c.conversation) | (decisions.c.explanation != "")
        done = 0
        while True:
            with self.engine.begin() as conn:
                rows = conn.execute(select(decisions.c.id, decisions.c.reasons).where(*where, kept)
                                    .order_by(decisions.c.id).limit(LIFECYCLE_BATCH)).all()
                for rid, reasons in rows:
                    codes = [{"code": r.get("code"), "summary": r.get("code") or "", "evidence": []}
                             for r in reasons or () if isinstance(r, Mapping)]
                    conn.execute(update(decisions).where(decisions.c.id == rid)
                                 .values(conversation=null(), explanation="", reasons=codes))
            done += len(rows)
            if len(rows) < LIFECYCLE_BATCH:
                return done

    def _blank(self, table: Table, *where: Any) -> int:
        """Null the ``CUSTOMER_TEXT`` columns of ``table`` in the rows matching ``where`` that still
        hold some (so a second run counts nothing)."""
        columns = CUSTOMER_TEXT[table.name]
        holds = or_(*(_has_json(table.c[c]) if isinstance(table.c[c].type, JSON) else table.c[c].is_not(None)
                      for c in columns))
        with self.engine.begin() as conn:
            if table not in (outcomes, feedback):
                return int(conn.execute(update(table).where(*where, holds)
                                        .values({c: null() for c in columns})).rowcount)
            # the agents' answers and what they said the bot lacked are in the closed days' rollups too
            blanked = conn.execute(update(table).where(*where, holds).values({c: null() for c in columns})
                                   .returning(table.c.installation_id, table.c.ticket_id)).all()
            for inst_id in {i for i, _ in blanked}:
                outcomes_rollups.recount_tickets(conn, inst_id, [t for i, t in blanked if i == inst_id])
            return len(blanked)

    # reconciliation: where each installation's last sweep ended, and what Baton already heard of

    def sweep_start(self, inst_id: str) -> tuple[datetime | None, datetime | None]:
        """(where the installation's last reconciliation sweep ended, None before the first one;
        when the installation was made, before which no sweep looks)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(installations.c.swept_at, installations.c.created_at)
                               .where(installations.c.id == inst_id)).first()
        return (utc(row[0]), utc(row[1])) if row else (None, None)

    def mark_swept(self, inst_id: str, at: datetime) -> None:
        """The next sweep of the installation starts at ``at``; the mark never moves back."""
        with self.engine.begin() as conn:
            conn.execute(update(installations).where(
                installations.c.id == inst_id,
                installations.c.swept_at.is_(None) | (installations.c.swept_at < at)).values(swept_at=at))

    def heard_since(self, inst_id: str, changes: Mapping[str, datetime]) -> set[str]:
        """Of ``{ticket id: time}``, the tickets Baton already knows of as of that time: it received
        an event for the ticket then or later (a webhook, or an earlier sweep's own), or one of its
        write-backs to the ticket landed then or later (Baton's own update moves the ticket's
        ``updated_at`` and its webhook is dropped as an echo, so no event says so)."""
        latest: dict[str, datetime] = {}
        ids = sorted(changes)
        with self.engine.connect() as conn:
            for start in range(0, len(ids), SWEEP_CHUNK):
                chunk = ids[start:start + SWEEP_CHUNK]
                for table, column in ((events, events.c.received_at), (outbox, outbox.c.sent_at)):
                    rows = conn.execute(select(table.c.ticket_id, func.max(column)).where(
                        table.c.installation_id == inst_id, table.c.ticket_id.in_(chunk), column.is_not(None))
                        .group_by(table.c.ticket_id))
                    for ticket, at in rows:
                        at = utc(at)
                        if at is not None and (ticket not in latest or at > latest[ticket]):
                            latest[ticket] = at
        return {t for t, at in changes.items() if t in latest and latest[t] >= at}
