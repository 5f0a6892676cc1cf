"""What became of each conversation after the bot: the handoff metrics, the calibration review
and the suggested resolutions read this table; and when a handoff's SLA made Baton re-route it.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outcomes",
        sa.Column("installation_id", sa.String(64), primary_key=True),
        sa.Column("ticket_id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(16)),
        sa.Column("bot_involved", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("escalated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("escalated_at", sa.DateTime(timezone=True)),
        sa.Column("category", sa.String(64)),
        sa.Column("reasons", sa.JSON),
        sa.Column("asked_for_human_later", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("assigned_at", sa.DateTime(timezone=True)),
        sa.Column("assignee_id", sa.String(64)),
        sa.Column("first_agent_reply_at", sa.DateTime(timezone=True)),
        sa.Column("solved_at", sa.DateTime(timezone=True)),
        sa.Column("reopens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("csat", sa.Float),
        sa.Column("csat_at", sa.DateTime(timezone=True)),
        sa.Column("verdict", sa.String(16)),
        sa.Column("resolution", sa.String(64)),
        sa.Column("suggested", sa.String(64)),
        sa.Column("query_text", sa.Text),
        sa.Column("answer_text", sa.Text),
    )
    op.create_index("ix_outcomes_recent", "outcomes", ["installation_id", "created_at"])
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("sla_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("sla_at")
    op.drop_index("ix_outcomes_recent", "outcomes")
    op.drop_table("outcomes")
