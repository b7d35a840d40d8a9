"""Read and write runs, cached responses, samples and aggregates in one SQLite file.

Every answer is committed as soon as it is recorded (WAL mode), so a process killed at any moment
loses nothing it had recorded; the samples table's primary key makes each sample count once per run.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import quote

from tianping.core import Request, Response, Sample, Score
from tianping.core.results import AggregateRow
from tianping.store.lease import Owner, lease_holder, lease_is_live, processes_holding
from tianping.store.schema import (
    DDL,
    INSERT_AGGREGATE,
    INSERT_ARENA_RATING,
    MIGRATIONS,
    SCHEMA_VERSION,
    UPSERT_SAMPLE,
)

T = TypeVar("T")

DB_FILENAME = "tianping.sqlite"
_DIGITS = re.compile(r"(\d+)")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in _DIGITS.split(text) if part)


INSERT_RESPONSE = (
    "INSERT INTO responses (request_key, endpoint, model, response_json, created_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (request_key, endpoint) DO NOTHING"
)
"""A cached answer; the first one stored for a request and endpoint stays."""


class StoreError(RuntimeError):
    """The result store cannot be opened or used (the message names the file)."""


class StoreBusy(StoreError):
    """Another process held the database's write lock for longer than the store waits."""


class StoreFull(StoreError):
    """The disk (or the database's size limit) is full; what was committed before is kept."""


class RunBusy(StoreError):
    """Another live process is executing the run."""


