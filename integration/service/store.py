"""Durable state: installations, received events, conversation state, decisions, the outbox.

SQLite by default, PostgreSQL through ``DATABASE_URL``; the schema is created and upgraded by the
Alembic migrations in ``migrations/`` beside this file (append-only: a test compares them with
the tables below). Credentials and webhook secrets are encrypted
at rest with Fernet (``BATON_SECRET_KEY``; several comma-separated keys rotate: the first
encrypts, all decrypt).
"""
from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import (JSON, Boolean, Column, Date, DateTime, Float, Index, Integer, MetaData, String, Table, Text,
                        UniqueConstraint, cast, create_engine, event, false, func, insert, null, or_, select, tuple_, update)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from integration.core import limits
from integration.core.codec import conversation_to_json
from integration.core.handoff import bounded_reason
from integration.core.model import (AddNote, AddTags, Assign, Conversation, Decision, Event, Installation, Plan, Priority,
                                    ReplyToCustomer, SetPriority, State, WriteBack, utc)
from integration.core.tally import NO_CATEGORY

metadata = MetaData()

installations = Table(
    "installations", metadata,
    Column("id", String(64), primary_key=True),
    Column("provider", String(32), nullable=False),
    Column("base_url", String(255), nullable=False),
    Column("credentials", Text, nullable=False),  # Fernet token of a JSON object
    Column("webhook_secret", Text, nullable=False),  # Fernet token
    Column("settings", JSON, nullable=False),
    Column("rules", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # active | broken
    Column("status_reason", Text),
    Column("rate_limited_until", DateTime(timezone=True)),  # the helpdesk said: nothing before this
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("rules_version", Integer),  # the published version the rules are (None: as installed)
    Column("swept_at", DateTime(timezone=True)),  # the next reconciliation sweep lists changes from here
)
events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("installation_id", String(64), nullable=False),
    Column("key", String(255), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("ticket_id", String(64), nullable=False),
    Column("actor_id", String(64)),
    Column("status", String(16), nullable=False),  # received | enqueued | processed | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("not_before", DateTime(timezone=True)),  # rate limited: not before this time
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("queued_at", DateTime(timezone=True)),
    Column("processed_at", DateTime(timezone=True)),
    UniqueConstraint("installation_id", "key", name="uq_events_installation_key"),
    Index("ix_events_status", "status", "received_at"),
    Index("ix_events_ticket", "installation_id", "ticket_id"),  # the reconciliation: what Baton heard of a ticket
)
conversations = Table(
    "conversations", metadata,
    Column("installation_id", String(64), primary_key=True),
    Column("ticket_id", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("group_id", String(64)),  # where the last escalation went
    Column("escalated_at", DateTime(timezone=True)),
    Column("first_reply_at", DateTime(timezone=True)),  # a person first answered after the handoff
    Column("customer_messages", Integer),  # the customer's messages when it was handed over
    Column("sla_at", DateTime(timezone=True)),  # nobody answered within the SLA: re-routed then (once)
)
decisions = Table(
    "decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("installation_id", String(64), nullable=False),
    Column("ticket_id", String(64), nullable=False),
    Column("event_id", Integer),
    Column("action", String(16), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("category", String(64)),
    Column("tier", Integer, nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("explanation", Text, nullable=False),
    Column("route", JSON),  # where it went and why each candidate was passed over
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("conversation", JSON),  # the conversation decided on (customer text: kept for the preview)
    Column("rules_version", Integer),  # the rules version that decided (None: as installed)
    Index("ix_decisions_ticket", "installation_id", "ticket_id"),
    Index("ix_decisions_recent", "installation_id", "created_at", "id"),  # the console's activity, by keyset (0008)
)
rule_versions = Table(
    "rule_versions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("installation_id", String(64), nullable=False),
    Column("number", Integer, nullable=False),  # 1, 2, 3 … per installation
    Column("rules", JSON, nullable=False),
    Column("comment", Text, nullable=False),
    Column("author", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("installation_id", "number", name="uq_rule_versions_number"),
)
rule_drafts = Table(
    "rule_drafts", metadata,
    Column("installation_id", String(64), primary_key=True),
    Column("rules", JSON, nullable=False),
    Column("author", String(255), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("installation_id", String(64), nullable=False),
    Column("ticket_id", String(64), nullable=False),
    Column("decision_id", Integer),
    Column("verdict", String(16)),  # right | not_needed | too_late
    Column("resolution", String(64)),  # one of the installation's resolution types
    Column("missing_knowledge", Text),  # what the bot should have known
    Column("author_id", String(64), nullable=False),
    Column("author_name", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_feedback_ticket", "installation_id", "ticket_id"),
)
outcomes = Table(
    "outcomes", metadata,
    Column("installation_id", String(64), primary_key=True),
    Column("ticket_id", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),  # first seen by Baton
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("channel", String(16)),
    Column("bot_involved", Boolean, nullable=False, server_default=false()),  # else: the human-only baseline
    Column("escalated", Boolean, nullable=False, server_default=false()),  # Baton handed it over
    Column("escalated_at", DateTime(timezone=True)),
    Column("category", String(64)),  # of the handoff, or of the last decision
    Column("reasons", JSON),  # the signals that fired at the last decision
    # not handed over, and the customer asked for a person later on (an under-escalation label)
    Column("asked_for_human_later", Boolean, nullable=False, server_default=false()),
    Column("assigned_at", DateTime(timezone=True)),
    Column("assignee_id", String(64)),
    Column("first_agent_reply_at", DateTime(timezone=True)),
    Column("solved_at", DateTime(timezone=True)),
    Column("reopens", Integer, nullable=False, server_default="0"),
    Column("csat", Float),  # 0 bad … 1 good
    Column("csat_at", DateTime(timezone=True)),
    Column("verdict", String(16)),  # right | not_needed | too_late (a tag; the panel's are in feedback)
    Column("resolution", String(64)),  # a resolution type (a tag; the panel's are in feedback)
    Column("suggested", String(64)),  # the resolution type the note suggested at the handoff
    Column("query_text", Text),  # the customer's words (customer text: under the retention)
    Column("answer_text", Text),  # the gist of the agent's resolving reply (idem)
    Column("bot_verdict", String(32)),  # the helpdesk's AI agent's own verdict (model.BOT_VERDICTS)
    Index("ix_outcomes_recent", "installation_id", "created_at"),
)
# the analytics' counts of each closed UTC day and category (integration/service/rollups.py, 0009)
rollups = Table(
    "rollups", metadata,
    Column("installation_id", String(64), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("category", String(64), primary_key=True),  # tally.NO_CATEGORY for none
    Column("figures", JSON, nullable=False),  # Tally.to_json
)
rollup_marks = Table(
    "rollup_marks", metadata,
    Column("installation_id", String(64), primary_key=True),
    Column("through", DateTime(timezone=True), nullable=False),  # every day before this one is in rollups
)
audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("installation_id", String(64), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),  # draft | publish | rollback | settings | retry | uninstall …
    Column("detail", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_audit_installation", "installation_id", "created_at"),
)
rosters = Table(
    "rosters", metadata,
    Column("installation_id", String(64), primary_key=True),
    Column("data", JSON, nullable=False),  # agents and groups, normalized by the connector
    Column("synced_at", DateTime(timezone=True), nullable=False),
)
outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("installation_id", String(64), nullable=False),
    Column("ticket_id", String(64), nullable=False),
    Column("decision_id", Integer),
    Column("key", String(255), nullable=False, unique=True),
    Column("plan", JSON),  # emptied once sent: the note holds customer text
    Column("status", String(16), nullable=False),  # pending | sending | sent | parked | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("not_before", DateTime(timezone=True)),
    Column("lease_until", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Index("ix_outbox_status", "status", "not_before"),
    Index("ix_outbox_ticket", "installation_id", "ticket_id"),  # earlier plans of a ticket, read per decision
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class SecretsUnreadable(RuntimeError):
    """A stored secret does not decrypt with the configured key (a wrong BATON_SECRET_KEY)."""


class Vault:
    """Fernet encryption of secrets at rest, with key rotation."""

    def __init__(self, keys: str):
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise ValueError("BATON_SECRET_KEY is not set: generate one with python -m integration secret-key")
        self._fernet = MultiFernet([Fernet(k) for k in parts])

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as e:
            raise SecretsUnreadable("cannot decrypt a stored secret: wrong BATON_SECRET_KEY?") from e

    def rotate(self, token: str) -> str:
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as e:
            raise SecretsUnreadable("cannot decrypt a stored secret: wrong BATON_SECRET_KEY?") from e


@dataclass(frozen=True)
class EventRow:
    id: int
    event: Event
    status: str
    attempts: int
    received_at: datetime


@dataclass(frozen=True)
class EventContext:
    """Everything a decision on one event needs from the database, read in one transaction."""

    row: EventRow
    installation: Installation | None
    state: State
    rate_limited_until: datetime | None
    roster: Mapping[str, Any]
    roster_synced_at: datetime | None
    group_stats: Mapping[str, tuple[int, list[float]]]  # group → (waiting, recent first replies in minutes)
    earlier_plans: int  # write-backs already planned for this ticket
    escalated_at: datetime | None = None  # when the conversation was last handed over
    messages_at_handoff: int | None = None  # the customer's messages then: later ones are new to the agent
    recent_writes: int | None = None  # write-backs sent to the ticket since ``writes_since`` (the loop breaker)


@dataclass(frozen=True)
class Outcome:
    """What handling one event changed. :meth:`Store.commit` writes all of it in one transaction:
    the event's status, the decision, the planned write-back, the conversation and the
    installation's flags."""

    status: str  # processed | dead | received (waiting for ``not_before``)
    note: str | None = None  # why: a state change, an error, the wait's reason
    not_before: datetime | None = None
    attempt: bool = False  # this try counts toward the dead-letter cap
    state: State | None = None  # the conversation's new state
    escalated_to: str | None = None  # with state ESCALATED: the group it went to
    customer_messages: int | None = None  # with state ESCALATED: the customer's messages so far
    first_reply: bool = False  # a person answered: closes the wait sample
    decision: Decision | None = None
    route: Mapping[str, Any] | None = None
    conversation: Conversation | None = None  # what the decision was made on: the preview replays it
    observed: Mapping[str, Any] | None = None  # outcome columns this event tells (see ``outcomes``)
    plan: Plan | None = None
    flag: str | None = None  # the installation needs its admin, for this reason
    rate_limited_until: datetime | None = None
    # held with its installation after a 429: parked for the drain, which lets one probe go at
    # Retry-After and the rest once it answers (never a countdown, however short the wait)
    held: bool = False


@dataclass(frozen=True)
class OutboxRow:
    id: int
    installation_id: str
    ticket_id: str
    plan: Plan | None
    status: str
    attempts: int
    not_before: datetime | None


@dataclass(frozen=True)
class Delivery:
    """An outbox row claimed for one attempt, with its installation, read in the claiming transaction."""

    row: OutboxRow
    installation: Installation | None
    rate_limited_until: datetime | None
    recent_writes: int | None = None  # write-backs sent to its ticket since ``writes_since``; None: not read


class Store:
    def __init__(self, url: str, vault: Vault):
        self.url = _driver(url)
        if self.url.startswith("sqlite:///"):
            Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(self.url, pool_pre_ping=True, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.vault = vault

    def migrate(self) -> None:
        from alembic import command

        with self.engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    # installations

    def add_installation(self, provider: str, base_url: str, credentials: Mapping[str, str],
                         settings: Mapping[str, Any] | None = None, rules: Mapping[str, Any] | None = None,
                         webhook_secret: str | None = None, id: str | None = None) -> Installation:
        inst_id = id or _new_id()
        secret = webhook_secret or secrets.token_urlsafe(32)  # 256 bits when we choose it
        with self.engine.begin() as conn:
            conn.execute(insert(installations).values(
                id=inst_id, provider=provider, base_url=base_url,
                credentials=self.vault.encrypt(json.dumps(dict(credentials))),
                webhook_secret=self.vault.encrypt(secret), settings=dict(settings or {}),
                rules=dict(rules or {}), status="active", created_at=utcnow(),
            ))
        return self.installation(inst_id)  # type: ignore[return-value]

    def installation(self, inst_id: str) -> Installation | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(installations).where(installations.c.id == inst_id)).mappings().first()
        return self._installation(row) if row else None

    def _installation(self, row: Mapping[str, Any]) -> Installation:
        return Installation(
            id=row["id"], provider=row["provider"], base_url=row["base_url"],
            credentials=json.loads(self.vault.decrypt(row["credentials"])),
            webhook_secret=self.vault.decrypt(row["webhook_secret"]),
            settings=row["settings"], rules=row["rules"], status=row["status"], rules_version=row["rules_version"],
        )

    def update_installation(self, inst_id: str, *, webhook_secret: str | None = None,
                            settings: Mapping[str, Any] | None = None, rules: Mapping[str, Any] | None = None,
                            credentials: Mapping[str, str] | None = None) -> None:
        values: dict[str, Any] = {}
        if credentials is not None:  # reconnected: new token, and the admin's problem is solved
            values.update(credentials=self.vault.encrypt(json.dumps(dict(credentials))), status="active",
                          status_reason=None)
        if webhook_secret is not None:
            values["webhook_secret"] = self.vault.encrypt(webhook_secret)
        if settings is not None:
            values["settings"] = dict(settings)
        if rules is not None:
            values["rules"] = dict(rules)
        with self.engine.begin() as conn:
            conn.execute(update(installations).where(installations.c.id == inst_id).values(**values))

    def delete_installation(self, inst_id: str) -> None:
        """Remove an installation that never worked (its install failed): nothing else refers to it yet."""
        with self.engine.begin() as conn:
            conn.execute(installations.delete().where(installations.c.id == inst_id))

    def active_installations(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(installations.c.id).where(installations.c.status == "active"))]

    def flagged_installations(self) -> list[str]:
        """Installations waiting for their admin (credentials refused, rules invalid)."""
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(installations.c.id).where(installations.c.status == "broken"))]

    def find_installation(self, provider: str, *, base_url: str | None = None,
                          setting: tuple[str, str] | None = None) -> Installation | None:
        """The installation of this helpdesk account, found by its address (Zendesk: the JWT's
        issuer) or by a setting (Intercom: the workspace id), uninstalled ones last."""
        q = select(installations.c.id, installations.c.settings, installations.c.status).where(
            installations.c.provider == provider).order_by(installations.c.created_at.desc())
        if base_url is not None:
            url = base_url.rstrip("/").lower()
            q = q.where(func.lower(installations.c.base_url).in_((url, url + "/")))
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        found = [r for r in rows if setting is None or str((r["settings"] or {}).get(setting[0])) == setting[1]]
        found.sort(key=lambda r: r["status"] == "uninstalled")
        return self.installation(found[0]["id"]) if found else None

    def uninstall(self, inst_id: str, actor: str) -> dict[str, int]:
        """The helpdesk removed the app (or the operator did): Baton stops acting for this account
        and deletes its data, keeping a tombstone and the audited counts (:meth:`purge_installation`,
        whose counts per table are returned)."""
        return self.purge_installation(inst_id, actor)

    def reactivate(self, inst_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(installations).where(installations.c.id == inst_id)
                         .values(status="active", status_reason=None))

    def check_secrets(self) -> None:
        """Raise SecretsUnreadable when the configured key cannot decrypt the stored secrets (a wrong
        BATON_SECRET_KEY): every webhook would fail, so health must say so."""
        with self.engine.connect() as conn:
            token = conn.execute(select(installations.c.webhook_secret)
                                 .order_by(installations.c.created_at.desc()).limit(1)).scalar()
        if token is not None:
            self.vault.decrypt(token)

    def rate_limit(self, inst_id: str, until: datetime) -> None:
        with self.engine.begin() as conn:
            _rate_limit(conn, inst_id, until)

    def rate_limited_until(self, inst_id: str) -> datetime | None:
        with self.engine.connect() as conn:
            return utc(conn.execute(select(installations.c.rate_limited_until)
                                    .where(installations.c.id == inst_id)).scalar())

    def installation_status(self, inst_id: str) -> tuple[str, str | None]:
        with self.engine.connect() as conn:
            row = conn.execute(select(installations.c.status, installations.c.status_reason)
                               .where(installations.c.id == inst_id)).first()
        return (row[0], row[1]) if row else ("unknown", None)

    # events: the web tier's one transaction per delivery

    def receive(self, ev: Event, now: datetime | None = None) -> tuple[int, str, bool]:
        """Record the event once per (installation, key), as queued: the caller queues it next and
        calls :meth:`unqueue` if it cannot. Returns (row id, status, whether it is new)."""
        now = now or utcnow()
        with self.engine.begin() as conn:
            rid = _insert_or_ignore(conn, events, ("installation_id", "key"), dict(
                installation_id=ev.installation_id, key=ev.key, kind=ev.kind, ticket_id=ev.ticket_id,
                actor_id=ev.actor_id, status="enqueued", attempts=0, received_at=now, queued_at=now))
            if rid is not None:
                return rid, "enqueued", True
            row = conn.execute(select(events.c.id, events.c.status).where(
                events.c.installation_id == ev.installation_id, events.c.key == ev.key)).one()
        return int(row[0]), row[1], False

    def unqueue(self, event_id: int) -> None:
        """The queue refused it: leave it for the drain, which queues what was received and not queued."""
        with self.engine.begin() as conn:
            conn.execute(update(events).where(events.c.id == event_id, events.c.status == "enqueued")
                         .values(status="received", queued_at=None))

    def event(self, event_id: int) -> EventRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(events, installations.c.provider)
                             .join(installations, installations.c.id == events.c.installation_id)
                             .where(events.c.id == event_id)).mappings().first()
        return _event_row(r) if r else None

    def fail_event(self, event_id: int, error: str, max_attempts: int) -> int:
        """Count a failed attempt on an event that could not even be read; dead at ``max_attempts``.
        Returns the attempts so far."""
        with self.engine.begin() as conn:
            conn.execute(update(events).where(events.c.id == event_id)
                         .values(attempts=events.c.attempts + 1, error=error))
            attempts = int(conn.execute(select(events.c.attempts).where(events.c.id == event_id)).scalar() or 0)
            if attempts >= max_attempts:
                conn.execute(update(events).where(events.c.id == event_id).values(status="dead", processed_at=utcnow()))
        return attempts

    def replay(self, inst_id: str) -> tuple[int, int]:
        """Give an installation's dead events and dead write-backs another chance (after the admin
        fixed what killed them): they start again with no attempts. Returns (events, writes)."""
        with self.engine.begin() as conn:
            n_events = conn.execute(update(events).where(events.c.installation_id == inst_id, events.c.status == "dead")
                                    .values(status="received", attempts=0, not_before=utcnow(), queued_at=None,
                                            processed_at=None)).rowcount
            n_writes = conn.execute(update(outbox).where(outbox.c.installation_id == inst_id, outbox.c.status == "dead",
                                                         outbox.c.plan.is_not(None))
                                    .values(status="parked", attempts=0, not_before=utcnow(), lease_until=None)).rowcount
        return int(n_events), int(n_writes)

    def unfinished_events(self) -> list[int]:
        """Events received or queued and not processed yet, whose wait (if any) is over: what an
        in-memory queue lost when its process ended."""
        now = utcnow()
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(events.c.id).where(
                events.c.status.in_(("received", "enqueued")),
                events.c.not_before.is_(None) | (events.c.not_before <= now)).order_by(events.c.id))]

    def mark_enqueued(self, event_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(events).where(events.c.id == event_id, events.c.status.in_(("received", "enqueued")))
                         .values(status="enqueued", queued_at=utcnow()))

    def stranded_events(self, older_than: timedelta, now: datetime | None = None,
                        requeue_after: timedelta = timedelta(minutes=15)) -> list[int]:
        """Events to queue (again): recorded while the broker was down, parked until a long
        Retry-After, or queued so long ago that their task must be lost (a worker killed mid-task
        waits for the broker's visibility timeout; Redis without AOF forgets). Processing an event
        twice is harmless, losing one is not."""
        return [eid for eid, _, _ in self.due_events(older_than, now, requeue_after)]

    def due_events(self, older_than: timedelta, now: datetime | None = None,
                   requeue_after: timedelta = timedelta(minutes=15)) -> list[tuple[int, str, datetime | None]]:
        """:meth:`stranded_events` as (id, installation, parked until): the time a parked event
        waited for (Retry-After, a backoff), None for one stranded or lost. Oldest first."""
        now = now or utcnow()
        with self.engine.connect() as conn:
            return [(r[0], r[1], utc(r[2]) if r[3] == "received" else None) for r in conn.execute(
                select(events.c.id, events.c.installation_id, events.c.not_before, events.c.status).where(
                    ((events.c.status == "received")
                     & ((events.c.not_before.is_(None) & (events.c.received_at <= now - older_than))
                        | (events.c.not_before <= now)))
                    | ((events.c.status == "enqueued") & (events.c.queued_at <= now - requeue_after)))
                .order_by(events.c.id))]

    # the worker's unit of work: one read, a pure decision, one commit

    def event_context(self, event_id: int, *, for_decision: bool = True,
                      writes_since: datetime | None = None) -> EventContext | None:
        """The event, its installation, the conversation's state, the 429 hold, the roster and
        the wait statistics (only ``for_decision``), and the write-backs sent to the ticket since
        ``writes_since``, in one read transaction."""
        with self.engine.connect() as conn:
            r = conn.execute(
                select(events, installations.c.provider, *_INSTALLATION, conversations.c.state.label("conversation_state"),
                       conversations.c.escalated_at.label("conversation_escalated_at"),
                       conversations.c.customer_messages.label("conversation_customer_messages"),
                       rosters.c.data.label("roster"), rosters.c.synced_at.label("roster_synced_at"))
                .outerjoin(installations, installations.c.id == events.c.installation_id)
                .outerjoin(conversations, (conversations.c.installation_id == events.c.installation_id)
                           & (conversations.c.ticket_id == events.c.ticket_id))
                .outerjoin(rosters, rosters.c.installation_id == events.c.installation_id)
                .where(events.c.id == event_id)).mappings().first()
            if r is None:
                return None
            row = _event_row(r)
            inst = self._installation(_unprefixed(r)) if r["provider"] is not None else None
            state = State(r["conversation_state"]) if r["conversation_state"] else State.BOT
            stats: dict[str, tuple[int, list[float]]] = {}
            earlier = 0
            if for_decision and inst is not None and state not in (State.ESCALATED, State.ASSIGNED):
                stats = _group_stats(conn, inst.id)
                earlier = conn.execute(select(func.count()).select_from(outbox).where(
                    outbox.c.installation_id == inst.id, outbox.c.ticket_id == row.event.ticket_id)).scalar_one()
            recent = (_writes_to_ticket(conn, inst.id, row.event.ticket_id, writes_since)
                      if writes_since is not None and inst is not None else None)
        return EventContext(row, inst, state, utc(r["i_rate_limited_until"]), dict(r["roster"] or {}),
                            utc(r["roster_synced_at"]), stats, int(earlier), utc(r["conversation_escalated_at"]),
                            r["conversation_customer_messages"], recent)

    def commit(self, ctx: EventContext, outcome: Outcome, now: datetime, lease: timedelta) -> OutboxRow | None:
        """Write one event's outcome in one transaction. A new plan is stored already claimed by the
        caller (sending, with a lease) and returned for delivery at once; a plan whose key exists
        belongs to whoever stored it first, and None is returned."""
        ev = ctx.row.event
        with self.engine.begin() as conn:
            values: dict[str, Any] = {"status": outcome.status, "error": outcome.note, "not_before": outcome.not_before}
            if outcome.attempt:
                values["attempts"] = events.c.attempts + 1
            if outcome.status in ("processed", "dead"):
                values["processed_at"] = now
            conn.execute(update(events).where(events.c.id == ctx.row.id).values(**values))
            if outcome.observed:
                _observe(conn, ev.installation_id, ev.ticket_id, outcome.observed, now)
            if outcome.flag:
                _flag(conn, ev.installation_id, outcome.flag)
            if outcome.rate_limited_until:
                _rate_limit(conn, ev.installation_id, outcome.rate_limited_until)
            if outcome.state is not None:
                state: dict[str, Any] = {"state": outcome.state.value, "updated_at": now}
                key = dict(installation_id=ev.installation_id, ticket_id=ev.ticket_id)
                if outcome.state is State.ESCALATED:
                    state.update(group_id=outcome.escalated_to, escalated_at=now, first_reply_at=None,
                                 customer_messages=outcome.customer_messages)
                    _hand_over(conn, key, ctx.state, state)
                else:
                    _upsert(conn, conversations, ("installation_id", "ticket_id"), key, state)
            if outcome.first_reply:
                conn.execute(update(conversations).where(
                    conversations.c.installation_id == ev.installation_id, conversations.c.ticket_id == ev.ticket_id,
                    conversations.c.escalated_at.is_not(None), conversations.c.first_reply_at.is_(None))
                    .values(first_reply_at=now))
                from integration.service import rollups

                rollups.first_reply(conn, ev.installation_id, ev.ticket_id, now)  # until the helpdesk's figure is read
            decision_id = None
            if outcome.decision is not None:
                decision_id = conn.execute(insert(decisions).values(
                    **_decision_values(ev.installation_id, ev.ticket_id, ctx.row.id, outcome.decision, outcome.route),
                    conversation=conversation_to_json(limits.kept(outcome.conversation)) if outcome.conversation else None,
                    rules_version=ctx.installation.rules_version if ctx.installation else None,
                    created_at=now)).inserted_primary_key[0]
            if outcome.plan is None:
                return None
            plan = outcome.plan
            oid = _insert_or_ignore(conn, outbox, ("key",), dict(
                installation_id=ev.installation_id, ticket_id=plan.ticket_id, decision_id=decision_id, key=plan.key,
                plan=plan_to_json(plan), status="sending", attempts=1, lease_until=now + lease, created_at=now))
        return OutboxRow(oid, ev.installation_id, plan.ticket_id, plan, "sending", 1, None) if oid else None

    # conversations and decisions

    def state(self, inst_id: str, ticket_id: str) -> State:
        with self.engine.connect() as conn:
            s = conn.execute(select(conversations.c.state).where(
                conversations.c.installation_id == inst_id, conversations.c.ticket_id == ticket_id)).scalar()
        return State(s) if s else State.BOT

    def set_state(self, inst_id: str, ticket_id: str, state: State) -> None:
        with self.engine.begin() as conn:
            _upsert(conn, conversations, ("installation_id", "ticket_id"),
                    dict(installation_id=inst_id, ticket_id=ticket_id), {"state": state.value, "updated_at": utcnow()})

    def group_stats(self, inst_id: str) -> dict[str, tuple[int, list[float]]]:
        with self.engine.connect() as conn:
            return _group_stats(conn, inst_id)

    def decisions_for(self, inst_id: str, ticket_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(decisions).where(
                decisions.c.installation_id == inst_id, decisions.c.ticket_id == ticket_id)
                .order_by(decisions.c.id)).mappings()]

    # the console: rules versions and drafts, the conversations decided on, feedback, audit

    def publish(self, inst_id: str, rules: Mapping[str, Any], author: str, comment: str,
                action: str = "publish") -> int:
        """Make ``rules`` the installation's rules as a new version (the rules it had before the
        first publish are kept as version 1, "as installed"); the draft is gone and the change is
        audited, all in one transaction. Returns the new version's number."""
        now = utcnow()
        with self.engine.begin() as conn:
            numbers = select(func.max(rule_versions.c.number)).where(rule_versions.c.installation_id == inst_id)
            last = conn.execute(numbers).scalar()
            if last is None:
                before = conn.execute(select(installations.c.rules).where(installations.c.id == inst_id)).scalar()
                conn.execute(insert(rule_versions).values(installation_id=inst_id, number=1, rules=before or {},
                                                          comment="as installed", author="installation",
                                                          created_at=now))
                last = 1
            number = last + 1
            conn.execute(insert(rule_versions).values(installation_id=inst_id, number=number, rules=dict(rules),
                                                      comment=comment, author=author, created_at=now))
            conn.execute(update(installations).where(installations.c.id == inst_id)
                         .values(rules=dict(rules), rules_version=number))
            conn.execute(rule_drafts.delete().where(rule_drafts.c.installation_id == inst_id))
            _audit(conn, inst_id, author, action, {"version": number, "comment": comment}, now)
        return number

    def versions(self, inst_id: str) -> list[dict[str, Any]]:
        """Every published version, the newest first."""
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(rule_versions).where(
                rule_versions.c.installation_id == inst_id).order_by(rule_versions.c.number.desc())).mappings()]

    def version(self, inst_id: str, number: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(rule_versions).where(rule_versions.c.installation_id == inst_id,
                                                         rule_versions.c.number == number)).mappings().first()
        return dict(r) if r else None

    def save_draft(self, inst_id: str, rules: Mapping[str, Any], author: str) -> None:
        now = utcnow()
        with self.engine.begin() as conn:
            _upsert(conn, rule_drafts, ("installation_id",), dict(installation_id=inst_id),
                    {"rules": dict(rules), "author": author, "updated_at": now})
            _audit(conn, inst_id, author, "draft", {}, now)

    def draft(self, inst_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(rule_drafts).where(rule_drafts.c.installation_id == inst_id)).mappings().first()
        return dict(r) if r else None

    def discard_draft(self, inst_id: str, author: str) -> None:
        with self.engine.begin() as conn:
            if conn.execute(rule_drafts.delete().where(rule_drafts.c.installation_id == inst_id)).rowcount:
                _audit(conn, inst_id, author, "discard draft", {}, utcnow())

    def change_settings(self, inst_id: str, changes: Mapping[str, Any], author: str) -> None:
        """Change some of the installation's settings (not its credentials), audited."""
        now = utcnow()
        with self.engine.begin() as conn:
            current = conn.execute(select(installations.c.settings).where(installations.c.id == inst_id)).scalar()
            conn.execute(update(installations).where(installations.c.id == inst_id)
                         .values(settings={**(current or {}), **changes}))
            _audit(conn, inst_id, author, "settings", {"changed": sorted(changes)}, now)

    def audit_log(self, inst_id: str, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(audit).where(audit.c.installation_id == inst_id)
                                                  .order_by(audit.c.id.desc()).limit(limit)).mappings()]

    def record_audit(self, inst_id: str, actor: str, action: str, detail: Mapping[str, Any]) -> None:
        with self.engine.begin() as conn:
            _audit(conn, inst_id, actor, action, detail, utcnow())

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
        category, [] none. Returns the rows (without the conversation, with its subject), whether
        older ones exist and whether newer ones exist."""
        if categories is not None and not categories:
            return [], False, False
        cols = [c for c in decisions.c if c.name != "conversation"]
        subject = decisions.c.conversation["subject"].as_string().label("subject")
        q = select(*cols, subject).where(decisions.c.installation_id == inst_id)
        if action:
            q = q.where(decisions.c.action == action)
        if categories is not None:
            q = q.where(decisions.c.category.in_(categories))
        if ticket_id:
            q = q.where(decisions.c.ticket_id == ticket_id)
        if since is not None:
            q = q.where(decisions.c.created_at >= since)
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
        for r in rows:
            r["created_at"] = utc(r["created_at"])
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
            from integration.service import rollups

            rollups.feedback_given(conn, inst_id, ticket_id, fid)  # the panel's word counts in a closed day's rollup
            return fid

    def feedback_for(self, inst_id: str, ticket_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(feedback).where(
                feedback.c.installation_id == inst_id, feedback.c.ticket_id == ticket_id)
                .order_by(feedback.c.id)).mappings()]

    def backlog(self) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
        """Per helpdesk: events not processed yet, and dead events and write-backs (for /metrics)."""
        with self.engine.connect() as conn:
            depth = dict(conn.execute(select(installations.c.provider, func.count())
                                      .select_from(events.join(installations, installations.c.id == events.c.installation_id))
                                      .where(events.c.status.in_(("received", "enqueued")))
                                      .group_by(installations.c.provider)).all())
            dead = {(p, "event"): n for p, n in conn.execute(
                select(installations.c.provider, func.count())
                .select_from(events.join(installations, installations.c.id == events.c.installation_id))
                .where(events.c.status == "dead").group_by(installations.c.provider))}
            dead.update({(p, "write"): n for p, n in conn.execute(
                select(installations.c.provider, func.count())
                .select_from(outbox.join(installations, installations.c.id == outbox.c.installation_id))
                .where(outbox.c.status == "dead").group_by(installations.c.provider))})
        return depth, dead

    # handoff SLA

    def waiting_handoffs(self, inst_id: str) -> list[dict[str, Any]]:
        """Handed-over conversations nobody answered yet and not re-routed for their SLA, with the
        category and route of their handoff decision."""
        latest = (select(decisions.c.ticket_id, func.max(decisions.c.id).label("id"))
                  .where(decisions.c.installation_id == inst_id, decisions.c.action == "escalate")
                  .group_by(decisions.c.ticket_id).subquery())
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(conversations.c.ticket_id, conversations.c.group_id, conversations.c.escalated_at,
                       decisions.c.category, decisions.c.route)
                .join(latest, latest.c.ticket_id == conversations.c.ticket_id)
                .join(decisions, decisions.c.id == latest.c.id)
                .where(conversations.c.installation_id == inst_id, conversations.c.state == State.ESCALATED.value,
                       conversations.c.first_reply_at.is_(None), conversations.c.sla_at.is_(None),
                       conversations.c.escalated_at.is_not(None))).mappings().all()
        return [{**r, "escalated_at": utc(r["escalated_at"])} for r in rows]

    def plan_sla(self, inst_id: str, plan: Plan, now: datetime, lease: timedelta) -> OutboxRow | None:
        """Mark the conversation re-routed for its SLA and store the write-back already claimed, in
        one transaction (None: it was marked already)."""
        with self.engine.begin() as conn:
            marked = conn.execute(update(conversations).where(
                conversations.c.installation_id == inst_id, conversations.c.ticket_id == plan.ticket_id,
                conversations.c.sla_at.is_(None)).values(sla_at=now)).rowcount
            if not marked:
                return None
            oid = _insert_or_ignore(conn, outbox, ("key",), dict(
                installation_id=inst_id, ticket_id=plan.ticket_id, key=plan.key, plan=plan_to_json(plan),
                status="sending", attempts=1, lease_until=now + lease, created_at=now))
        return OutboxRow(oid, inst_id, plan.ticket_id, plan, "sending", 1, None) if oid else None

    # outcomes: what became of each conversation (the analytics, the calibration, the suggestions)

    def record_outcome(self, inst_id: str, ticket_id: str, values: Mapping[str, Any], now: datetime | None = None) -> None:
        """Set these outcome columns of the conversation (the row is made on first sight)."""
        now = now or utcnow()
        with self.engine.begin() as conn:
            _record_outcome(conn, inst_id, ticket_id, values, now)

    def outcome(self, inst_id: str, ticket_id: str) -> dict[str, Any] | None:
        """Everything recorded about one conversation's outcome (the figures read less: ``outcome_rows``)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(outcomes).where(outcomes.c.installation_id == inst_id,
                                                      outcomes.c.ticket_id == ticket_id)).mappings().first()
        return None if row is None else {k: utc(v) if isinstance(v, datetime) else v for k, v in row.items()}

    def outcome_rows(self, inst_id: str, since: datetime | None = None) -> list[dict[str, Any]]:
        """Every outcome of the installation first seen since ``since``, oldest first, with the
        agents' feedback from the panel taking precedence over tags (``verdict``, ``resolution``;
        ``missing_knowledge``: what the bot should have known)."""
        with self.engine.connect() as conn:
            return _with_feedback(conn, inst_id, _outcome_rows(conn, inst_id, since), since)

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

    # rosters

    def save_roster(self, inst_id: str, data: Mapping[str, Any]) -> None:
        with self.engine.begin() as conn:
            _upsert(conn, rosters, ("installation_id",), dict(installation_id=inst_id),
                    {"data": dict(data), "synced_at": utcnow()})

    def roster(self, inst_id: str) -> tuple[dict[str, Any], datetime | None]:
        with self.engine.connect() as conn:
            row = conn.execute(select(rosters.c.data, rosters.c.synced_at)
                               .where(rosters.c.installation_id == inst_id)).first()
        return (dict(row[0]), utc(row[1])) if row else ({}, None)

    # outbox

    def claim(self, outbox_id: int, lease: timedelta, now: datetime | None = None,
              writes_since: datetime | None = None) -> Delivery | None:
        """Take the row for one delivery attempt, or None if it is sent, dead, parked for later or
        held by a live lease. The conditional UPDATE makes two workers never both send; the row
        and its installation are read in the same transaction."""
        now = now or utcnow()
        with self.engine.begin() as conn:
            claimable = (
                (outbox.c.status == "pending")
                | ((outbox.c.status == "parked") & (outbox.c.not_before <= now))
                | ((outbox.c.status == "sending") & (outbox.c.lease_until <= now))
            )
            n = conn.execute(update(outbox).where(outbox.c.id == outbox_id, claimable).values(
                status="sending", lease_until=now + lease, attempts=outbox.c.attempts + 1)).rowcount
            if not n:
                return None
            r = conn.execute(select(outbox, *_INSTALLATION)
                             .outerjoin(installations, installations.c.id == outbox.c.installation_id)
                             .where(outbox.c.id == outbox_id)).mappings().one()
            recent = (_writes_to_ticket(conn, r["installation_id"], r["ticket_id"], writes_since)
                      if writes_since is not None else None)
        inst = self._installation(_unprefixed(r)) if r["i_id"] is not None else None
        return Delivery(_outbox_row(r), inst, utc(r["i_rate_limited_until"]), recent)

    def outbox_row(self, outbox_id: int) -> OutboxRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(outbox).where(outbox.c.id == outbox_id)).mappings().first()
        return _outbox_row(r) if r else None

    def finish(self, outbox_id: int, status: str, error: str | None = None, not_before: datetime | None = None,
               refund: bool = False, *, flag: tuple[str, str] | None = None,
               rate_limited: tuple[str, datetime] | None = None) -> None:
        """End a delivery attempt in one transaction; ``refund`` does not count it (a wait the
        helpdesk asked for); ``flag`` and ``rate_limited`` also mark the installation."""
        values: dict[str, Any] = {"status": status, "last_error": error, "lease_until": None, "not_before": not_before}
        if refund:
            values["attempts"] = outbox.c.attempts - 1
        if status == "sent":
            values.update(sent_at=utcnow(), plan=None)
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(**values))
            if flag:
                _flag(conn, *flag)
            if rate_limited:
                _rate_limit(conn, *rate_limited)

    def due_outbox(self, now: datetime | None = None, pending_for: timedelta = timedelta(seconds=30)) -> list[int]:
        """Writes to (re)send: parked ones whose time has come, ones whose sender died (lease
        expired), and ones left pending because their task was never enqueued."""
        return [oid for oid, _, _ in self.due_writes(now, pending_for)]

    def due_writes(self, now: datetime | None = None,
                   pending_for: timedelta = timedelta(seconds=30)) -> list[tuple[int, str, datetime | None]]:
        """:meth:`due_outbox` as (id, installation, parked until): the time a parked write waited
        for, None for one whose sender died or was never queued. Oldest first."""
        now = now or utcnow()
        with self.engine.connect() as conn:
            return [(r[0], r[1], utc(r[2]) if r[3] == "parked" else None) for r in conn.execute(
                select(outbox.c.id, outbox.c.installation_id, outbox.c.not_before, outbox.c.status).where(
                    ((outbox.c.status == "parked") & (outbox.c.not_before <= now))
                    | ((outbox.c.status == "sending") & (outbox.c.lease_until <= now))
                    | ((outbox.c.status == "pending") & (outbox.c.created_at <= now - pending_for)))
                .order_by(outbox.c.id))]

    def rows(self, table: Table, **where: Any) -> list[dict[str, Any]]:
        """For the demo, tests and the admin: rows of a table matching equality filters."""
        q = select(table)
        for k, v in where.items():
            q = q.where(table.c[k] == v)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    # data lifecycle: retention, uninstall purge, erasure of one customer, key rotation (README "Data lifecycle")

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

    def purge_installation(self, inst_id: str, actor: str = "Baton") -> dict[str, int]:
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

    def rotate_secrets(self, batch: int | None = None) -> int:
        """Re-encrypt every stored secret with the first key of BATON_SECRET_KEY ("new,old"), a batch
        of installations per transaction; afterwards the old key can be dropped. Raises
        SecretsUnreadable (naming the installation) when no configured key opens a secret.
        Returns how many rows were rotated."""
        batch = batch or LIFECYCLE_BATCH
        rotated, after = 0, None
        while True:
            with self.engine.begin() as conn:
                q = select(installations.c.id, *(installations.c[c] for c in ENCRYPTED_COLUMNS))
                if after is not None:
                    q = q.where(installations.c.id > after)
                rows = conn.execute(q.order_by(installations.c.id).limit(batch)).mappings().all()
                for r in rows:
                    try:
                        values = {c: self.vault.rotate(r[c]) for c in ENCRYPTED_COLUMNS}
                    except SecretsUnreadable as e:
                        raise SecretsUnreadable(f"installation {r['id']}: {e}") from e
                    conn.execute(update(installations).where(installations.c.id == r["id"]).values(**values))
            rotated += len(rows)
            if len(rows) < batch:
                return rotated
            after = rows[-1]["id"]

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
            from integration.service import rollups  # the agents' answers are in the closed days' rollups too

            blanked = conn.execute(update(table).where(*where, holds).values({c: null() for c in columns})
                                   .returning(table.c.installation_id, table.c.ticket_id)).all()
            for inst_id in {i for i, _ in blanked}:
                rollups.recount_tickets(conn, inst_id, [t for i, t in blanked if i == inst_id])
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

    # the loop breaker: how often Baton wrote to one ticket lately (pipeline LOOP_CAP)

    def writes_to_ticket(self, inst_id: str, ticket_id: str, since: datetime) -> int:
        """Write-backs sent to one ticket since ``since``; :meth:`claim` and :meth:`event_context`
        read the same in their own transaction when given ``writes_since``."""
        with self.engine.connect() as conn:
            return _writes_to_ticket(conn, inst_id, ticket_id, since)


