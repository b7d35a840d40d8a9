"""The stores as the dashboard reads them: a snapshot of every run and of the newest headline scores, rebuilt
only when a store changes (its files' size and time on SQLite, a cheap fingerprint query on PostgreSQL).

Only the store's public methods are used (``list_runs``, ``latest_aggregates``, ``aggregates``,
``sample_rows``, ``arena_ratings``, ``data_version``), so the dashboard works on SQLite and PostgreSQL alike;
the newest score per model and benchmark is picked by the database, not by reading every run. A ``Store`` handle is
not shared across threads: each thread opens its own, read-only.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from tianping.core.results import MetricRow
from tianping.store import Store
from tianping.store.store import DB_FILENAME, StoreError
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
    raw_spec: dict[str, Any] = field(repr=False, compare=False)
    """As stored (the store strips credentials it knows of); pages show :attr:`spec`."""
    tasks: dict[str, Any] = field(default_factory=dict)
    partial: bool = False
    """Aggregated from the samples stored so far (a live or killed run); left out of the leaderboards."""

    @property
    def date(self) -> str:
        return (self.finished_at or self.started_at or "")[:10]

    @cached_property
    def spec(self) -> dict[str, Any]:
        """Redacted (:func:`tianping.web.redact.redact_spec`), when a page first shows it: redacting every run's
        spec up front is a third of a snapshot's rebuild over a thousand runs."""
        return redact_spec(self.raw_spec)

    @cached_property
    def metric_kinds(self) -> tuple[dict[str, Any], frozenset[tuple[str, str]]]:
        """Benchmark -> its headline metric, and the (benchmark, metric) pairs that are counts, from the tasks."""
        tasks = self.tasks
        counts = frozenset((name, m) for name, info in tasks.items() for m in (info or {}).get("count_metrics") or ())
        return {name: (info or {}).get("metric") for name, info in tasks.items()}, counts


@dataclass(slots=True)
class Score:
    """One headline score: a model on a benchmark under one metric, in one run. Not frozen: a snapshot makes
    tens of thousands of them, and a frozen dataclass's constructor is several times slower (treat as
    read-only)."""

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
    """The scores read: the newest per model x benchmark x metric, and partial runs' (a run's own scores:
    :meth:`Stores.run_scores`)."""
    latest: dict[tuple[str, str], Score]
    """(model, benchmark) -> the primary-metric score of the newest run that has one."""
    latest_all: dict[tuple[str, str, str], Score]
    """(model, benchmark, metric) -> the newest score under every metric (a run without one skipped)."""
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
    lasting: dict[Any, Any] = field(default_factory=dict)
    """Shared by every snapshot of one :class:`Stores`: results that depend only on their inputs (a model's
    indicator rollup on its rows), so that a new snapshot recomputes only what changed."""

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


Location = Path | str
"""A results folder (its ``tianping.sqlite``) or a store URL (``postgresql://…``, ``sqlite:///…``)."""


def _location(value: Path | str) -> Location:
    """A URL stays a string; anything else is a results folder."""
    if isinstance(value, str) and "://" in value:
        return value
    return Path(value)


