"""Installations, events, conversations, decisions, rosters, outbox.

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "installations",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("base_url", sa.String(255), nullable=False),
        sa.Column("credentials", sa.Text, nullable=False),
        sa.Column("webhook_secret", sa.Text, nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("rules", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.Text),
        sa.Column("rate_limited_until", TS),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("installation_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.String(64), nullable=False),
        sa.Column("actor_id", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("not_before", TS),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("queued_at", TS),
        sa.Column("processed_at", TS),
        sa.UniqueConstraint("installation_id", "key", name="uq_events_installation_key"),
    )
    op.create_index("ix_events_status", "events", ["status", "received_at"])
    op.create_table(
        "conversations",
        sa.Column("installation_id", sa.String(64), primary_key=True),
        sa.Column("ticket_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("group_id", sa.String(64)),
        sa.Column("escalated_at", TS),
        sa.Column("first_reply_at", TS),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("installation_id", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.Integer),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("category", sa.String(64)),
        sa.Column("tier", sa.Integer, nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("explanation", sa.Text, nullable=False),
        sa.Column("route", sa.JSON),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "rosters",
        sa.Column("installation_id", sa.String(64), primary_key=True),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("synced_at", TS, nullable=False),
    )
    op.create_index("ix_decisions_ticket", "decisions", ["installation_id", "ticket_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("installation_id", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.String(64), nullable=False),
        sa.Column("decision_id", sa.Integer),
        sa.Column("key", sa.String(255), nullable=False, unique=True),
        sa.Column("plan", sa.JSON),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("not_before", TS),
        sa.Column("lease_until", TS),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS),
    )
    op.create_index("ix_outbox_status", "outbox", ["status", "not_before"])


def downgrade() -> None:
    for table in ("outbox", "rosters", "decisions", "conversations", "events", "installations"):
        op.drop_table(table)