def _writes_to_ticket(conn: Connection, inst_id: str, ticket_id: str, since: datetime) -> int:
    """Write-backs sent to one ticket since ``since`` (the outbox's ticket index)."""
    return int(conn.execute(select(func.count()).select_from(outbox).where(
        outbox.c.installation_id == inst_id, outbox.c.ticket_id == ticket_id,
        outbox.c.status == "sent", outbox.c.sent_at >= since)).scalar_one())


def alembic_config(conn: Connection) -> Any:
    """Alembic pointed at our migrations, running on ``conn``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    cfg.attributes["connection"] = conn
    return cfg


def _new_id() -> str:
    """A random installation id that never starts with "-" (a command line would read it as an option)."""
    while (candidate := secrets.token_urlsafe(12)).startswith("-"):
        pass
    return candidate


def _event_row(r: Mapping[str, Any]) -> EventRow:
    ev = Event(r["provider"] or "", r["installation_id"], r["key"], r["kind"], r["ticket_id"], r["actor_id"])
    return EventRow(r["id"], ev, r["status"], r["attempts"], utc(r["received_at"]))  # type: ignore[arg-type]


def _outbox_row(r: Mapping[str, Any]) -> OutboxRow:
    return OutboxRow(r["id"], r["installation_id"], r["ticket_id"], plan_from_json(r["plan"]) if r["plan"] else None,
                     r["status"], r["attempts"], utc(r["not_before"]))


# An installation's columns beside another table's in one SELECT, told apart by a prefix.
_INSTALLATION = tuple(c.label(f"i_{c.name}") for c in installations.c)


def _unprefixed(r: Mapping[str, Any]) -> dict[str, Any]:
    return {k[2:]: v for k, v in r.items() if k.startswith("i_")}


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


STATS_WINDOW = timedelta(days=30)  # wait statistics look at handoffs this recent: the read stays bounded


def _group_stats(conn: Connection, inst_id: str, samples: int = 50) -> dict[str, tuple[int, list[float]]]:
    """Per group: conversations waiting for a first reply, and the latest first-reply times in
    minutes (at most ``samples``), over the handoffs of the last STATS_WINDOW (read with every
    decision, so it must not grow with the installation's history)."""
    rows = conn.execute(select(conversations.c.group_id, conversations.c.escalated_at,
                               conversations.c.first_reply_at, conversations.c.state)
                        .where(conversations.c.installation_id == inst_id, conversations.c.group_id.is_not(None),
                               conversations.c.escalated_at >= utcnow() - STATS_WINDOW)
                        .order_by(conversations.c.first_reply_at.desc())).all()
    out: dict[str, tuple[int, list[float]]] = {}
    for group, escalated, replied, state in rows:
        depth, waits = out.get(group, (0, []))
        if replied is None and state == State.ESCALATED.value:
            depth += 1
        elif replied is not None and escalated is not None and len(waits) < samples:
            waits.append((utc(replied) - utc(escalated)).total_seconds() / 60)  # type: ignore[operator]
        out[group] = (depth, waits)
    return out


# what the figures and the calibration labels read of an outcome (not the customer's words, not the
# bookkeeping): the analytics read a hundred thousand rows at a time
_OUTCOME_FIGURES = ("ticket_id", "created_at", "bot_involved", "escalated", "escalated_at", "category", "reasons",
                    "asked_for_human_later", "assigned_at", "first_agent_reply_at", "solved_at", "reopens", "csat",
                    "verdict", "resolution", "suggested", "answer_text", "bot_verdict")
_OUTCOME_TIMES = ("created_at", "escalated_at", "assigned_at", "first_agent_reply_at", "solved_at")


def _outcome_rows(conn: Connection, inst_id: str, since: datetime | None, before: datetime | None = None,
                  category: str | None = None, ticket_id: str | None = None) -> list[dict[str, Any]]:
    """An installation's outcomes as plain dicts of ``_OUTCOME_FIGURES``, read through the driver:
    SQLAlchemy's per-row type processing cost twice the report itself. SQLite returns its stored
    text (times as "YYYY-MM-DD HH:MM:SS.ffffff" UTC, JSON, 0/1), PostgreSQL typed values; both
    become what the table's types say. The reasons repeat a handful of combinations: each is
    decoded once (the rows share the list; nobody changes it). First seen from ``since`` and before
    ``before``; of one ``category`` (``tally.NO_CATEGORY``: none), or one ticket, when given."""
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
    if category == NO_CATEGORY:
        sql += " AND (category IS NULL OR category = '')"
    elif category is not None:
        sql += f" AND category = {mark}"
        params += (category,)
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
    if len(rows) <= SWEEP_CHUNK:
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


def _observe(conn: Connection, inst_id: str, ticket_id: str, observed: Mapping[str, Any], now: datetime) -> None:
    """Record what an event told about the conversation. A handoff on the customer's explicit
    request, in a conversation Baton had already decided to keep with the bot, marks that earlier
    choice as a likely under-escalation (``asked_for_human_later``)."""
    values = dict(observed)
    if values.get("escalated") and "explicit_request" in (values.get("reasons") or ()):
        before = conn.execute(select(outcomes.c.escalated).where(
            outcomes.c.installation_id == inst_id, outcomes.c.ticket_id == ticket_id)).first()
        if before is not None and not before[0]:
            values["asked_for_human_later"] = True
    _record_outcome(conn, inst_id, ticket_id, values, now)


def _record_outcome(conn: Connection, inst_id: str, ticket_id: str, values: Mapping[str, Any], now: datetime) -> None:
    from integration.service import rollups  # it reads this module's tables

    known = {c.name for c in outcomes.c} - {"installation_id", "ticket_id", "created_at", "updated_at"}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"not outcome columns: {sorted(unknown)}")
    rollups.record(conn, inst_id, ticket_id, values, now)  # and a closed day's rollup, when it is one's