class Stores:
    """The result stores the dashboard serves, opened read-only, one handle per thread."""

    def __init__(
        self,
        locations: Sequence[Path | str],
        registry: dict[str, ModelInfo] | None = None,
        *,
        min_age_s: float = 2.0,
        background: bool = False,
    ):
        self.locations: list[Location] = [_location(x) for x in locations]
        self.min_age_s = min_age_s
        """A store that a live run writes changes with every answer: rebuild at most this often."""
        self.background = background
        """Once a snapshot exists, rebuild a newer one in a background thread and serve the current one meanwhile
        (``tianping serve``): no request waits for a rebuild but the first. Off: the request that sees the change
        rebuilds (tests, the static export)."""
        self.prepare: Callable[[Snapshot], None] | None = None
        """Run on each new snapshot before it is served (the site computes the boards every visitor sees)."""
        self._built_at = self._checked_at = 0.0
        self.registry = dict(registry or {})
        self._local = threading.local()
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._refresher: ThreadPoolExecutor | None = None  # one thread, so its store handles are reused
        self._refreshing = False
        self._lasting: dict[Any, Any] = {}

    def store(self, index: int) -> Store | None:
        """The store at location ``index``, or None when nothing has been run there yet."""
        handles: dict[int, Store] = self._local.__dict__.setdefault("handles", {})
        if index not in handles:
            where = self.locations[index]
            if isinstance(where, Path):
                if not (where / DB_FILENAME).is_file():
                    return None
                handles[index] = Store.open(where, readonly=True)
            else:
                try:
                    handles[index] = Store(where, readonly=True)
                except StoreError as exc:
                    if "no tianping tables" in str(exc):  # an empty database: nothing has been run there
                        return None
                    raise
        return handles[index]

    def version(self) -> tuple[Any, ...]:
        """Changes whenever a store's data changes: a SQLite file's (or its write-ahead log's) size and time, a
        database's fingerprint (``Store.data_version``: a few counts and latest timestamps) otherwise."""
        parts: list[Any] = []
        for index, where in enumerate(self.locations):
            if isinstance(where, Path):
                db = where / DB_FILENAME
                parts.append((_stat(db), _stat(db.with_name(DB_FILENAME + "-wal"))))
            else:
                store = self.store(index)
                parts.append(store.data_version() if store is not None else None)
        return tuple(parts)

    def snapshot(self) -> Snapshot:
        current = self._snapshot
        now = time.monotonic()
        if current is not None and self.background and now - self._checked_at < self.min_age_s:
            return current  # a database's fingerprint is a query (ms on PostgreSQL): not on every request
        self._checked_at = now
        version = self.version()
        if current is not None and (current.version == version or time.monotonic() - self._built_at < self.min_age_s):
            return current
        if current is not None and self.background:
            self._refresh_later()
            return current
        with self._lock:
            return self._rebuild(version)

    def _rebuild(self, version: tuple[Any, ...]) -> Snapshot:
        """Under ``_lock``: the snapshot of ``version``, built unless it already is."""
        if self._snapshot is None or self._snapshot.version != version:
            snap = self._load(version)
            if self.prepare is not None:
                self.prepare(snap)
            self._snapshot = snap
            self._built_at = time.monotonic()
        return self._snapshot

    def _refresh_later(self) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True
            if self._refresher is None:
                self._refresher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboard-refresh")
        self._refresher.submit(self._refresh)

    def _refresh(self) -> None:
        try:
            with self._lock:
                self._rebuild(self.version())
        finally:
            self._refreshing = False

    def _load(self, version: tuple[Any, ...]) -> Snapshot:
        """Every run's summary, and per model x benchmark x metric the newest completed run's scores, aggregated
        by the database (one query per store, whatever the number of runs); a partial run's scores are
        aggregated from its samples."""
        runs: list[RunSummary] = []
        scores: list[Score] = []
        for index in range(len(self.locations)):
            store = self.store(index)
            if store is None:
                continue
            by_id: dict[str, RunSummary] = {}
            for raw in store.list_runs():
                partial = raw.get("stored_status") == "running"
                rows = _partial_aggregates(store, raw["run_id"]) if partial else None
                run = _summary(store, index, raw, rows)
                runs.append(run)
                by_id[run.run_id] = run
                if rows is not None:
                    scores.extend(_scores(run, rows))
            latest_rows: dict[str, list[dict[str, Any]]] = {}
            for row in store.latest_aggregates():
                latest_rows.setdefault(row["run_id"], []).append(row)
            for run_id, rows in latest_rows.items():
                if run_id in by_id:
                    scores.extend(_scores(by_id[run_id], rows))
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
            runs,
            scores,
            latest,
            latest_all,
            models,
            benchmarks,
            self.registry,
            version,
            by_model,
            by_benchmark,
            lasting=self._lasting,
        )

    def run_scores(self, snap: Snapshot, run: RunSummary) -> list[Score]:
        """Every overall score of one run (the snapshot holds only the newest per model and benchmark)."""

        def make() -> list[Score]:
            if run.partial:
                return [s for s in snap.scores if s.run.key == run.key]
            store = self.store(run.store)
            return _scores(run, store.aggregates(run.run_id)) if store is not None else []

        return snap.memo(("run_scores", run.key), make)

    def close(self) -> None:
        if self._refresher is not None:
            self._refresher.shutdown(wait=True)
        for store in self._local.__dict__.get("handles", {}).values():
            store.close()


def _summary(store: Store, index: int, raw: dict[str, Any], rows: list[dict[str, Any]] | None) -> RunSummary:
    spec = raw.get("spec") or {}
    models = tuple(dict.fromkeys([str(m.get("id")) for m in spec.get("models") or [] if isinstance(m, dict)]))
    benchmarks = tuple(spec.get("benchmarks") or ())
    if not models or not benchmarks:  # a spec that does not list them (rare): read them off the run's aggregates
        rows = rows if rows is not None else store.aggregates(raw["run_id"])
        models = models or tuple(sorted({a["model"] for a in rows}))
        benchmarks = benchmarks or tuple(sorted({a["benchmark"] for a in rows}))
    return RunSummary(
        key=slug(f"{index}/{raw['run_id']}"),
        store=index,
        run_id=raw["run_id"],
        status=raw["status"],
        started_at=raw.get("started_at") or "",
        finished_at=raw.get("finished_at"),
        models=models,
        benchmarks=benchmarks,
        raw_spec=spec,
        tasks=raw.get("tasks") or {},
        partial=raw.get("stored_status") == "running",  # still running, or killed before writing its aggregates
    )


def _scores(run: RunSummary, aggregates: list[dict[str, Any]]) -> list[Score]:
    primary, counts = run.metric_kinds
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
    return out


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
