"""The analytics' rollups (issue 22): the counts of each closed UTC day and category of an
installation's conversations (``integration.core.tally``), kept as rows so the report sums a few
hundred of them instead of reading every outcome; and per installation the day they are complete up
to, with the topics they were counted with (an outcome of an old reason-category counts under a
topic). Built by beat, the first report after a day closes or ``python -m integration rollups
--rebuild``; kept up to date in the transaction that changes an outcome of a closed day.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
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
        sa.Column("topics", sa.JSON),
    )


def downgrade() -> None:
    op.drop_table("rollup_marks")
    op.drop_table("rollups")
