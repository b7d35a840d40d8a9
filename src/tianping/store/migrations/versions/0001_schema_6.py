"""The tables of schema 6, the last one made without Alembic.

A SQLite store of schema 6 already holds them and is stamped at this revision without running it; older
SQLite stores are first brought to schema 6 by ``tianping.store.schema.MIGRATIONS``.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.sqlite import REAL

DOUBLE = sa.Float().with_variant(REAL(), "sqlite")  # double precision on PostgreSQL, REAL as before on SQLite

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _text(name: str, nullable: bool = True, default: str | None = None) -> sa.Column:
    return sa.Column(name, sa.Text, nullable=nullable, server_default=sa.text(f"'{default}'") if default else None)


def _int(name: str, nullable: bool = True, default: int | None = None) -> sa.Column:
    return sa.Column(name, sa.Integer, nullable=nullable, server_default=None if default is None else str(default))


def _real(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, DOUBLE, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.Text, primary_key=True),
        _text("status", False),
        _text("started_at", False),
        _text("finished_at"),
        _real("wall_s"),
        _text("tianping_version", False),
        _text("spec_json", False),
        _text("benchmark_versions_json", False, "{}"),
        _text("dataset_checksums_json", False, "{}"),
        _text("message"),
        _text("definitions_json"),
        _text("tasks_json"),
        _text("owner_json"),
        _real("heartbeat_at"),
    )
    op.create_table(
        "responses",
        *(_text(c, False) for c in ("request_key", "endpoint", "model", "response_json", "created_at")),
        sa.PrimaryKeyConstraint("request_key", "endpoint"),
    )
    op.create_index("responses_by_endpoint", "responses", ["endpoint", "model"])
    op.create_table(
        "samples",
        *(_text(c, False) for c in ("run_id", "model", "benchmark", "sample_id", "request_key", "prompt_json")),
        _text("target", False),
        _text("meta_json", False),
        *(_text(c) for c in ("output", "reasoning", "finish_reason", "extracted")),
        _real("score"),
        _text("status", False),
        _int("extraction_failed", False, 0),
        _text("reason"),
        _text("error"),
        _real("latency_s"),
        *(_int(c) for c in ("prompt_tokens", "completion_tokens", "reasoning_tokens", "attempts")),
        _int("from_cache", False, 0),
        _text("created_at", False),
        _text("metrics_json"),
        _text("endpoint"),
        _text("trajectory_json"),
        sa.PrimaryKeyConstraint("run_id", "model", "benchmark", "sample_id"),
    )
    op.create_table(
        "aggregates",
        *(_text(c, False) for c in ("run_id", "model", "benchmark", "metric", "group_kind", "group_name")),
        _real("score"),
        _int("n", False),
        _real("ci_low"),
        _real("ci_high"),
        *(_int(c, False, 0) for c in ("extraction_failures", "incomplete", "errors", "unscorable", "skipped")),
        sa.PrimaryKeyConstraint("run_id", "model", "benchmark", "metric", "group_kind", "group_name"),
    )
    op.create_table(
        "arena_ratings",
        *(_text(c, False) for c in ("rating_id", "created_at", "benchmark", "model")),
        _int("rank", False),
        _real("rating", False),
        _real("ci_low"),
        _real("ci_high"),
        _int("rank_best"),
        _int("rank_worst"),
        *(_int(c, False) for c in ("battles", "wins", "losses", "ties")),
        _text("runs_json", False),
        _text("settings_json", False),
        sa.PrimaryKeyConstraint("rating_id", "benchmark", "model"),
    )


def downgrade() -> None:
    for table in ("arena_ratings", "aggregates", "samples", "responses", "runs"):
        op.drop_table(table)
