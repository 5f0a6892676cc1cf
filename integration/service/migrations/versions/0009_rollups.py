"""The analytics' rollups (issue 22): the counts of each closed UTC day and category of an
installation's conversations (``integration.core.tally``), kept as rows so the report sums a few
hundred of them instead of reading every outcome; and per installation the day they are complete up
to. Built by ``python -m integration rollups --rebuild`` or by the first report after a day closes;
kept up to date in the transaction that changes an outcome of a closed day.

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
    op.create_table(
        "rollups",
        sa.Column("installation_id", sa.String(64), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("category", sa.String(64), primary_key=True),
        sa.Column("figures", sa.JSON, nullable=False),
    )
    op.create_table(
        "rollup_marks",
        sa.Column("installation_id", sa.String(64), primary_key=True),
        sa.Column("through", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rollup_marks")
    op.drop_table("rollups")
