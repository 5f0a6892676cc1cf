"""The schema: every table Baton keeps, in one ``metadata`` that the Alembic migrations in
``integration/service/migrations/`` build (append-only: a test compares them with these tables).

The tables stay together because the repositories read across them (an event's context joins its
installation, conversation and roster; the health and backlog count events and write-backs per
installation; the lifecycle walks every table). Each table names the repository that writes it.
"""
from __future__ import annotations

from sqlalchemy import (JSON, Boolean, Column, Date, DateTime, Float, Index, Integer, MetaData, String, Table, Text,
                        UniqueConstraint, false)

metadata = MetaData()

# installations.py: the helpdesk accounts, their secrets (Fernet tokens) and flags
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
# events.py: the unit of work (received events, conversation state, the outbox)
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
    Column("changed_at", DateTime(timezone=True)),  # the ticket's stamp after this change, when the event tells it (0009)
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
    Column("seen_at", DateTime(timezone=True)),  # the ticket's update stamp as Baton last read it (0009)
)
# decisions.py: what was decided, and the agents' feedback on it
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
# rules.py: published versions, the draft, the audit log
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
# decisions.py
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
# outcomes.py: what became of each conversation
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
# outcomes_rollups.py: the analytics' counts of each closed UTC day and category (0010)
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
    Column("topics", JSON),  # the installation's topic keys they were counted with (tally.as_topic)
)
# rules.py
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
# installations.py
rosters = Table(
    "rosters", metadata,
    Column("installation_id", String(64), primary_key=True),
    Column("data", JSON, nullable=False),  # agents and groups, normalized by the connector
    Column("synced_at", DateTime(timezone=True), nullable=False),
)
# events.py
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
