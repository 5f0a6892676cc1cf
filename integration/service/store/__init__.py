"""Durable state, one repository per aggregate; :class:`Store` holds them on one engine.

    store.installations  installations.py  accounts, secrets (Vault, rotation), status, 429 hold, rosters
    store.events         events.py         received events, conversation state, the outbox: the unit of work
    store.rules          rules.py          rules versions, the draft, the audit log
    store.decisions      decisions.py      decisions, activity, health, the agents' feedback
    store.outcomes       outcomes.py       what became of each conversation (analytics, calibration);
                         outcomes_rollups.py: the closed days' counts the analytics sum
    store.lifecycle      lifecycle.py      retention, uninstall purge, erasure, reconciliation marks

The tables are declared together in ``tables.py`` (the repositories join across them, the lifecycle
walks them all, and the Alembic migrations in ``integration/service/migrations`` build exactly that
``metadata``: append-only, a test compares them); ``base.py`` has the engine and the helpers every
repository shares. SQLite by default, PostgreSQL through ``DATABASE_URL``. Each repository method is
its own transaction, as it was before the split.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.engine import Engine

from integration.service.store.base import (Repository, _driver, alembic_config, make_engine, plan_from_json,
                                            plan_to_json, utcnow)
from integration.service.store.decisions import DecisionRepository
from integration.service.store.events import (ConversationMoved, Delivery, EventContext, EventRepository, EventRow,
                                              OutboxRow, Outcome)
from integration.service.store.installations import InstallationRepository, SecretsUnreadable, Vault
from integration.service.store.lifecycle import (CUSTOMER_TEXT, LIFECYCLE_BATCH, RETENTION_DAYS, RETENTION_LIMITS,
                                                 LifecycleRepository, retention_days, retention_days_of)
from integration.service.store.outcomes import OutcomeRepository
from integration.service.store.rules import RuleRepository
from integration.service.store.tables import (audit, conversations, decisions, events, feedback, installations,
                                              metadata, outbox, outcomes, rollup_marks, rollups, rosters, rule_drafts,
                                              rule_versions)

__all__ = [
    "Store", "Vault", "SecretsUnreadable", "Repository", "utcnow", "plan_to_json", "plan_from_json", "alembic_config",
    "InstallationRepository", "EventRepository", "RuleRepository", "DecisionRepository", "OutcomeRepository",
    "LifecycleRepository", "EventRow", "EventContext", "Outcome", "OutboxRow", "Delivery", "ConversationMoved",
    "retention_days", "retention_days_of", "RETENTION_DAYS", "RETENTION_LIMITS", "LIFECYCLE_BATCH", "CUSTOMER_TEXT",
    "metadata", "installations", "events", "conversations", "decisions", "rule_versions", "rule_drafts", "feedback",
    "outcomes", "rollups", "rollup_marks", "audit", "rosters", "outbox",
]


class Store:
    """The repositories of one database. Callers take the one they need (``store.events.commit``)."""

    def __init__(self, url: str, vault: Vault):
        self.url = _driver(url)
        self.engine: Engine = make_engine(self.url)
        self.vault = vault
        self.installations = InstallationRepository(self.engine, vault)
        self.events = EventRepository(self.engine, vault)
        self.rules = RuleRepository(self.engine, vault)
        self.decisions = DecisionRepository(self.engine, vault)
        self.outcomes = OutcomeRepository(self.engine, vault)
        self.lifecycle = LifecycleRepository(self.engine, vault)

    def migrate(self) -> None:
        from alembic import command

        with self.engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def rows(self, table: Table, **where: Any) -> list[dict[str, Any]]:
        """For the demo, tests and the admin: rows of a table matching equality filters."""
        q = select(table)
        for k, v in where.items():
            q = q.where(table.c[k] == v)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]