def _notice_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Store:
    """A handle on one result database. Not shared across threads.

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
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.readonly = readonly
        self.lock_wait_s = lock_wait_s
        self.notice = notice
        try:
            self._db = self._connect(busy_timeout_s)
            self._db.row_factory = sqlite3.Row
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: written by a newer tianping (schema {version} > {SCHEMA_VERSION}); upgrade tianping"
                )
            if not readonly:
                self._prepare(version)
        except sqlite3.OperationalError as exc:  # a folder without write access, a locked or vanished file
            raise StoreError(f"{self.path}: cannot open the result database ({exc})") from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable tianping result database ({exc})") from None

    def _connect(self, busy_timeout_s: float) -> sqlite3.Connection:
        if not self.readonly:
            return sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None)
        if not self.path.is_file():
            raise StoreError(f"{self.path}: no result database here (nothing has been run with this results directory)")
        uri = "file:" + quote(str(self.path.resolve()))
        db = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=busy_timeout_s, isolation_level=None)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError:
            # a WAL database on a read-only mount cannot create its shared-memory file: read it as immutable
            db.close()
            return sqlite3.connect(uri + "?immutable=1", uri=True, isolation_level=None)

    def _prepare(self, version: int) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable against a killed process (not against power loss) and spares an fsync per answer
        self._db.execute("PRAGMA synchronous=NORMAL")
        has_tables = self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'samples'").fetchone()
        if has_tables and version < SCHEMA_VERSION:
            with self._transaction():
                for step in range(max(version, 1) + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS[step]:
                        self._db.execute(statement)
        self._db.executescript(DDL)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @classmethod
    def open(cls, results_dir: Path | str, *, readonly: bool = False) -> Store:
        """The store under a results directory, created when missing (unless ``readonly``)."""
        path = Path(results_dir)
        if not readonly:
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{path}: cannot create the results directory: {exc.strerror}") from None
        return cls(path / DB_FILENAME, readonly=readonly)

    def close(self) -> None:
        self._db.close()

    # writing ------------------------------------------------------------------------------------

    def _write(self, op: Callable[[], T]) -> T:
        """Run a write, waiting out another process's lock (with a word on who holds it), and turn a full disk
        into a StoreFull that says what to do."""
        waited = 0.0
        delay = 0.5
        while True:
            try:
                return op()
            except sqlite3.OperationalError as exc:
                text = str(exc)
                if "locked" not in text and "busy" not in text:
                    raise self._failure(exc) from None
                if waited >= self.lock_wait_s:
                    raise StoreBusy(
                        f"{self.path}: the database stayed locked by another process for over {self.lock_wait_s:g} s"
                        f"{self._holders()}; answers stored so far are kept"
                    ) from None
                self.notice(f"{self.path}: waiting for a write lock held by another process{self._holders()}")
                time.sleep(delay)
                waited += delay
                delay = min(delay * 2, 10.0)
            except sqlite3.DatabaseError as exc:
                raise self._failure(exc) from None

    def _holders(self) -> str:
        holders = processes_holding(self.path)
        return f" ({'; '.join(holders[:3])})" if holders else ""

    def _failure(self, exc: sqlite3.DatabaseError) -> StoreError:
        text = str(exc)
        if "full" in text:
            return StoreFull(
                f"{self.path}: disk full (or the database reached its size limit) while writing; answers stored "
                "before are kept: free space, then resume"
            )
        if "readonly" in text or "read-only" in text:
            return StoreError(f"{self.path}: the result database is read-only ({text}); use another --results-dir")
        return StoreError(f"{self.path}: database error: {text}")

    # runs ---------------------------------------------------------------------------------------

    def create_run(
        self, run_id: str, spec: dict[str, Any], version: str, definitions: dict[str, Any] | None = None
    ) -> None:
        values = (
            run_id,
            "running",
            now_iso(),
            version,
            json.dumps(spec, ensure_ascii=False, sort_keys=True),
            json.dumps(definitions, ensure_ascii=False, sort_keys=True) if definitions is not None else None,
        )
        self._write(
            lambda: self._db.execute(
                "INSERT INTO runs (run_id, status, started_at, tianping_version, spec_json, definitions_json) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                values,
            )
        )

    def update_run(self, run_id: str, **values: Any) -> None:
        for key in ("benchmark_versions", "dataset_checksums", "spec", "definitions", "tasks"):
            if key in values:
                values[f"{key}_json"] = json.dumps(values.pop(key), ensure_ascii=False, sort_keys=True)
        allowed = {"status", "finished_at", "wall_s", "message", "benchmark_versions_json", "dataset_checksums_json",
                   "spec_json", "definitions_json", "tasks_json"}  # fmt: skip
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"cannot update run fields {sorted(unknown)}")
        assignments = ", ".join(f"{k} = :{k}" for k in values)
        sql = f"UPDATE runs SET {assignments} WHERE run_id = :run_id"
        self._write(lambda: self._db.execute(sql, {**values, "run_id": run_id}))

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else self._run_dict(row)

    @staticmethod
    def _run_dict(row: sqlite3.Row) -> dict[str, Any]:
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

    def list_runs(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM runs ORDER BY started_at DESC").fetchall()
        return [self._run_dict(row) for row in rows]

    # the lease of a live run ----------------------------------------------------------------------

    def acquire_lease(self, run_id: str) -> None:
        """Mark this process as the run's executor, or raise RunBusy naming the live process that is."""
        me = Owner.me()

        def take() -> None:
            with self._transaction():
                row = self._db.execute(
                    "SELECT owner_json, heartbeat_at FROM runs WHERE run_id = ?", (run_id,)
                ).fetchone()
                if row is None:
                    raise StoreError(f"no run '{run_id}' in {self.url}")
                owner = Owner.from_json(row["owner_json"])
                if owner != me and lease_is_live(row["owner_json"], row["heartbeat_at"]):
                    raise RunBusy(
                        f"run {run_id} is being executed by {lease_holder(dict(row))}; wait for it to end or stop "
                        "it, then resume (two processes would send every pending request twice)"
                    )
                self._db.execute(
                    "UPDATE runs SET owner_json = ?, heartbeat_at = ?, status = 'running' WHERE run_id = ?",
                    (me.to_json(), time.time(), run_id),
                )

        self._write(take)

    def heartbeat(self, run_id: str) -> None:
        self._write(
            lambda: self._db.execute(
                "UPDATE runs SET heartbeat_at = ? WHERE run_id = ? AND owner_json = ?",
                (time.time(), run_id, Owner.me().to_json()),
            )
        )

    def release_lease(self, run_id: str) -> None:
        self._write(
            lambda: self._db.execute(
                "UPDATE runs SET owner_json = NULL, heartbeat_at = NULL WHERE run_id = ? AND owner_json = ?",
                (run_id, Owner.me().to_json()),
            )
        )

    # answers ------------------------------------------------------------------------------------

    def answered_ids(self, run_id: str, model: str, benchmark: str) -> set[str]:
        """Samples of a run that have an answer (scored or incomplete); errored ones are retried."""
        rows = self._db.execute(
            "SELECT sample_id FROM samples WHERE run_id = ? AND model = ? AND benchmark = ? AND status != 'error'",
            (run_id, model, benchmark),
        )
        return {r[0] for r in rows}

    def cached_keys(self, model: str, endpoint: str) -> set[str]:
        """Keys of every answer of a model cached from one endpoint: one query instead of one per sample."""
        rows = self._db.execute("SELECT request_key FROM responses WHERE endpoint = ? AND model = ?", (endpoint, model))
        return {r[0] for r in rows}

    def cached_response(self, request_key: str, endpoint: str) -> Response | None:
        row = self._db.execute(
            "SELECT response_json FROM responses WHERE request_key = ? AND endpoint = ?", (request_key, endpoint)
        ).fetchone()
        return Response.from_json(row[0]) if row is not None else None

    def endpoints_answered(self, run_id: str, model: str) -> dict[str, int]:
        """Which endpoints answered a model's samples in a run, and how many each."""
        rows = self._db.execute(
            "SELECT endpoint, count(*) FROM samples WHERE run_id = ? AND model = ? AND endpoint IS NOT NULL GROUP BY 1",
            (run_id, model),
        )
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

        def write() -> None:
            with self._transaction():
                if cached is not None:
                    self._db.execute(INSERT_RESPONSE, (request.key, endpoint, request.model, cached, stamp))
                self._db.execute(UPSERT_SAMPLE, values)

        self._write(write)

    def cache_response(self, request: Request, response: Response, endpoint: str) -> None:
        """Keep one answer in the cache without a sample (a turn of an episode), so that a resumed episode
        replays it instead of asking again."""
        stamp = now_iso()
        body = response.to_json()

        def write() -> None:
            with self._transaction():
                self._db.execute(INSERT_RESPONSE, (request.key, endpoint, request.model, body, stamp))

        self._write(write)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def sample_rows(self, run_id: str) -> Iterator[dict[str, Any]]:
        """Every sample of a run, by model, benchmark and then sample id in natural order (2 before 10)."""
        rows = self._db.execute("SELECT * FROM samples WHERE run_id = ?", (run_id,)).fetchall()
        rows.sort(key=lambda r: (r["model"], r["benchmark"], _natural_key(r["sample_id"])))
        for row in rows:
            out = dict(row)
            out["prompt"] = json.loads(out.pop("prompt_json"))
            out["meta"] = json.loads(out.pop("meta_json"))
            extra = json.loads(out.pop("metrics_json") or "{}")
            out["metrics"] = extra.get("values", {})
            out["metric_weights"] = extra.get("weights", {})
            trajectory = out.pop("trajectory_json", None)  # a read-only store of schema 5 or older has none
            out["trajectory"] = json.loads(trajectory) if trajectory else None
            out["extraction_failed"] = bool(out["extraction_failed"])
            out["from_cache"] = bool(out["from_cache"])
            yield out

    # aggregates ---------------------------------------------------------------------------------

    def write_aggregates(self, run_id: str, rows: Iterable[AggregateRow]) -> None:
        # counts a caller has no notion of (an older aggregate row) are stored as zero
        defaults = {"unscorable": 0, "skipped": 0}
        values = [{**defaults, "run_id": run_id, **row} for row in rows]

        def write() -> None:
            with self._transaction():
                self._db.execute("DELETE FROM aggregates WHERE run_id = ?", (run_id,))
                self._db.executemany(INSERT_AGGREGATE, values)

        self._write(write)

    def aggregates(self, run_id: str) -> list[AggregateRow]:
        rows = self._db.execute(
            "SELECT * FROM aggregates WHERE run_id = ? ORDER BY model, benchmark, group_kind, group_name", (run_id,)
        )
        return [cast(AggregateRow, dict(r)) for r in rows]

    # arena ratings -----------------------------------------------------------------------------

    def write_arena_ratings(self, rows: Iterable[dict[str, Any]]) -> None:
        """Store one fit's rows (``tianping.store.schema.ARENA_RATING_COLUMNS``) in one transaction."""
        values = list(rows)

        def write() -> None:
            with self._transaction():
                self._db.executemany(INSERT_ARENA_RATING, values)

        self._write(write)

    def arena_ratings(self, rating_id: str | None = None) -> list[dict[str, Any]]:
        """The stored ratings of one fit, or of every fit (oldest first); [] in a store older than the table."""
        query = "SELECT * FROM arena_ratings"
        args: tuple[str, ...] = ()
        if rating_id is not None:
            query += " WHERE rating_id = ?"
            args = (rating_id,)
        try:
            rows = self._db.execute(query + " ORDER BY created_at, rating_id, benchmark, rank", args).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # a read-only store of schema 4 or older
                return []
            raise self._failure(exc) from None
        return [dict(r) for r in rows]


class _Transaction:
    """BEGIN ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def __enter__(self) -> None:
        # IMMEDIATE takes the write lock at once, so waiting for another writer happens here and not halfway
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        elif self._db.in_transaction:  # SQLite has already rolled back after some errors (a full disk)
            self._db.execute("ROLLBACK")
