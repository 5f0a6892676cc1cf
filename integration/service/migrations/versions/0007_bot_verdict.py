"""What the helpdesk's own AI agent says became of a conversation (Intercom's Fin: escalated,
resolved, handed over by a procedure, negative feedback), kept beside Baton's decision.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outcomes") as batch:
        batch.add_column(sa.Column("bot_verdict", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("outcomes") as batch:
        batch.drop_column("bot_verdict")
