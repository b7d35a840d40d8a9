"""The stores as the dashboard reads them: a snapshot of every run's headline scores, rebuilt only when a
store's files change.

Only the store's public methods are used (``list_runs``, ``get_run``, ``aggregates``, ``sample_rows``,
``arena_ratings``), so the dashboard keeps working whatever database sits behind them. A ``Store`` handle is
not shared across threads: each thread opens its own, read-only.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tianping.core.results import MetricRow
from tianping.store import Store
from tianping.store.store import DB_FILENAME
from tianping.web.redact import redact_spec
from tianping.web.registry import ModelInfo, unknown

T = TypeVar("T")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def slug(name: str) -> str:
    """A URL path segment and file name for any name: safe characters kept for reading, a hash for uniqueness
    (so ``..``, slashes and quotes in a model name can never become part of a path)."""
    readable = _UNSAFE.sub("-", name).strip("-")[:40]
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{readable}-{digest}" if readable else digest


@dataclass(frozen=True)
class RunSummary:
    key: str
    """Unique over the stores: the slug of ``<store index>/<run id>``."""
    store: int
    run_id: str
    status: str
    started_at: str
    finished_at: str | None
    models: tuple[str, ...]
    benchmarks: tuple[str, ...]
    spec: dict[str, Any]
    """Redacted (:func:`tianping.web.redact.redact_spec`)."""
    tasks: dict[str, Any]
    partial: bool = False
    """Aggregated from the samples stored so far (a live or killed run); left out of the leaderboards."""

    @property
    def date(self) -> str:
        return (self.finished_at or self.started_at or "")[:10]


@dataclass(frozen=True)
class Score:
    """One headline score: a model on a benchmark under one metric, in one run."""

    run: RunSummary
    model: str
    benchmark: str
    metric: str
    score: float | None
    n: int
    ci_low: float | None
    ci_high: float | None
    unit: str
    primary: bool
    extraction_failures: int = 0
    incomplete: int = 0
    errors: int = 0
    unscorable: int = 0
    skipped: int = 0

    def as_metric_row(self) -> MetricRow:
        return MetricRow(
            model=self.model,
            benchmark=self.benchmark,
            metric=self.metric,
            score=self.score,
            n=self.n,
            ci_low=self.ci_low,
            ci_high=self.ci_high,
            extraction_failures=self.extraction_failures,
            incomplete=self.incomplete,
            errors=self.errors,
            unscorable=self.unscorable,
            skipped=self.skipped,
            unit=self.unit,
        )


@dataclass
class Snapshot:
    runs: list[RunSummary]
    """Newest first."""
    scores: list[Score]
    latest: dict[tuple[str, str], Score]
    """(model, benchmark) -> the primary-metric score of the newest run that has one."""
    latest_all: dict[tuple[str, str, str], Score]
    """(model, benchmark, metric) -> the newest score under every metric."""
    models: list[str]
    benchmarks: list[str]
    registry: dict[str, ModelInfo]
    version: tuple[Any, ...]
    by_model: dict[str, list[Score]] = field(default_factory=dict)
    """Model -> its entries of ``latest`` (indexes: a board over hundreds of models must not rescan ``latest``)."""
    by_benchmark: dict[str, list[Score]] = field(default_factory=dict)
    """Benchmark -> its entries of ``latest``."""
    cache: dict[Any, Any] = field(default_factory=dict)
    """Views computed from this snapshot (thrown away with it)."""

    def run(self, key: str) -> RunSummary | None:
        return next((r for r in self.runs if r.key == key), None)

    def info(self, model: str) -> ModelInfo:
        return self.registry.get(model) or unknown(model)

    def model_by_slug(self, key: str) -> str | None:
        return next((m for m in self.models if slug(m) == key), None)

    def benchmark_by_slug(self, key: str) -> str | None:
        return next((b for b in self.benchmarks if slug(b) == key), None)

    def memo(self, key: Any, make: Callable[[], T]) -> T:
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, 0)
    # an empty write-ahead log is the same as none: a reader opening the store creates one
    return (st.st_mtime_ns, st.st_size) if st.st_size else (0, 0)


class Stores:
    """The result stores the dashboard serves, opened read-only, one handle per thread."""

    def __init__(
        self, results_dirs: Sequence[Path], registry: dict[str, ModelInfo] | None = None, *, min_age_s: float = 2.0
    ):
        self.dirs = [Path(d) for d in results_dirs]
        self.min_age_s = min_age_s
        """A store that a live run writes changes with every answer: rebuild at most this often."""
        self._built_at = 0.0
        self.registry = dict(registry or {})
        self._local = threading.local()
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    def store(self, index: int) -> Store | None:
        """The store of results dir ``index``, or None when nothing has been run there yet."""
        handles: dict[int, Store] = self._local.__dict__.setdefault("handles", {})
        if index not in handles:
            path = self.dirs[index] / DB_FILENAME
            if not path.is_file():
                return None
            handles[index] = Store.open(self.dirs[index], readonly=True)
        return handles[index]

    def version(self) -> tuple[Any, ...]:
        """Changes whenever a store's database (or its write-ahead log) changes."""
        parts: list[Any] = []
        for d in self.dirs:
            db = d / DB_FILENAME
            parts.append((_stat(db), _stat(db.with_name(DB_FILENAME + "-wal"))))
        return tuple(parts)

    def snapshot(self) -> Snapshot:
        version = self.version()
        current = self._snapshot
        if current is not None and (current.version == version or time.monotonic() - self._built_at < self.min_age_s):
            return current
        with self._lock:
            if self._snapshot is None or self._snapshot.version != version:
                self._snapshot = self._load(version)
                self._built_at = time.monotonic()
            return self._snapshot

    def _load(self, version: tuple[Any, ...]) -> Snapshot:
        runs: list[RunSummary] = []
        scores: list[Score] = []
        for index in range(len(self.dirs)):
            store = self.store(index)
            if store is None:
                continue
            for raw in store.list_runs():
                run, run_scores = _read_run(store, index, raw)
                runs.append(run)
                scores.extend(run_scores)
        runs.sort(key=lambda r: (r.started_at or "", r.key), reverse=True)
        latest: dict[tuple[str, str], Score] = {}
        latest_all: dict[tuple[str, str, str], Score] = {}
        newest_first = sorted(scores, key=lambda s: (s.run.started_at or "", s.run.key), reverse=True)
        for s in newest_first:
            if s.run.partial:
                continue
            latest_all.setdefault((s.model, s.benchmark, s.metric), s)
            if s.primary and s.score is not None:
                latest.setdefault((s.model, s.benchmark), s)
        models = sorted({s.model for s in scores} | {m for r in runs for m in r.models})
        benchmarks = sorted({s.benchmark for s in scores})
        by_model: dict[str, list[Score]] = {}
        by_benchmark: dict[str, list[Score]] = {}
        for (model, benchmark), s in latest.items():
            by_model.setdefault(model, []).append(s)
            by_benchmark.setdefault(benchmark, []).append(s)
        return Snapshot(
            runs, scores, latest, latest_all, models, benchmarks, self.registry, version, by_model, by_benchmark
        )

    def close(self) -> None:
        for store in self._local.__dict__.get("handles", {}).values():
            store.close()


