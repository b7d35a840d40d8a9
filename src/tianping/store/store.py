"""Read and write runs, cached responses, samples and aggregates in a SQLite file or a PostgreSQL database.

Answers are committed in groups (``tianping.store.writes``; WAL mode on SQLite), so a process killed at any moment
loses at most the open group, which a resume asks again; the samples table's primary key makes each sample count
once per run, and a second write of an answered sample changes nothing, so a retried write never duplicates or
replaces one.

SQLAlchemy opens the database and Alembic migrates it (``tianping.store.migrate``); the statements are built
with SQLAlchemy Core, compiled once, and run on the driver's own connection (``tianping.store.statements``).
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from tianping.core import Request, Response, Sample, Score
from tianping.core.results import AggregateRow
from tianping.store import backends
from tianping.store.backends import SQLITE, Dialect
from tianping.store.errors import RunBusy, StoreBusy, StoreError, StoreFull
from tianping.store.lease import Owner, lease_holder, lease_is_live
from tianping.store.writes import GroupedWrites

DB_FILENAME = "tianping.sqlite"
_DIGITS = re.compile(r"(\d+)")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in _DIGITS.split(text) if part)


def _newest_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs ordered here, not by the database, so both databases give one order."""
    return sorted(rows, key=lambda r: r["started_at"], reverse=True)


