"""How many customer messages a conversation had when it was handed over: what the customer
writes after that reaches the agent.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("customer_messages", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("customer_messages")