def _read_run(store: Store, index: int, raw: dict[str, Any]) -> tuple[RunSummary, list[Score]]:
    spec = raw.get("spec") or {}
    tasks = raw.get("tasks") or {}
    partial = raw.get("stored_status") == "running"  # still running, or killed before writing its aggregates
    aggregates = _partial_aggregates(store, raw["run_id"]) if partial else store.aggregates(raw["run_id"])
    models = tuple(dict.fromkeys([str(m.get("id")) for m in spec.get("models") or [] if isinstance(m, dict)]))
    run = RunSummary(
        key=slug(f"{index}/{raw['run_id']}"),
        store=index,
        run_id=raw["run_id"],
        status=raw["status"],
        started_at=raw.get("started_at") or "",
        finished_at=raw.get("finished_at"),
        models=models or tuple(sorted({a["model"] for a in aggregates})),
        benchmarks=tuple(spec.get("benchmarks") or sorted({a["benchmark"] for a in aggregates})),
        spec=redact_spec(spec),
        tasks=tasks,
        partial=partial,
    )
    counts = {(name, m) for name, info in tasks.items() for m in (info or {}).get("count_metrics") or ()}
    primary = {name: (info or {}).get("metric") for name, info in tasks.items()}
    out = []
    for a in aggregates:
        if a["group_kind"] != "all":
            continue
        main = primary.get(a["benchmark"])
        out.append(
            Score(
                run=run,
                model=a["model"],
                benchmark=a["benchmark"],
                metric=a["metric"],
                score=a["score"],
                n=a["n"] or 0,
                ci_low=a["ci_low"],
                ci_high=a["ci_high"],
                unit="count" if (a["benchmark"], a["metric"]) in counts else "rate",
                primary=main == a["metric"] if main else a["metric"] in ("accuracy", "acc"),
                extraction_failures=a.get("extraction_failures") or 0,
                incomplete=a.get("incomplete") or 0,
                errors=a.get("errors") or 0,
                unscorable=a.get("unscorable") or 0,
                skipped=a.get("skipped") or 0,
            )
        )
    return run, out


def _partial_aggregates(store: Store, run_id: str) -> list[dict[str, Any]]:
    """A partial run's overall scores, aggregated now from its stored samples (as ``tianping show`` does)."""
    from tianping.report.collect import metric_rows

    return [
        {
            "group_kind": "all",
            **{
                k: getattr(r, k)
                for k in (
                    "model",
                    "benchmark",
                    "metric",
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
            },
        }
        for r in metric_rows(store, run_id)
    ]
