"""Read and write runs, cached responses, samples and aggregates in one SQLite file.

Every answer is committed as soon as it is recorded (WAL mode), so a process killed at any moment
loses nothing it had recorded; the samples table's primary key makes each sample count once per run.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tianping.core import Request, Response, Sample, Score
from tianping.store.schema import DDL, INSERT_AGGREGATE, MIGRATIONS, SCHEMA_VERSION, UPSERT_SAMPLE

DB_FILENAME = "tianping.sqlite"
_DIGITS = re.compile(r"(\d+)")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in _DIGITS.split(text) if part)


class StoreError(RuntimeError):
    pass


class Store:
    """A handle on one result database. Not shared across threads."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        try:
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the result database: {exc}") from None
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable against a killed process (not against power loss) and spares an fsync per answer
        self._db.execute("PRAGMA synchronous=NORMAL")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: written by a newer tianping (schema {version} > {SCHEMA_VERSION})")
        has_tables = self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'samples'").fetchone()
        if has_tables and version < SCHEMA_VERSION:
            for step in range(max(version, 1) + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[step]:
                    self._db.execute(statement)
        self._db.executescript(DDL)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @classmethod
    def open(cls, results_dir: Path | str) -> Store:
        """The store under a results directory, created when missing."""
        path = Path(results_dir)
        path.mkdir(parents=True, exist_ok=True)
        return cls(path / DB_FILENAME)

    def close(self) -> None:
        self._db.close()

    # runs ---------------------------------------------------------------------------------------

    def create_run(self, run_id: str, spec: dict[str, Any], version: str) -> None:
        self._db.execute(
            "INSERT INTO runs (run_id, status, started_at, tianping_version, spec_json) VALUES (?, ?, ?, ?, ?)",
            (run_id, "running", now_iso(), version, json.dumps(spec, ensure_ascii=False, sort_keys=True)),
        )

    def update_run(self, run_id: str, **values: Any) -> None:
        for key in ("benchmark_versions", "dataset_checksums"):
            if key in values:
                values[f"{key}_json"] = json.dumps(values.pop(key), sort_keys=True)
        allowed = {"status", "finished_at", "wall_s", "message", "benchmark_versions_json", "dataset_checksums_json"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"cannot update run fields {sorted(unknown)}")
        assignments = ", ".join(f"{k} = :{k}" for k in values)
        self._db.execute(f"UPDATE runs SET {assignments} WHERE run_id = :run_id", {**values, "run_id": run_id})

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        out = dict(row)
        out["spec"] = json.loads(out.pop("spec_json"))
        out["benchmark_versions"] = json.loads(out.pop("benchmark_versions_json") or "{}")
        out["dataset_checksums"] = json.loads(out.pop("dataset_checksums_json") or "{}")
        return out

    def list_runs(self) -> list[dict[str, Any]]:
        ids = [r[0] for r in self._db.execute("SELECT run_id FROM runs ORDER BY started_at DESC")]
        return [run for run_id in ids if (run := self.get_run(run_id)) is not None]

    # answers ------------------------------------------------------------------------------------

    def answered_ids(self, run_id: str, model: str, benchmark: str) -> set[str]:
        """Samples of a run that have an answer (scored or incomplete); errored ones are retried."""
        rows = self._db.execute(
            "SELECT sample_id FROM samples WHERE run_id = ? AND model = ? AND benchmark = ? AND status != 'error'",
            (run_id, model, benchmark),
        )
        return {r[0] for r in rows}

    def cached_keys(self, model: str) -> set[str]:
        """Keys of every cached answer of a model: one query instead of one per sample."""
        return {r[0] for r in self._db.execute("SELECT request_key FROM responses WHERE model = ?", (model,))}

    def cached_response(self, request_key: str) -> Response | None:
        row = self._db.execute("SELECT response_json FROM responses WHERE request_key = ?", (request_key,)).fetchone()
        return Response.from_json(row[0]) if row is not None else None

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
    ) -> None:
        """Store one sample's outcome (and its response in the cache) in one committed transaction."""
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
        }
        with self._transaction():
            if response is not None and not from_cache:
                self._db.execute(
                    "INSERT INTO responses (request_key, model, response_json, created_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (request_key) DO NOTHING",
                    (request.key, request.model, response.to_json(), stamp),
                )
            self._db.execute(UPSERT_SAMPLE, values)

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
            out["extraction_failed"] = bool(out["extraction_failed"])
            out["from_cache"] = bool(out["from_cache"])
            yield out

    # aggregates ---------------------------------------------------------------------------------

    def write_aggregates(self, run_id: str, rows: Iterable[dict[str, Any]]) -> None:
        with self._transaction():
            self._db.execute("DELETE FROM aggregates WHERE run_id = ?", (run_id,))
            # counts a caller has no notion of (an older aggregate row) are stored as zero
            defaults = {"unscorable": 0, "skipped": 0}
            self._db.executemany(INSERT_AGGREGATE, [{**defaults, "run_id": run_id, **row} for row in rows])

    def aggregates(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT * FROM aggregates WHERE run_id = ? ORDER BY model, benchmark, group_kind, group_name", (run_id,)
        )
        return [dict(r) for r in rows]


class _Transaction:
    """BEGIN ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