def _audit(conn: Connection, inst_id: str, actor: str, action: str, detail: Mapping[str, Any],
           now: datetime) -> None:
    conn.execute(insert(audit).values(installation_id=inst_id, actor=actor, action=action, detail=dict(detail),
                                      created_at=now))


def _flag(conn: Connection, inst_id: str, reason: str) -> None:
    """Mark the installation as needing its admin (credentials revoked, rules invalid …)."""
    conn.execute(update(installations).where(installations.c.id == inst_id)
                 .values(status="broken", status_reason=reason))


def _rate_limit(conn: Connection, inst_id: str, until: datetime) -> None:
    """A 429 for one call holds every call to that account (Retry-After is account-wide)."""
    conn.execute(update(installations).where(
        installations.c.id == inst_id,
        installations.c.rate_limited_until.is_(None) | (installations.c.rate_limited_until < until),
    ).values(rate_limited_until=until))


def _dialect_insert(conn: Connection, table: Table) -> Any:
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


class ConversationMoved(RuntimeError):
    """Another worker changed the conversation's state since this one read it (two events of one
    ticket decided at once): nothing of this outcome is written; decide again on the new state."""


def _hand_over(conn: Connection, key: Mapping[str, str], seen: State, values: Mapping[str, Any]) -> None:
    """Move the conversation to ESCALATED only from the state the decision was made on. Two events
    of one ticket decided at once (a helpdesk often sends two webhooks for one change) both see
    "bot"; under PostgreSQL's read committed, the second may even count the first one's write-back
    and so plan a second handoff under another key. The compare-and-set lets one of them win:
    the loser's UPDATE waits for the winner's row lock, then finds the state changed."""
    where = [conversations.c[k] == v for k, v in key.items()]
    if conn.execute(update(conversations).where(*where, conversations.c.state == seen.value).values(**values)).rowcount:
        return
    exists = conn.execute(select(conversations.c.state).where(*where)).first()
    inserted = exists is None and seen is State.BOT and conn.execute(
        _dialect_insert(conn, conversations).values(**key, **values)
        .on_conflict_do_nothing(index_elements=list(key))).rowcount
    if not inserted:
        raise ConversationMoved(f"conversation {key['ticket_id']} is no longer {seen.value}")


