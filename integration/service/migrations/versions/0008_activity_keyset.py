"""The console's activity pages by keyset, the newest first: (installation_id, created_at, id), so a
page after a row is an index range and ties in created_at keep their order without a sort. It
replaces ix_decisions_recent (installation_id, created_at), a prefix of it.

Revision ID: 0008
Revises: 0007
"""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_decisions_recent", "decisions")
    op.create_index("ix_decisions_recent", "decisions", ["installation_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_decisions_recent", "decisions")
    op.create_index("ix_decisions_recent", "decisions", ["installation_id", "created_at"])
