"""Every statement the store sends, built once with SQLAlchemy Core and compiled for each database.

The store executes the compiled text on the driver's connection (sqlite3 or psycopg): going through
SQLAlchemy's execution layer costs about 15 microseconds more per statement, and recording one answer sends
four while costing under 50 microseconds in all (docs/benchmarks.md). Reads select ``*`` because a read-only
store of an older schema lacks the newer columns, and the store's readers treat a missing column as empty.
"""

from __future__ import annotations

from pathlib import Path
from pprint import pformat
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, literal_column, null, or_, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

from tianping.store.schema import AGGREGATE_COLUMNS, ARENA_RATING_COLUMNS, SAMPLE_COLUMNS, SAMPLE_KEY
from tianping.store.tables import aggregates, arena_ratings, battles, responses, runs, samples, work_units

_RUN_FIELDS = ("run_id", "status", "started_at", "tianping_version", "spec_json", "definitions_json")
_COMPILED: dict[str, dict[str, str]] = {}


def _dialect_insert(dialect_name: str) -> Any:
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


SCORE_COLUMNS = ("model", "benchmark", "sample_id", "status", "score", "extraction_failed", "meta_json", "metrics_json")
"""What aggregating a run reads of each sample (``Store.score_rows``): not its prompt, output or trajectory."""


def _star(table: Any) -> Any:
    return select(literal_column("*")).select_from(table)


def _statements(dialect_name: str) -> dict[str, tuple[ClauseElement, list[str] | None]]:
    """name -> (statement, the columns an INSERT lists, or None for every column it names)."""
    ins = _dialect_insert(dialect_name)
    p = bindparam
    owned = runs.c.owner_json == p("owner")
    sample_insert = ins(samples)
    excluded = sample_insert.excluded
    upsert_sample = sample_insert.on_conflict_do_update(
        index_elements=list(SAMPLE_KEY),
        set_={c: excluded[c] for c in SAMPLE_COLUMNS if c not in SAMPLE_KEY},
        # only an errored row is ever replaced: an answered sample is never rewritten, so a retried write of
        # the same sample (a resumed run, a unit claimed again) leaves the first answer in place
        where=samples.c.status == literal_column("'error'"),
    )
    return {
        "insert_run": (insert(runs), list(_RUN_FIELDS)),
        "get_run": (_star(runs).where(runs.c.run_id == p("run_id")), None),
        "list_runs": (_star(runs), None),
        "lease_row": (
            select(runs.c.owner_json, runs.c.heartbeat_at).where(runs.c.run_id == p("run_id")).with_for_update(),
            None,
        ),
        "lease_take": (
            update(runs)
            .where(runs.c.run_id == p("key_run"))
            .values(owner_json=p("owner"), heartbeat_at=p("beat"), status=literal_column("'running'")),
            None,
        ),
        "heartbeat": (update(runs).where(runs.c.run_id == p("key_run"), owned).values(heartbeat_at=p("beat")), None),
        "release": (
            update(runs).where(runs.c.run_id == p("key_run"), owned).values(owner_json=null(), heartbeat_at=null()),
            None,
        ),
        "answered_ids": (
            select(samples.c.sample_id).where(
                samples.c.run_id == p("run_id"),
                samples.c.model == p("model"),
                samples.c.benchmark == p("benchmark"),
                samples.c.status != literal_column("'error'"),
            ),
            None,
        ),
        "cached_keys": (
            select(responses.c.request_key).where(
                responses.c.endpoint == p("endpoint"), responses.c.model == p("model")
            ),
            None,
        ),
        "cached_response": (
            select(responses.c.response_json).where(
                responses.c.request_key == p("request_key"), responses.c.endpoint == p("endpoint")
            ),
            None,
        ),
        "endpoints_answered": (
            select(samples.c.endpoint, func.count())
            .where(samples.c.run_id == p("run_id"), samples.c.model == p("model"), samples.c.endpoint.is_not(None))
            .group_by(samples.c.endpoint),
            None,
        ),
        # the first answer stored for a request and endpoint stays
        "insert_response": (ins(responses).on_conflict_do_nothing(index_elements=["request_key", "endpoint"]), None),
        "upsert_sample": (upsert_sample, list(SAMPLE_COLUMNS)),
        "sample_rows": (_star(samples).where(samples.c.run_id == p("run_id")), None),
        "score_rows": (
            select(*(samples.c[name] for name in SCORE_COLUMNS)).where(samples.c.run_id == p("run_id")),
            None,
        ),
        "delete_aggregates": (delete(aggregates).where(aggregates.c.run_id == p("run_id")), None),
        "insert_aggregate": (insert(aggregates), list(AGGREGATE_COLUMNS)),
        "aggregates": (_star(aggregates).where(aggregates.c.run_id == p("run_id")), None),
        "insert_arena_rating": (insert(arena_ratings), list(ARENA_RATING_COLUMNS)),
        "arena_ratings": (_star(arena_ratings), None),
        "arena_rating": (_star(arena_ratings).where(arena_ratings.c.rating_id == p("rating_id")), None),
        **_unit_statements(ins),
        **_dashboard_statements(ins),
    }


