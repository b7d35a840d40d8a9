"""Stores written by earlier versions open and upgrade in place, keeping every run, answer and aggregate."""

from __future__ import annotations

import sqlite3

from tianping.core import Completion, Request, Response
from tianping.store import Store
from tianping.store.schema import SCHEMA_VERSION

# The tables as schema 3 shipped them (tianping 0.1.0 before the endpoint joined the cache key).
SCHEMA_3 = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    wall_s REAL,
    tianping_version TEXT NOT NULL,
    spec_json TEXT NOT NULL,
    benchmark_versions_json TEXT NOT NULL DEFAULT '{}',
    dataset_checksums_json TEXT NOT NULL DEFAULT '{}',
    message TEXT
);

-- The cache: one answer per content address, shared by every run.
CREATE TABLE IF NOT EXISTS responses (
    request_key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    response_json TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_by_model ON responses (model);

CREATE TABLE IF NOT EXISTS samples (
    run_id TEXT NOT NULL,
    model TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    request_key TEXT NOT NULL,
    prompt_json TEXT NOT NULL,
    target TEXT NOT NULL,
    meta_json TEXT NOT NULL,
    output TEXT,
    reasoning TEXT,
    finish_reason TEXT,
    extracted TEXT,
    score REAL,
    status TEXT NOT NULL,
    extraction_failed INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    error TEXT,
    latency_s REAL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    reasoning_tokens INTEGER,
    attempts INTEGER,
    from_cache INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    metrics_json TEXT,
    PRIMARY KEY (run_id, model, benchmark, sample_id)
);

CREATE TABLE IF NOT EXISTS aggregates (
    run_id TEXT NOT NULL,
    model TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    metric TEXT NOT NULL,
    group_kind TEXT NOT NULL,
    group_name TEXT NOT NULL,
    score REAL,
    n INTEGER NOT NULL,
    ci_low REAL,
    ci_high REAL,
    extraction_failures INTEGER NOT NULL DEFAULT 0,
    incomplete INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    unscorable INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, model, benchmark, metric, group_kind, group_name)
);
"""


def _schema_3_store(path) -> Request:
    request = Request(model="openai/m", prompt="1+1=")
    answer = Response(completions=(Completion(text="2"),), latency_s=0.1)
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_3)
        db.execute("PRAGMA user_version=3")
        db.execute(
            "INSERT INTO runs (run_id, status, started_at, tianping_version, spec_json) VALUES (?, ?, ?, ?, ?)",
            ("old", "completed", "2026-11-01T00:00:00", "0.1.0", '{"models": [], "benchmarks": ["gsm8k"]}'),
        )
        db.execute(
            "INSERT INTO responses (request_key, model, response_json, created_at) VALUES (?, ?, ?, ?)",
            (request.key, request.model, answer.to_json(), "2026-11-01T00:00:00"),
        )
    return request


def test_a_schema_3_store_is_upgraded_and_keeps_its_runs(tmp_path):
    path = tmp_path / "tianping.sqlite"
    request = _schema_3_store(path)
    store = Store(path)
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
    assert {"endpoint", "trajectory_json"} <= {r[1] for r in store._db.execute("PRAGMA table_info(samples)")}
    assert {"definitions_json", "tasks_json", "owner_json", "heartbeat_at"} <= {
        r[1] for r in store._db.execute("PRAGMA table_info(runs)")
    }
    run = store.get_run("old")
    assert run["status"] == "completed" and run["definitions"] == {} and not run["live"]
    # the answer cached without an endpoint is kept, but never served for any endpoint
    assert store._db.execute("SELECT count(*) FROM responses").fetchone()[0] == 1
    assert store.cached_keys("openai/m", "http://127.0.0.1:8000/v1") == set()
    assert store.cached_response(request.key, "http://127.0.0.1:8000/v1") is None


def test_a_schema_3_store_reads_without_upgrading_when_opened_read_only(tmp_path):
    path = tmp_path / "tianping.sqlite"
    _schema_3_store(path)
    store = Store(path, readonly=True)
    assert store.get_run("old")["status"] == "completed"
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == 3


def test_a_version_1_store_gains_every_later_column(tmp_path):
    path = tmp_path / "tianping.sqlite"
    old_ddl = SCHEMA_3.replace("    metrics_json TEXT,\n", "")
    for added in ("unscorable", "skipped"):  # the columns of schema 3
        old_ddl = old_ddl.replace(f"    {added} INTEGER NOT NULL DEFAULT 0,\n", "")
    with sqlite3.connect(path) as db:
        db.executescript(old_ddl)
        db.execute("PRAGMA user_version=1")
    store = Store(path)
    columns = {r[1] for r in store._db.execute("PRAGMA table_info(samples)")}
    assert {"metrics_json", "endpoint"} <= columns
    assert {"unscorable", "skipped"} <= {r[1] for r in store._db.execute("PRAGMA table_info(aggregates)")}
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_schema_6_store_made_before_alembic_is_adopted_without_loss(tmp_path):
    """The tables exactly as the stdlib store created them (schema 6, no alembic_version), with data."""
    from tianping.store.migrate import HEAD_REVISION
    from tianping.store.schema import DDL as SCHEMA_6

    path = tmp_path / "tianping.sqlite"
    request = Request(model="openai/m", prompt="1+1=")
    answer = Response(completions=(Completion(text="2"),), latency_s=0.1)
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_6)
        db.execute("PRAGMA user_version=6")
        db.execute(
            "INSERT INTO runs (run_id, status, started_at, tianping_version, spec_json, tasks_json) "
            "VALUES ('old', 'completed', '2026-12-01T00:00:00', '0.1.0', '{\"models\": []}', '{\"gsm8k\": {}}')"
        )
        db.execute(
            "INSERT INTO responses VALUES (?, 'http://h/v1', 'openai/m', ?, '2026-12-01T00:00:00')",
            (request.key, answer.to_json()),
        )
        db.execute(
            "INSERT INTO samples (run_id, model, benchmark, sample_id, request_key, prompt_json, target, meta_json, "
            "output, score, status, created_at, endpoint, trajectory_json) VALUES ('old', 'openai/m', 'gsm8k', '7', "
            "?, '{}', '2', '{}', '2', 1.0, 'scored', '2026-12-01T00:00:00', 'http://h/v1', '{\"steps\": []}')",
            (request.key,),
        )
        db.execute(
            "INSERT INTO aggregates (run_id, model, benchmark, metric, group_kind, group_name, score, n) "
            "VALUES ('old', 'openai/m', 'gsm8k', 'accuracy', 'all', 'all', 1.0, 1)"
        )
        before = {
            t: db.execute(f"SELECT * FROM {t}").fetchall() for t in ("runs", "responses", "samples", "aggregates")
        }
    store = Store(path)
    after = {t: store._db.execute(f"SELECT * FROM {t}").fetchall() for t in before}
    assert after == before
    # stamped as revision 0001 (schema 6), then upgraded by Alembic to the newest (the work units table)
    assert store._db.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD_REVISION,)]
    assert store._db.execute("SELECT count(*) FROM work_units").fetchone()[0] == 0
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == 6
    assert store.get_run("old")["tasks"] == {"gsm8k": {}}
    assert [r["trajectory"] for r in store.sample_rows("old")] == [{"steps": []}]
    assert store.cached_response(request.key, "http://h/v1").completions[0].text == "2"
    store.close()
    Store(path).close()  # opening it again changes nothing
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM samples").fetchone()[0] == 1