def _insert_or_ignore(conn: Connection, table: Table, unique: tuple[str, ...], values: Mapping[str, Any]) -> int | None:
    """Insert a row unless one with the same ``unique`` columns exists: its new id, or None."""
    stmt = _dialect_insert(conn, table).values(**values).on_conflict_do_nothing(index_elements=list(unique))
    return conn.execute(stmt.returning(table.c.id)).scalar()


def _upsert(conn: Connection, table: Table, unique: tuple[str, ...], key: Mapping[str, Any],
            values: Mapping[str, Any], insert_only: Mapping[str, Any] | None = None) -> None:
    """Insert the row, or update ``values`` of the existing one (``insert_only`` is set on insert only)."""
    stmt = _dialect_insert(conn, table).values(**key, **values, **(insert_only or {}))
    conn.execute(stmt.on_conflict_do_update(index_elements=list(unique), set_=dict(values)))


def _driver(url: str) -> str:
    """Heroku-style postgres:// URLs and plain postgresql:// use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
    # the web process and the worker share the file: WAL lets readers and one writer proceed
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


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


# data lifecycle (README "Data lifecycle"): what the retention and an erasure remove, and its limits

RETENTION_DAYS = 90  # an installation's default retention of customer text
RETENTION_LIMITS = (1, 3650)  # days an admin may choose
LIFECYCLE_BATCH = 500  # rows per transaction when scrubbing, erasing or rotating
# the columns that hold customer text or identity, nulled by the retention and an erasure (the
# decisions' transcript, explanation and reasons are scrubbed by ``Store._scrub_decisions``)
CUSTOMER_TEXT: dict[str, tuple[str, ...]] = {
    "outcomes": ("query_text", "answer_text"),
    "feedback": ("missing_knowledge",),
    "outbox": ("plan", "last_error"),
    "events": ("actor_id", "error"),
}
ENCRYPTED_COLUMNS = ("credentials", "webhook_secret")  # of installations: Fernet tokens (``Vault``)

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


def _has_json(column: Any) -> Any:
    """The JSON column holds a value: neither SQL NULL nor a JSON ``null`` (what SQLAlchemy stores
    for a Python None, e.g. the plan of a sent write-back)."""
    return column.is_not(None) & (cast(column, Text) != "null")


SWEEP_CHUNK = 500  # ticket ids per query when a reconciliation sweep asks what Baton already heard of