UNIT_COLUMNS = ("unit_id", "run_id", "model", "task", "shard", "sample_ids_json", "created_at")


def _unit_statements(ins: Any) -> dict[str, tuple[ClauseElement, list[str] | None]]:
    p = bindparam
    u = work_units.c
    pending = u.status == literal_column("'pending'")
    return {
        # a plan cut again (a second driver, a restarted one) adds no unit twice
        "insert_unit": (ins(work_units).on_conflict_do_nothing(index_elements=["unit_id"]), list(UNIT_COLUMNS)),
        # PostgreSQL: the row is locked, and a row another claimer holds locked is skipped, not waited for;
        # SQLite ignores FOR UPDATE, and its BEGIN IMMEDIATE lets one claimer at a time through
        "claim_pick": (
            select(u.unit_id)
            .where(u.run_id == p("run_id"), pending, or_(u.lease_until.is_(None), u.lease_until < p("now")))
            .order_by(u.model, u.task, u.shard, u.unit_id)
            .limit(literal_column("1"))
            .offset(literal_column("0"))
            .with_for_update(skip_locked=True),
            None,
        ),
        "claim_take": (
            update(work_units)
            .where(u.unit_id == p("key_unit"))
            .values(worker=p("worker"), lease_until=p("until"), attempts=u.attempts + literal_column("1")),
            None,
        ),
        "unit_row": (_star(work_units).where(u.unit_id == p("unit_id")), None),
        "units_of_run": (_star(work_units).where(u.run_id == p("run_id")), None),
        "renew_unit": (
            update(work_units)
            .where(u.unit_id == p("key_unit"), u.worker == p("worker"), pending)
            .values(lease_until=p("until")),
            None,
        ),
        "finish_unit": (
            update(work_units)
            .where(u.unit_id == p("key_unit"), pending)
            .values(status=literal_column("'done'"), done_at=p("stamp"), lease_until=null()),
            None,
        ),
    }


BATTLE_COLUMNS = (
    "battle_id", "created_at", "benchmark", "sample_id", "model_a", "model_b", "winner", "voter", "source"
)  # fmt: skip


