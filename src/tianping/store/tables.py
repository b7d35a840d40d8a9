"""The store's tables as SQLAlchemy Core metadata, the same on SQLite and PostgreSQL.

Imported only when a store is opened (SQLAlchemy takes a fifth of a second to import). The columns and keys
are those of schema 6 (``tianping.store.schema.DDL``), which SQLite stores made before Alembic already hold;
``tests/test_store_alembic.py`` checks that they stay equal.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, PrimaryKeyConstraint, Table, Text, text
from sqlalchemy.dialects.sqlite import REAL

# double precision on PostgreSQL; REAL on SQLite, as the stores made before Alembic declare it
DOUBLE = Float().with_variant(REAL(), "sqlite")

metadata = MetaData()


def _text(name: str, *, nullable: bool = True, default: str | None = None) -> Column[str]:
    return Column(name, Text, nullable=nullable, server_default=text(f"'{default}'") if default is not None else None)


def _int(name: str, *, nullable: bool = True, default: int | None = None) -> Column[int]:
    return Column(name, Integer, nullable=nullable, server_default=text(str(default)) if default is not None else None)


def _real(name: str, *, nullable: bool = True) -> Column[float]:
    return Column(name, DOUBLE, nullable=nullable)


runs = Table(
    "runs",
    metadata,
    Column("run_id", Text, primary_key=True),
    _text("status", nullable=False),
    _text("started_at", nullable=False),
    _text("finished_at"),
    _real("wall_s"),
    _text("tianping_version", nullable=False),
    _text("spec_json", nullable=False),
    _text("benchmark_versions_json", nullable=False, default="{}"),
    _text("dataset_checksums_json", nullable=False, default="{}"),
    _text("message"),
    _text("definitions_json"),
    _text("tasks_json"),
    _text("owner_json"),
    _real("heartbeat_at"),
)

responses = Table(
    "responses",
    metadata,
    _text("request_key", nullable=False),
    _text("endpoint", nullable=False),
    _text("model", nullable=False),
    _text("response_json", nullable=False),
    _text("created_at", nullable=False),
    PrimaryKeyConstraint("request_key", "endpoint"),
)
Index("responses_by_endpoint", responses.c.endpoint, responses.c.model)

samples = Table(
    "samples",
    metadata,
    _text("run_id", nullable=False),
    _text("model", nullable=False),
    _text("benchmark", nullable=False),
    _text("sample_id", nullable=False),
    _text("request_key", nullable=False),
    _text("prompt_json", nullable=False),
    _text("target", nullable=False),
    _text("meta_json", nullable=False),
    _text("output"),
    _text("reasoning"),
    _text("finish_reason"),
    _text("extracted"),
    _real("score"),
    _text("status", nullable=False),
    _int("extraction_failed", nullable=False, default=0),
    _text("reason"),
    _text("error"),
    _real("latency_s"),
    _int("prompt_tokens"),
    _int("completion_tokens"),
    _int("reasoning_tokens"),
    _int("attempts"),
    _int("from_cache", nullable=False, default=0),
    _text("created_at", nullable=False),
    _text("metrics_json"),
    _text("endpoint"),
    _text("trajectory_json"),
    PrimaryKeyConstraint("run_id", "model", "benchmark", "sample_id"),
)

aggregates = Table(
    "aggregates",
    metadata,
    _text("run_id", nullable=False),
    _text("model", nullable=False),
    _text("benchmark", nullable=False),
    _text("metric", nullable=False),
    _text("group_kind", nullable=False),
    _text("group_name", nullable=False),
    _real("score"),
    _int("n", nullable=False),
    _real("ci_low"),
    _real("ci_high"),
    _int("extraction_failures", nullable=False, default=0),
    _int("incomplete", nullable=False, default=0),
    _int("errors", nullable=False, default=0),
    _int("unscorable", nullable=False, default=0),
    _int("skipped", nullable=False, default=0),
    PrimaryKeyConstraint("run_id", "model", "benchmark", "metric", "group_kind", "group_name"),
)

arena_ratings = Table(
    "arena_ratings",
    metadata,
    _text("rating_id", nullable=False),
    _text("created_at", nullable=False),
    _text("benchmark", nullable=False),
    _text("model", nullable=False),
    _int("rank", nullable=False),
    _real("rating", nullable=False),
    _real("ci_low"),
    _real("ci_high"),
    _int("rank_best"),
    _int("rank_worst"),
    _int("battles", nullable=False),
    _int("wins", nullable=False),
    _int("losses", nullable=False),
    _int("ties", nullable=False),
    _text("runs_json", nullable=False),
    _text("settings_json", nullable=False),
    PrimaryKeyConstraint("rating_id", "benchmark", "model"),
)

# A plan cut into units (model x task x shard of sample ids), claimed by workers under an expiring lease
# (``tianping.store.units``); revision 0002.
work_units = Table(
    "work_units",
    metadata,
    Column("unit_id", Text, primary_key=True),
    _text("run_id", nullable=False),
    _text("model", nullable=False),
    _text("task", nullable=False),
    _int("shard", nullable=False),
    _text("sample_ids_json", nullable=False),
    _text("status", nullable=False, default="pending"),
    _text("worker"),
    _real("lease_until"),
    _int("attempts", nullable=False, default=0),
    _text("created_at", nullable=False),
    _text("done_at"),
)
Index("work_units_by_run", work_units.c.run_id, work_units.c.status)

# Pairwise human verdicts (the dashboard's voting page), rated with the judged battles by the arena code
# (``tianping.arena.stored``); revision 0003.
battles = Table(
    "battles",
    metadata,
    Column("battle_id", Text, primary_key=True),
    _text("created_at", nullable=False),
    _text("benchmark", nullable=False),
    _text("sample_id", nullable=False),
    _text("model_a", nullable=False),
    _text("model_b", nullable=False),
    _text("winner", nullable=False),
    _text("voter", nullable=False),
    _text("source", nullable=False, default="web"),
)
Index("battles_by_source", battles.c.source, battles.c.benchmark)
