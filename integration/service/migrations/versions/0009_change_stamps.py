"""The helpdesk's update stamps, so an event that brings nothing new is recognised without reading
the conversation: ``events.changed_at``, the stamp the change an event tells of gave the ticket
(when the event carries it), and ``conversations.seen_at``, the ticket's stamp as Baton last read it.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("changed_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("seen_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("seen_at")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("changed_at")