def _dashboard_statements(ins: Any) -> dict[str, tuple[ClauseElement, list[str] | None]]:
    """Battles (revision 0003) and the reads that aggregate in the database for the dashboard."""
    p = bindparam
    a, r = aggregates.c, runs.c
    one = literal_column("1")
    running = literal_column("'running'")
    newest_first = [r.started_at.desc(), a.run_id.desc()]
    # every run's overall rows, numbered per model x benchmark x metric: rows with a score first, newest first
    ranked = (
        select(
            literal_column("aggregates.*"),
            r.started_at.label("run_started_at"),
            func.row_number()
            .over(partition_by=[a.model, a.benchmark, a.metric], order_by=[a.score.is_(None), *newest_first])
            .label("newest"),
        )
        .select_from(aggregates.join(runs, r.run_id == a.run_id))
        .where(a.group_kind == literal_column("'all'"), r.status != running)
        .subquery("ranked")
    )
    live_samples = select(func.max(samples.c.created_at)).where(
        samples.c.run_id.in_(select(r.run_id).where(r.status == running))
    )
    return {
        # a retried vote (the same id) is stored once
        "insert_battle": (ins(battles).on_conflict_do_nothing(index_elements=["battle_id"]), list(BATTLE_COLUMNS)),
        "battles": (_star(battles), None),
        "battles_of_source": (_star(battles).where(battles.c.source == p("source")), None),
        "battle_count": (select(func.count()).select_from(battles), None),
        "latest_aggregates": (
            select(literal_column("*")).select_from(ranked).where(literal_column("ranked.newest") == one),
            None,
        ),
        # what changes when a run starts, ends, is resumed or deleted, writes its aggregates or (while running)
        # stores a sample: the primary key's run_id prefix keeps the last part to the running runs' samples
        "data_version": (
            select(
                select(func.count()).select_from(runs).scalar_subquery().label("runs"),
                select(func.count()).select_from(runs).where(r.status == running).scalar_subquery().label("running"),
                select(func.max(r.started_at)).scalar_subquery().label("started"),
                select(func.max(r.finished_at)).scalar_subquery().label("finished"),
                select(func.count()).select_from(aggregates).scalar_subquery().label("aggregates"),
                live_samples.scalar_subquery().label("live_sample"),
            ),
            None,
        ),
    }


def compiled(dialect: Dialect) -> dict[str, str]:
    """The store's statements as the driver's SQL text (named parameters on both drivers), compiled once per
    database kind in a process."""
    done = _COMPILED.get(dialect.name)
    if done is None:
        done = {}
        for name, (statement, columns) in _statements(dialect.name).items():
            done[name] = str(statement.compile(dialect=dialect, column_keys=columns))
        _COMPILED[dialect.name] = done
    return done


FROZEN_SQLITE = Path(__file__).with_name("sqlite_sql.py")


def frozen_sqlite_source() -> str:
    """``sqlite_sql.py``: the SQLite text of the tables and statements, compiled from the Core definitions here.

    A SQLite store at the head revision is then opened and written without importing SQLAlchemy (a fifth of a
    second of every run's start-up); ``tests/test_store_alembic.py`` fails when the file lags behind."""
    from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    from tianping.store.migrate import HEAD_REVISION
    from tianping.store.tables import metadata

    dialect = SQLiteDialect_pysqlite(paramstyle="named")
    create = [str(CreateTable(t, if_not_exists=True).compile(dialect=dialect)).strip() for t in metadata.sorted_tables]
    create += [
        str(CreateIndex(i, if_not_exists=True).compile(dialect=dialect)).strip()
        for t in metadata.sorted_tables
        for i in sorted(t.indexes, key=lambda i: str(i.name))
    ]
    statements = {
        name: str(s.compile(dialect=dialect, column_keys=c)) for name, (s, c) in _statements("sqlite").items()
    }
    return (
        '"""Generated by ``python -m tianping.store.statements`` from ``tables.py`` and ``statements.py``: do not '
        'edit."""\n\n'
        f"HEAD_REVISION = {HEAD_REVISION!r}\n\n"
        f"CREATE = {pformat(tuple(create), width=116)}\n\n"
        f"STATEMENTS = {pformat(statements, width=116)}\n"
    )


if __name__ == "__main__":
    FROZEN_SQLITE.write_text(frozen_sqlite_source())
    print(f"wrote {FROZEN_SQLITE}")
