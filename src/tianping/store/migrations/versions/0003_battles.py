"""Battles: pairwise human verdicts from the dashboard's voting page, kept with the results they judge.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "battles",
        sa.Column("battle_id", sa.Text, primary_key=True),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("benchmark", sa.Text, nullable=False),
        sa.Column("sample_id", sa.Text, nullable=False),
        sa.Column("model_a", sa.Text, nullable=False),
        sa.Column("model_b", sa.Text, nullable=False),
        sa.Column("winner", sa.Text, nullable=False),
        sa.Column("voter", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False, server_default=sa.text("'web'")),
    )
    op.create_index("battles_by_source", "battles", ["source", "benchmark"])


def downgrade() -> None:
    op.drop_index("battles_by_source", "battles")
    op.drop_table("battles")
