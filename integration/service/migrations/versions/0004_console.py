"""The console: rules versions and drafts, the conversation each decision was made on (for the
preview), agents' feedback from the ticket, and the audit of every change an admin makes.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("conversation", sa.JSON))
        batch.add_column(sa.Column("rules_version", sa.Integer))
    with op.batch_alter_table("installations") as batch:
        batch.add_column(sa.Column("rules_version", sa.Integer))
    op.create_table(
        "rule_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("installation_id", sa.String(64), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("rules", sa.JSON, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("installation_id", "number", name="uq_rule_versions_number"),
    )
    op.create_table(
        "rule_drafts",
        sa.Column("installation_id", sa.String(64), primary_key=True),
        sa.Column("rules", sa.JSON, nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("installation_id", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.String(64), nullable=False),
        sa.Column("decision_id", sa.Integer),
        sa.Column("verdict", sa.String(16)),
        sa.Column("resolution", sa.String(64)),
        sa.Column("missing_knowledge", sa.Text),
        sa.Column("author_id", sa.String(64), nullable=False),
        sa.Column("author_name", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_feedback_ticket", "feedback", ["installation_id", "ticket_id"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("installation_id", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_audit_installation", "audit", ["installation_id", "created_at"])
    op.create_index("ix_decisions_recent", "decisions", ["installation_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_decisions_recent", "decisions")
    op.drop_index("ix_audit_installation", "audit")
    op.drop_table("audit")
    op.drop_index("ix_feedback_ticket", "feedback")
    op.drop_table("feedback")
    op.drop_table("rule_drafts")
    op.drop_table("rule_versions")
    with op.batch_alter_table("installations") as batch:
        batch.drop_column("rules_version")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("rules_version")
        batch.drop_column("conversation")
