"""Tables of the result store (SQLAlchemy Core, so the same schema serves SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table, Text

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("started_at", String(32), nullable=False),
    Column("finished_at", String(32)),
    Column("wall_s", Float),
    Column("tianping_version", String(32), nullable=False),
    Column("spec_json", Text, nullable=False),
    Column("benchmark_versions_json", Text, nullable=False, default="{}"),
    Column("dataset_checksums_json", Text, nullable=False, default="{}"),
    Column("message", Text),
)

# The cache: one answer per content address, shared by every run.
responses = Table(
    "responses",
    metadata,
    Column("request_key", String(64), primary_key=True),
    Column("model", String(200), nullable=False),
    Column("response_json", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)

samples = Table(
    "samples",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("benchmark", String(100), primary_key=True),
    Column("sample_id", String(200), primary_key=True),
    Column("request_key", String(64), nullable=False),
    Column("prompt_json", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("meta_json", Text, nullable=False),
    Column("output", Text),
    Column("reasoning", Text),
    Column("finish_reason", String(32)),
    Column("extracted", Text),
    Column("score", Float),
    Column("status", String(16), nullable=False),
    Column("extraction_failed", Boolean, nullable=False, default=False),
    Column("reason", Text),
    Column("error", Text),
    Column("latency_s", Float),
    Column("prompt_tokens", Integer),
    Column("completion_tokens", Integer),
    Column("reasoning_tokens", Integer),
    Column("attempts", Integer),
    Column("from_cache", Boolean, nullable=False, default=False),
    Column("created_at", String(32), nullable=False),
)

aggregates = Table(
    "aggregates",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("benchmark", String(100), primary_key=True),
    Column("metric", String(64), primary_key=True),
    Column("group_kind", String(64), primary_key=True),
    Column("group_name", String(200), primary_key=True),
    Column("score", Float),
    Column("n", Integer, nullable=False),
    Column("ci_low", Float),
    Column("ci_high", Float),
    Column("extraction_failures", Integer, nullable=False, default=0),
    Column("incomplete", Integer, nullable=False, default=0),
    Column("errors", Integer, nullable=False, default=0),
)
