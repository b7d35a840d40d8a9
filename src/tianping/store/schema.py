"""Schema 6, the store's SQLite tables before Alembic, and the steps that brought older SQLite stores to it.

Kept to adopt the SQLite stores that earlier tianping wrote (``tianping.store.migrate``): from schema 6 on, the
tables are defined in ``tables.py`` and migrated by Alembic (``migrations/``). ``SCHEMA_VERSION`` is still written
to ``PRAGMA user_version``, which tianping before Alembic reads to refuse a store newer than itself.
"""

from __future__ import annotations

SCHEMA_VERSION = 6

# Arena ratings (``tianping arena ratings``): one row per model of one fit (``rating_id``) per benchmark, with the
# runs whose battles were fitted and the fit's settings.
ARENA_RATINGS_DDL = """CREATE TABLE IF NOT EXISTS arena_ratings (
    rating_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    model TEXT NOT NULL,
    rank INTEGER NOT NULL,
    rating REAL NOT NULL,
    ci_low REAL,
    ci_high REAL,
    rank_best INTEGER,
    rank_worst INTEGER,
    battles INTEGER NOT NULL,
    wins INTEGER NOT NULL,
    losses INTEGER NOT NULL,
    ties INTEGER NOT NULL,
    runs_json TEXT NOT NULL,
    settings_json TEXT NOT NULL,
    PRIMARY KEY (rating_id, benchmark, model)
)"""

DDL = """
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
    message TEXT,
    definitions_json TEXT,
    tasks_json TEXT,
    owner_json TEXT,
    heartbeat_at REAL
);

-- The cache: one answer per content address and endpoint, shared by every run. The same model name on
-- another server is another model, so the endpoint is part of the key.
CREATE TABLE IF NOT EXISTS responses (
    request_key TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    model TEXT NOT NULL,
    response_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (request_key, endpoint)
);
CREATE INDEX IF NOT EXISTS responses_by_endpoint ON responses (endpoint, model);

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
    endpoint TEXT,
    trajectory_json TEXT,
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
DDL += ARENA_RATINGS_DDL + ";\n"

SAMPLE_COLUMNS = (
    "run_id",
    "model",
    "benchmark",
    "sample_id",
    "request_key",
    "prompt_json",
    "target",
    "meta_json",
    "output",
    "reasoning",
    "finish_reason",
    "extracted",
    "score",
    "status",
    "extraction_failed",
    "reason",
    "error",
    "latency_s",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "attempts",
    "from_cache",
    "created_at",
    "metrics_json",
    "endpoint",
    "trajectory_json",
)
ARENA_RATING_COLUMNS = (
    "rating_id",
    "created_at",
    "benchmark",
    "model",
    "rank",
    "rating",
    "ci_low",
    "ci_high",
    "rank_best",
    "rank_worst",
    "battles",
    "wins",
    "losses",
    "ties",
    "runs_json",
    "settings_json",
)
# Applied in order to a database whose user_version is the key's predecessor.
MIGRATIONS = {
    2: ("ALTER TABLE samples ADD COLUMN metrics_json TEXT",),  # per-sample metrics beyond the score
    3: (  # samples a judge could not decide, and samples settled without a request (an attack that cannot apply)
        "ALTER TABLE aggregates ADD COLUMN unscorable INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE aggregates ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0",
    ),
    4: (  # the endpoint joins the cache key (answers cached before it are kept, under an endpoint never asked
        # for, so they are never served), who answered each sample, the definitions a run read, the run's lease
        """CREATE TABLE responses_v4 (
            request_key TEXT NOT NULL, endpoint TEXT NOT NULL, model TEXT NOT NULL, response_json TEXT NOT NULL,
            created_at TEXT NOT NULL, PRIMARY KEY (request_key, endpoint))""",
        "INSERT INTO responses_v4 SELECT request_key, '(before schema 4)', model, response_json, created_at "
        "FROM responses",
        "DROP TABLE responses",
        "ALTER TABLE responses_v4 RENAME TO responses",
        "ALTER TABLE samples ADD COLUMN endpoint TEXT",
        "ALTER TABLE runs ADD COLUMN definitions_json TEXT",
        "ALTER TABLE runs ADD COLUMN tasks_json TEXT",
        "ALTER TABLE runs ADD COLUMN owner_json TEXT",
        "ALTER TABLE runs ADD COLUMN heartbeat_at REAL",
    ),
    5: (  # Bradley-Terry ratings fitted from the battles of judged runs (tianping arena ratings)
        ARENA_RATINGS_DDL,
    ),
    6: (  # an episode's steps (an agent task's model turns, tool calls and results), kept with its sample
        "ALTER TABLE samples ADD COLUMN trajectory_json TEXT",
    ),
}

SAMPLE_KEY = ("run_id", "model", "benchmark", "sample_id")

AGGREGATE_COLUMNS = (
    "run_id",
    "model",
    "benchmark",
    "metric",
    "group_kind",
    "group_name",
    "score",
    "n",
    "ci_low",
    "ci_high",
    "extraction_failures",
    "incomplete",
    "errors",
    "unscorable",
    "skipped",
)
