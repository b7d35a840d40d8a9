"""Read and write runs, cached responses, samples and aggregates.

Every answer is committed as soon as it is recorded (SQLite in WAL mode), so a process killed at any
moment loses nothing it had recorded; primary keys make each sample count once per run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select, update
from sqlalchemy.engine import Connection

from tianping.core import Request, Response, Sample, Score
from tianping.store.schema import aggregates, metadata, responses, runs, samples

DB_FILENAME = "tianping.sqlite"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable against a killed process (not against power loss), and avoids an fsync per answer
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _prompt_json(request: Request) -> str:
    return json.dumps(request.payload(), ensure_ascii=False)


class Store:
    """A handle on one result database. Not shared across threads."""

    def __init__(self, url: str):
        self.url = url
        self.engine: Engine = create_engine(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)
        self._conn: Connection = self.engine.connect()
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        self._insert = insert

    @classmethod
    def open(cls, results_dir: Path | str) -> Store:
        """The SQLite store under a results directory, created when missing."""
        path = Path(results_dir)
        path.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{path / DB_FILENAME}")

    def close(self) -> None:
        self._conn.close()
        self.engine.dispose()

    # runs ---------------------------------------------------------------------------------------

    def create_run(self, run_id: str, spec: dict[str, Any], version: str) -> None:
        self._conn.execute(
            runs.insert().values(
                run_id=run_id,
                status="running",
                started_at=now_iso(),
                tianping_version=version,
                spec_json=json.dumps(spec, ensure_ascii=False, sort_keys=True),
                benchmark_versions_json="{}",
                dataset_checksums_json="{}",
            )
        )
        self._conn.commit()

    def update_run(self, run_id: str, **values: Any) -> None:
        for key in ("benchmark_versions", "dataset_checksums"):
            if key in values:
                values[f"{key}_json"] = json.dumps(values.pop(key), sort_keys=True)
        self._conn.execute(update(runs).where(runs.c.run_id == run_id).values(**values))
        self._conn.commit()

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        row = self._conn.execute(select(runs).where(runs.c.run_id == run_id)).mappings().first()
        if row is None:
            return None
        out = dict(row)
        out["spec"] = json.loads(out.pop("spec_json"))
        out["benchmark_versions"] = json.loads(out.pop("benchmark_versions_json") or "{}")
        out["dataset_checksums"] = json.loads(out.pop("dataset_checksums_json") or "{}")
        return out

    def list_runs(self) -> list[dict[str, Any]]:
        rows = self._conn.execute(select(runs.c.run_id).order_by(runs.c.started_at.desc())).scalars().all()
        return [run for run_id in rows if (run := self.get_run(run_id)) is not None]

    # answers ------------------------------------------------------------------------------------

    def answered_ids(self, run_id: str, model: str, benchmark: str) -> set[str]:
        """Samples of a run that have an answer (scored or incomplete); errored ones are retried."""
        query = select(samples.c.sample_id).where(
            samples.c.run_id == run_id,
            samples.c.model == model,
            samples.c.benchmark == benchmark,
            samples.c.status != "error",
        )
        return set(self._conn.execute(query).scalars())

    def cached_keys(self, model: str) -> set[str]:
        """Keys of every cached answer of a model: one query instead of one per sample."""
        query = select(responses.c.request_key).where(responses.c.model == model)
        return set(self._conn.execute(query).scalars())

    def cached_response(self, request_key: str) -> Response | None:
        query = select(responses.c.response_json).where(responses.c.request_key == request_key)
        text = self._conn.execute(query).scalar()
        return Response.from_json(text) if text is not None else None

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
        if response is not None and not from_cache:
            self._conn.execute(
                self._insert(responses)
                .values(
                    request_key=request.key, model=request.model, response_json=response.to_json(), created_at=stamp
                )
                .on_conflict_do_nothing()
            )
        first = response.first if response is not None else None
        values = {
            "run_id": run_id,
            "model": request.model,
            "benchmark": benchmark,
            "sample_id": sample.id,
            "request_key": request.key,
            "prompt_json": _prompt_json(request),
            "target": sample.target,
            "meta_json": json.dumps(sample.meta, ensure_ascii=False),
            "output": first.text if first else None,
            "reasoning": first.reasoning if first else None,
            "finish_reason": first.finish_reason if first else None,
            "extracted": score.extracted,
            "score": score.value,
            "status": score.status,
            "extraction_failed": score.extraction_failed,
            "reason": score.reason,
            "error": error,
            "latency_s": response.latency_s if response else None,
            "prompt_tokens": response.prompt_tokens if response else None,
            "completion_tokens": response.completion_tokens if response else None,
            "reasoning_tokens": response.reasoning_tokens if response else None,
            "attempts": response.attempts if response else None,
            "from_cache": from_cache,
            "created_at": stamp,
        }
        keys = ("run_id", "model", "benchmark", "sample_id")
        statement = self._insert(samples).values(**values)
        # only an errored row is ever replaced: the WHERE keeps an answered sample from being rewritten
        statement = statement.on_conflict_do_update(
            index_elements=[samples.c[k] for k in keys],
            set_={k: statement.excluded[k] for k in values if k not in keys},
            where=samples.c.status == "error",
        )
        self._conn.execute(statement)
        self._conn.commit()

    def sample_rows(self, run_id: str) -> Iterator[dict[str, Any]]:
        query = (
            select(samples)
            .where(samples.c.run_id == run_id)
            .order_by(samples.c.model, samples.c.benchmark, samples.c.sample_id)
        )
        for row in self._conn.execute(query).mappings():
            out = dict(row)
            out["prompt"] = json.loads(out.pop("prompt_json"))
            out["meta"] = json.loads(out.pop("meta_json"))
            yield out

    # aggregates ---------------------------------------------------------------------------------

    def write_aggregates(self, run_id: str, rows: Iterable[dict[str, Any]]) -> None:
        self._conn.execute(aggregates.delete().where(aggregates.c.run_id == run_id))
        rows = [{"run_id": run_id, **row} for row in rows]
        if rows:
            self._conn.execute(aggregates.insert(), rows)
        self._conn.commit()

    def aggregates(self, run_id: str) -> list[dict[str, Any]]:
        query = (
            select(aggregates)
            .where(aggregates.c.run_id == run_id)
            .order_by(aggregates.c.model, aggregates.c.benchmark, aggregates.c.group_kind, aggregates.c.group_name)
        )
        return [dict(r) for r in self._conn.execute(query).mappings()]