def _notice_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Store(GroupedWrites):
    """A handle on one result database: a SQLite file (a path, or ``sqlite:///path``) or a PostgreSQL database
    (``postgresql://user:password@host:port/name``). Not shared across threads.

    ``readonly`` opens an existing database without writing to it (``show``, ``report``, ``runs`` on a
    read-only mount). Writes wait for another process's lock: SQLite's own ``busy_timeout_s``, then again
    with backoff, saying who holds it, for up to ``lock_wait_s`` in all.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        readonly: bool = False,
        busy_timeout_s: float = 30.0,
        lock_wait_s: float = 600.0,
        notice: Callable[[str], None] = _notice_stderr,
    ):
        location = backends.recall(path) if isinstance(path, str) else path
        if isinstance(location, str) and location.startswith("sqlite:///"):
            location = Path(location.removeprefix("sqlite:///"))
        self.readonly = readonly
        self.lock_wait_s = lock_wait_s
        self.notice = notice
        self._secret_url = ""
        self._db: Any = None  # the driver's connection (sqlite3 or psycopg)
        self._init_groups()
        self.path: Path | str
        if backends.is_postgres(location):
            self._secret_url = str(location)
            self.path = self.url = backends.remember(self._secret_url)
        else:
            self.path = Path(location)
            self.url = f"sqlite:///{self.path}"
        self._open(busy_timeout_s)

    def _open(self, busy_timeout_s: float) -> None:
        self._engine: Any = None
        if self._secret_url:
            self._open_postgres()
            return
        assert isinstance(self.path, Path)
        if self.readonly and not self.path.is_file():
            raise StoreError(f"{self.path}: no result database here (nothing has been run with this results directory)")
        self._dialect: Dialect = SQLITE
        from tianping.store import migrate, sqlite_sql

        connect = backends.sqlite_creator(self.path, readonly=self.readonly, busy_timeout_s=busy_timeout_s)
        try:
            self._db = connect()
            if not self.readonly:
                _sqlite_pragmas(self._db, None)
            state = migrate.sqlite_state(self._db)
            if not self.readonly and state == "empty":
                migrate.create_sqlite(self._db)
            elif not self.readonly and state != "ready":
                self._migrate_sqlite(connect)
        except migrate.NewerStore as exc:
            self._close_quietly()
            raise StoreError(f"{self.path}: written by a newer tianping ({exc}); upgrade tianping") from None
        except backends.SQLITE.error as exc:
            self._close_quietly()
            raise self._open_failure(exc) from None
        self._sql = sqlite_sql.STATEMENTS

    def _close_quietly(self) -> None:
        if self._db is not None:
            with contextlib.suppress(backends.SQLITE.error):
                self._db.close()

    def _migrate_sqlite(self, connect: Callable[[], Any]) -> None:
        """Alembic's way, through SQLAlchemy, for a store that needs more than creating (an older schema)."""
        from sqlalchemy import create_engine, event
        from sqlalchemy.exc import DBAPIError
        from sqlalchemy.pool import NullPool

        from tianping.store import migrate

        engine = create_engine("sqlite://", creator=connect, poolclass=NullPool, paramstyle="named")
        event.listen(engine, "connect", _sqlite_pragmas)
        try:
            with engine.connect() as conn:
                migrate.prepare(conn, "sqlite")
        except DBAPIError as exc:
            raise exc.orig if exc.orig is not None else exc from None
        finally:
            engine.dispose()

    def _open_postgres(self) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.exc import DBAPIError
        from sqlalchemy.pool import StaticPool

        from tianping.store import migrate, statements

        try:
            self._dialect = backends.postgres_dialect()
        except ImportError:
            raise StoreError(
                f"{self.path}: a PostgreSQL store needs psycopg: pip install 'tianping[postgres]'"
            ) from None
        # one connection per store, kept open for as long as the store is
        self._engine = create_engine(backends.sqlalchemy_url(self._secret_url), poolclass=StaticPool)
        try:
            self._conn = self._engine.connect()
            if self.readonly:
                migrate.check_not_newer(self._conn, self._dialect.name)
                if not migrate.has_tables(self._conn):
                    raise StoreError(f"{self.path}: no tianping tables in this database (nothing has been run there)")
                self._conn.rollback()
            else:
                migrate.prepare(self._conn, self._dialect.name)
            self._conn = self._conn.execution_options(isolation_level="AUTOCOMMIT")
        except migrate.NewerStore as exc:
            self._engine.dispose()
            raise StoreError(f"{self.path}: written by a newer tianping ({exc}); upgrade tianping") from None
        except DBAPIError as exc:
            self._engine.dispose()
            raise self._open_failure(exc.orig if exc.orig is not None else exc) from None
        except StoreError:
            self._engine.dispose()
            raise
        self._db = self._conn.connection.driver_connection
        self._sql = statements.compiled(self._engine.dialect)

    def _open_failure(self, exc: BaseException) -> StoreError:
        text = self._scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        if self._dialect.name == "sqlite" and not isinstance(exc, backends.sqlite3.OperationalError):
            return StoreError(f"{self.path}: not a usable tianping result database ({text})")
        return StoreError(f"{self.path}: cannot open the result database ({text})")

    def _scrub(self, text: str) -> str:
        return backends.scrub(text, self._secret_url) if self._secret_url else text

    @classmethod
    def open(cls, results_dir: Path | str, *, readonly: bool = False, store: str | None = None) -> Store:
        """The store under a results directory, created when missing (unless ``readonly``), or the database
        that ``store`` names (``postgresql://…`` or ``sqlite:///path``)."""
        if store:
            return cls(store, readonly=readonly)
        path = Path(results_dir)
        if not readonly:
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{path}: cannot create the results directory: {exc.strerror}") from None
        return cls(path / DB_FILENAME, readonly=readonly)

    def close(self) -> None:
        if self._group_opened is not None:
            with contextlib.suppress(StoreError):  # what cannot be committed now is re-asked by a resume
                self.flush()
        if self._engine is None:
            self._db.close()
        else:
            self._conn.close()
            self._engine.dispose()

    # executing ----------------------------------------------------------------------------------

    def _run(self, name: str, params: dict[str, Any] | None = None) -> Any:
        return self._db.execute(self._sql[name], params or {})

    def _rows(self, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        cursor = self._read(name, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _read(self, name: str, params: dict[str, Any] | None = None) -> Any:
        try:
            return self._run(name, params)
        except self._dialect.error as exc:
            if self._dialect.in_transaction(self._db):
                self._rollback()
            raise self._failure(exc) from None

    # runs ---------------------------------------------------------------------------------------

    def create_run(
        self, run_id: str, spec: dict[str, Any], version: str, definitions: dict[str, Any] | None = None
    ) -> None:
        values = {
            "run_id": run_id,
            "status": "running",
            "started_at": now_iso(),
            "tianping_version": version,
            "spec_json": json.dumps(spec, ensure_ascii=False, sort_keys=True),
            "definitions_json": (
                json.dumps(definitions, ensure_ascii=False, sort_keys=True) if definitions is not None else None
            ),
        }
        self._write(lambda: self._transaction_of(lambda: self._run("insert_run", values)))

    def update_run(self, run_id: str, **values: Any) -> None:
        for key in ("benchmark_versions", "dataset_checksums", "spec", "definitions", "tasks"):
            if key in values:
                values[f"{key}_json"] = json.dumps(values.pop(key), ensure_ascii=False, sort_keys=True)
        allowed = {"status", "finished_at", "wall_s", "message", "benchmark_versions_json", "dataset_checksums_json",
                   "spec_json", "definitions_json", "tasks_json"}  # fmt: skip
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"cannot update run fields {sorted(unknown)}")
        param = self._dialect.param
        assignments = ", ".join(f"{k} = {param(k)}" for k in sorted(values))
        sql = f"UPDATE runs SET {assignments} WHERE run_id = {param('key_run')}"
        self._write(lambda: self._transaction_of(lambda: self._db.execute(sql, {**values, "key_run": run_id})))

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        rows = self._rows("get_run", {"run_id": run_id})
        return self._run_dict(rows[0]) if rows else None

    @staticmethod
    def _run_dict(row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        out["spec"] = json.loads(out.pop("spec_json"))
        out["benchmark_versions"] = json.loads(out.pop("benchmark_versions_json") or "{}")
        out["dataset_checksums"] = json.loads(out.pop("dataset_checksums_json") or "{}")
        out["definitions"] = json.loads(out.pop("definitions_json", None) or "{}")
        out["tasks"] = json.loads(out.pop("tasks_json", None) or "{}")
        out["stored_status"] = out["status"]
        out["live"] = lease_is_live(out.get("owner_json"), out.get("heartbeat_at"))
        if out["status"] == "running" and not out["live"]:
            out["status"] = "interrupted"  # its process is gone (kill -9, power loss): resume finishes it
        return out

    def no_run(self, run_id: str) -> str:
        """The message for a run id this store does not hold: the nearest ids, then the newest runs."""
        from tianping.core.suggest import did_you_mean

        rows = _newest_first(self._rows("list_runs"))  # ids only: no spec is parsed for a message
        hint = did_you_mean(run_id, [r["run_id"] for r in rows])
        recent = [r["run_id"] for r in rows[:5]]
        return (f"no run '{run_id}' in {self.url}" + (f"; {hint}" if hint else "")
                + (f"; recent runs: {', '.join(recent)}" if recent else ""))  # fmt: skip

    def list_runs(self) -> list[dict[str, Any]]:
        """Every run, newest first (ordered here, not by the database, so both databases give one order)."""
        return [self._run_dict(row) for row in _newest_first(self._rows("list_runs"))]

    # the lease of a live run ----------------------------------------------------------------------

    def acquire_lease(self, run_id: str) -> None:
        """Mark this process as the run's executor, or raise RunBusy naming the live process that is."""
        me = Owner.me()

        def take() -> None:
            # the run's row is locked (SQLite: the whole database) from the read to the write
            rows = self._rows("lease_row", {"run_id": run_id})
            if not rows:
                raise StoreError(f"no run '{run_id}' in {self.url}")
            row = rows[0]
            owner = Owner.from_json(row["owner_json"])
            if owner != me and lease_is_live(row["owner_json"], row["heartbeat_at"]):
                raise RunBusy(
                    f"run {run_id} is being executed by {lease_holder(row)}; wait for it to end or stop "
                    "it, then resume (two processes would send every pending request twice)"
                )
            self._run("lease_take", {"owner": me.to_json(), "beat": time.time(), "key_run": run_id})

        self._write(lambda: self._transaction_of(take))

    def heartbeat(self, run_id: str) -> None:
        values = {"beat": time.time(), "key_run": run_id, "owner": Owner.me().to_json()}
        self._write(lambda: self._transaction_of(lambda: self._run("heartbeat", values)))

    def release_lease(self, run_id: str) -> None:
        values = {"key_run": run_id, "owner": Owner.me().to_json()}
        self._write(lambda: self._transaction_of(lambda: self._run("release", values)))

    # answers ------------------------------------------------------------------------------------

    def answered_ids(self, run_id: str, model: str, benchmark: str) -> set[str]:
        """Samples of a run that have an answer (scored or incomplete); errored ones are retried."""
        cursor = self._read("answered_ids", {"run_id": run_id, "model": model, "benchmark": benchmark})
        return {r[0] for r in cursor.fetchall()}

    def cached_keys(self, model: str, endpoint: str) -> set[str]:
        """Keys of every answer of a model cached from one endpoint: one query instead of one per sample."""
        return {r[0] for r in self._read("cached_keys", {"endpoint": endpoint, "model": model}).fetchall()}

    def cached_response(self, request_key: str, endpoint: str) -> Response | None:
        row = self._read("cached_response", {"request_key": request_key, "endpoint": endpoint}).fetchone()
        return Response.from_json(row[0]) if row is not None else None

    def endpoints_answered(self, run_id: str, model: str) -> dict[str, int]:
        """Which endpoints answered a model's samples in a run, and how many each."""
        rows = self._read("endpoints_answered", {"run_id": run_id, "model": model}).fetchall()
        return {r[0]: r[1] for r in rows}

    def record(
        self,
        *,
        run_id: str,
        benchmark: str,
        sample: Sample,
        request: Request,
        response: Response | None,
        score: Score,
        error: str | None = None,
        from_cache: bool = False,
        endpoint: str = "",
    ) -> None:
        """Store one sample's outcome (and its response in the cache, under the endpoint that gave it) in one
        committed transaction."""
        stamp = now_iso()
        first = response.completions[0] if response is not None and response.completions else None
        output = first.text if first else None
        if response is not None and response.loglikelihoods:
            # a log-likelihood answer has no text: keep the per-choice log-probabilities readable instead
            output = json.dumps([round(x.logprob, 6) for x in response.loglikelihoods])
        values = {
            "run_id": run_id,
            "model": request.model,
            "benchmark": benchmark,
            "sample_id": sample.id,
            "request_key": request.key,
            "prompt_json": request.payload_json,
            "target": sample.target,
            "meta_json": json.dumps(sample.meta, ensure_ascii=False),
            "output": output,
            "reasoning": first.reasoning if first else None,
            "finish_reason": first.finish_reason if first else None,
            "extracted": score.extracted,
            "score": score.value,
            "status": score.status,
            "extraction_failed": int(score.extraction_failed),
            "reason": score.reason,
            "error": error,
            "latency_s": response.latency_s if response else None,
            "prompt_tokens": response.prompt_tokens if response else None,
            "completion_tokens": response.completion_tokens if response else None,
            "reasoning_tokens": response.reasoning_tokens if response else None,
            "attempts": response.attempts if response else None,
            "from_cache": int(from_cache),
            "created_at": stamp,
            "metrics_json": (
                json.dumps({"values": score.metrics, "weights": score.weights}) if score.metrics else None
            ),
            "endpoint": endpoint if response is not None else None,
            "trajectory_json": (
                json.dumps(score.trajectory, ensure_ascii=False) if score.trajectory is not None else None
            ),
        }
        cached = response.to_json() if response is not None and not from_cache else None
        if self._secret_url:
            values = _no_nul(values)
        db = self._db
        insert_response = self._sql["insert_response"]
        upsert_sample = self._sql["upsert_sample"]

        def rows() -> None:
            if cached is not None:
                response_row = {"request_key": request.key, "endpoint": endpoint, "model": request.model,
                                "response_json": cached, "created_at": stamp}  # fmt: skip
                db.execute(insert_response, response_row)
            db.execute(upsert_sample, values)

        if self._group_limits is None:
            self._write(lambda: self._transaction_of(rows))
        else:
            self._write(lambda: self._in_group(rows))
            limit, seconds = self._group_limits
            if len(self._group_pending) >= limit or time.monotonic() - (self._group_opened or 0.0) >= seconds:
                self.flush()

    def cache_response(self, request: Request, response: Response, endpoint: str) -> None:
        """Keep one answer in the cache without a sample (a turn of an episode), so that a resumed episode
        replays it instead of asking again."""
        values = {"request_key": request.key, "endpoint": endpoint, "model": request.model,
                  "response_json": response.to_json(), "created_at": now_iso()}  # fmt: skip
        if self._secret_url:
            values = _no_nul(values)
        self._write(lambda: self._transaction_of(lambda: self._run("insert_response", values)))

    def sample_rows(self, run_id: str) -> Iterator[dict[str, Any]]:
        """Every sample of a run, by model, benchmark and then sample id in natural order (2 before 10)."""
        for out in self._ordered_rows("sample_rows", run_id):
            out["prompt"] = json.loads(out.pop("prompt_json"))
            trajectory = out.pop("trajectory_json", None)  # a read-only store of schema 5 or older has none
            out["trajectory"] = json.loads(trajectory) if trajectory else None
            out["extraction_failed"] = bool(out["extraction_failed"])
            out["from_cache"] = bool(out["from_cache"])
            yield out

    def score_rows(self, run_id: str) -> Iterator[dict[str, Any]]:
        """What aggregating the run needs of each sample (``SCORE_COLUMNS``, meta and metrics read), in the order
        of ``sample_rows``: a third of the time, without parsing every prompt again."""
        for out in self._ordered_rows("score_rows", run_id):
            out["extraction_failed"] = bool(out["extraction_failed"])
            yield out

    def _ordered_rows(self, statement: str, run_id: str) -> Iterator[dict[str, Any]]:
        rows = self._rows(statement, {"run_id": run_id})
        rows.sort(key=lambda r: (r["model"], r["benchmark"], _natural_key(r["sample_id"])))
        for out in rows:
            out["meta"] = json.loads(out.pop("meta_json"))
            extra = json.loads(out.pop("metrics_json") or "{}")
            out["metrics"] = extra.get("values", {})
            out["metric_weights"] = extra.get("weights", {})
            yield out

    # aggregates ---------------------------------------------------------------------------------

    def write_aggregates(self, run_id: str, rows: Iterable[AggregateRow]) -> None:
        # counts a caller has no notion of (an older aggregate row) are stored as zero
        defaults = {"unscorable": 0, "skipped": 0}
        values = [{**defaults, "run_id": run_id, **row} for row in rows]

        def write() -> None:
            self._run("delete_aggregates", {"run_id": run_id})
            if values:
                self._db.cursor().executemany(self._sql["insert_aggregate"], values)

        self._write(lambda: self._transaction_of(write))

    def aggregates(self, run_id: str) -> list[AggregateRow]:
        rows = self._rows("aggregates", {"run_id": run_id})
        rows.sort(key=lambda r: (r["model"], r["benchmark"], r["group_kind"], r["group_name"]))
        return [cast(AggregateRow, r) for r in rows]

    # arena ratings -----------------------------------------------------------------------------

    def write_arena_ratings(self, rows: Iterable[dict[str, Any]]) -> None:
        """Store one fit's rows (``tianping.store.schema.ARENA_RATING_COLUMNS``) in one transaction."""
        values = list(rows)
        if values:
            self._write(
                lambda: self._transaction_of(
                    lambda: self._db.cursor().executemany(self._sql["insert_arena_rating"], values)
                )
            )

    def arena_ratings(self, rating_id: str | None = None) -> list[dict[str, Any]]:
        """The stored ratings of one fit, or of every fit (oldest first); [] in a store older than the table."""
        try:
            if rating_id is None:
                cursor = self._run("arena_ratings")
            else:
                cursor = self._run("arena_rating", {"rating_id": rating_id})
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        except self._dialect.error as exc:
            self._rollback()
            if self._dialect.classify(exc) == "missing_table":  # a read-only store of schema 4 or older
                return []
            raise self._failure(exc) from None
        rows.sort(key=lambda r: (r["created_at"], r["rating_id"], r["benchmark"], r["rank"]))
        return rows

    # battles (human votes) ---------------------------------------------------------------------------

    def add_battle(
        self,
        *,
        benchmark: str,
        sample_id: str,
        model_a: str,
        model_b: str,
        winner: str,
        voter: str,
        source: str = "web",
        battle_id: str | None = None,
    ) -> str:
        """Store one pairwise verdict (``winner``: one of ``tianping.arena.OUTCOMES``, checked by the caller);
        returns its id. The same ``battle_id`` written twice is stored once."""
        import uuid

        # a new id starts with the time in nanoseconds, so votes cast in one millisecond keep their order
        battle_id = battle_id or f"{time.time_ns():016x}-{uuid.uuid4().hex[:12]}"
        values = {"battle_id": battle_id, "created_at": now_iso(), "benchmark": benchmark,
                  "sample_id": sample_id, "model_a": model_a, "model_b": model_b, "winner": winner,
                  "voter": voter, "source": source}  # fmt: skip
        if self._secret_url:
            values = _no_nul(values)
        self._write(lambda: self._transaction_of(lambda: self._run("insert_battle", values)))
        return str(values["battle_id"])

    def battles(self, source: str | None = None) -> list[dict[str, Any]]:
        """Stored battles (of one source, e.g. 'web'), oldest first; [] in a store older than revision 0003."""
        rows = self._optional_rows("battles" if source is None else "battles_of_source", {"source": source})
        rows.sort(key=lambda r: (r["created_at"], r["battle_id"]))
        return rows

    def battle_count(self) -> int:
        rows = self._optional_rows("battle_count")
        return int(next(iter(rows[0].values()))) if rows else 0

    def _optional_rows(self, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows of a table a read-only store of an older revision may lack (then [])."""
        try:
            cursor = self._run(name, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        except self._dialect.error as exc:
            self._rollback()
            if self._dialect.classify(exc) == "missing_table":
                return []
            raise self._failure(exc) from None

    # reads aggregated in the database (the dashboard) -------------------------------------------------

    def latest_aggregates(self) -> list[dict[str, Any]]:
        """Per model x benchmark x metric, the overall aggregate row with a score of the newest run that is not
        running (newest by start; where no run has a score, the newest row), with ``run_started_at``. One
        query, whatever the number of runs."""
        return self._rows("latest_aggregates")

    def data_version(self) -> tuple[Any, ...]:
        """A cheap fingerprint of the runs and their results that changes when a run starts, finishes, is
        resumed or deleted, writes its aggregates, or stores a sample while running (not with votes or arena
        fits). For caches over a database whose files cannot be watched (PostgreSQL)."""
        return tuple(self._read("data_version").fetchone())


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """On every new SQLite connection that writes: WAL, so readers never block the writer; NORMAL sync, durable
    against a killed process (not against power loss), which spares an fsync per answer."""
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
    # a checkpoint copies every page the WAL holds into the database: at SQLite's default (every 1,000 pages) a
    # page that many groups of answers touch is copied again and again; 20,000 pages (80 MB of WAL at most)
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=20000")


def _no_nul(values: dict[str, Any]) -> dict[str, Any]:
    """PostgreSQL's text cannot hold NUL (SQLite's can): a model's raw output with one keeps U+FFFD there."""
    return {k: v.replace("\x00", "\ufffd") if isinstance(v, str) and "\x00" in v else v for k, v in values.items()}


__all__ = ["DB_FILENAME", "RunBusy", "Store", "StoreBusy", "StoreError", "StoreFull", "now_iso"]
