"""The reconciliation of webhooks the helpdesks never delivered: where each installation's last
sweep ended, and an index to ask what Baton already heard of a ticket.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("installations") as batch:
        batch.add_column(sa.Column("swept_at", sa.DateTime(timezone=True)))
    op.create_index("ix_events_ticket", "events", ["installation_id", "ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_events_ticket", "events")
    with op.batch_alter_table("installations") as batch:
        batch.drop_column("swept_at")
