"""Work units: a plan cut into model x task x shard pieces that workers claim under an expiring lease.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.sqlite import REAL

DOUBLE = sa.Float().with_variant(REAL(), "sqlite")  # double precision on PostgreSQL, REAL as before on SQLite

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "work_units",
        sa.Column("unit_id", sa.Text, primary_key=True),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("task", sa.Text, nullable=False),
        sa.Column("shard", sa.Integer, nullable=False),
        sa.Column("sample_ids_json", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'pending'")),
        sa.Column("worker", sa.Text),
        sa.Column("lease_until", DOUBLE),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("done_at", sa.Text),
    )
    op.create_index("work_units_by_run", "work_units", ["run_id", "status"])


def downgrade() -> None:
    op.drop_index("work_units_by_run", "work_units")
    op.drop_table("work_units")
