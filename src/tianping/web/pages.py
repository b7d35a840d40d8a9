"""Every page of the dashboard as a template name and its context, independent of how it is served: the
FastAPI app renders them per request, ``export`` writes them to files. Unknown names give ``None`` (a 404).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

from tianping.indicators.tree import IndicatorTree, default_tree
from tianping.web import boards, charts, trends
from tianping.web.data import RunSummary, Snapshot, Stores, slug

Page = tuple[str, dict[str, Any]]
SAMPLES_SHOWN = 500
"""Samples listed on a run page (the rest are counted, and reachable from the JSON report)."""


@dataclass
class Site:
    stores: Stores
    tree: IndicatorTree | None = None
    monitor_stores: Sequence[Path] = ()
    window_days: int = 730
    compare_among: frozenset[str] | None = None
    """Where set (a static export), model pages link only to comparisons among these models."""

    def __post_init__(self) -> None:
        self.tree = self.tree or default_tree()
        if self.stores.background and self.stores.prepare is None:
            self.stores.prepare = self._prepare

    def _prepare(self, snap: Snapshot) -> None:
        """A snapshot rebuilt in the background comes with the board the overview shows, computed there."""
        assert self.tree is not None
        boards.dimension_board(snap, self.tree, "composite")

    def warm(self) -> None:
        """Build the snapshot and the boards every visitor sees first, so the first request does not wait."""
        snap = self.snap
        boards.dimension_board(snap, self.tree, "composite")

    @property
    def snap(self) -> Snapshot:
        return self.stores.snapshot()

    def _base(self, snap: Snapshot, title: str, **ctx: Any) -> dict[str, Any]:
        return {"title": title, "snap": snap, "slug": slug, "info": snap.info, **ctx}

    # overview and indexes -----------------------------------------------------------------------------------

    def overview(self) -> Page:
        snap = self.snap
        reports = boards.indicator_reports(snap, self.tree)
        top = boards.dimension_board(snap, self.tree, "composite")
        return "overview.html.j2", self._base(
            snap,
            "Overview",
            runs=snap.runs[:10],
            composite=top,
            reports=reports,
            n_scores=len(snap.latest),
            suites=boards.suites_with_results(snap),
        )

    def leaderboards(self) -> Page:
        snap = self.snap
        rows = []
        for b in snap.benchmarks:
            board = boards.benchmark_board(snap, b)
            rows.append(
                {
                    "name": b,
                    "languages": boards.languages(b),
                    "models": len(board.rows),
                    "leader": board.rows[0].model if board.rows else "",
                }
            )
        langs = sorted({lang for r in rows for lang in r["languages"]})
        return "leaderboards.html.j2", self._base(
            snap,
            "Leaderboards",
            benchmarks=rows,
            languages=langs,
            suites=boards.suites_with_results(snap),
            dimensions=[(d.id, d.name) for d in self.tree.dimensions],
        )

    def leaderboard(self, kind: str, key: str) -> Page | None:
        snap = self.snap
        board = None
        if kind == "benchmark":
            name = snap.benchmark_by_slug(key)
            board = boards.benchmark_board(snap, name) if name else None
        elif kind == "suite":
            name = next((s for s in boards.suites() if slug(s) == key), None)
            board = boards.suite_board(snap, name) if name else None
        elif kind == "dimension":
            dim = next((d for d in ["composite", *(d.id for d in self.tree.dimensions)] if slug(d) == key), None)
            board = boards.dimension_board(snap, self.tree, dim) if dim else None
        if board is None:
            return None
        count = kind == "benchmark" and any(s.unit == "count" for s in snap.by_benchmark.get(board.name, []))
        infos = [snap.info(r.model) for r in board.rows]
        return "leaderboard.html.j2", self._base(
            snap,
            f"Leaderboard: {board.name}",
            board=board,
            count=count,
            chart=charts.board_chart(board, count=count),
            groups=sorted({i.group for i in infos}),
            orgs=sorted({i.organisation for i in infos if i.organisation}),
        )

    # a model ---------------------------------------------------------------------------------------------------

    def model(self, key: str) -> Page | None:
        snap = self.snap
        model = snap.model_by_slug(key)
        if model is None:
            return None
        scores = sorted(snap.by_model.get(model, []), key=lambda s: s.benchmark)
        ranks = {}
        for s in scores:
            board = boards.benchmark_board(snap, s.benchmark)
            ranks[s.benchmark] = next(
                ((r.rank, r.rank_best, r.rank_worst, len(board.rows)) for r in board.rows if r.model == model), None
            )
        report = boards.indicator_reports(snap, self.tree).get(model)
        runs = [r for r in snap.runs if model in r.models]
        others = [m for m in snap.models if m != model]
        if self.compare_among is not None:
            others = [m for m in others if model in self.compare_among and m in self.compare_among]
        return "model.html.j2", self._base(
            snap,
            f"Model: {model}",
            model=model,
            model_info=snap.info(model),
            scores=scores,
            ranks=ranks,
            report=report,
            runs=runs,
            others=others,
            languages={s.benchmark: boards.languages(s.benchmark) for s in scores},
        )

    def compare(self, keys: Sequence[str]) -> Page | None:
        snap = self.snap
        models = [snap.model_by_slug(k) for k in keys]
        if any(m is None for m in models):
            return None
        chosen = [m for m in models if m is not None]
        diffs = boards.compare(self.stores, snap, chosen) if len(chosen) >= 2 else []
        return "compare.html.j2", self._base(
            snap,
            "Compare models",
            chosen=chosen,
            diffs=diffs,
            chart=charts.differences_chart(diffs) if diffs else None,
        )

    # a benchmark -------------------------------------------------------------------------------------------------

    def benchmark(self, key: str) -> Page | None:
        snap = self.snap
        name = snap.benchmark_by_slug(key)
        if name is None:
            return None
        board = boards.benchmark_board(snap, name)
        hard = boards.hardest_items(self.stores, snap, name)
        return "benchmark.html.j2", self._base(
            snap,
            f"Benchmark: {name}",
            benchmark=name,
            board=board,
            hard=hard,
            languages=boards.languages(name),
            chart=charts.distribution_chart(board),
            runs=[r for r in snap.runs if name in r.benchmarks][:20],
        )

    # runs and samples --------------------------------------------------------------------------------------------

    def not_found(self, path: str) -> Page:
        """The page of a 404: what was asked for, and where to go from there."""
        return "not_found.html.j2", self._base(self.snap, "Not found", path=path)

    def runs(self) -> Page:
        snap = self.snap
        return "runs.html.j2", self._base(snap, "Runs", runs=snap.runs)

    def _samples(self, snap: Snapshot, run: RunSummary) -> list[dict[str, Any]]:
        def make() -> list[dict[str, Any]]:
            from tianping.report.collect import sample_rows
            from tianping.report.html import sample_outcome

            store = self.stores.store(run.store)
            if store is None:
                return []
            out = []
            for s in sample_rows(store, run.run_id):
                key = slug(f"{s.model}\n{s.benchmark}\n{s.sample_id}")
                out.append({"key": key, "row": s, "outcome": sample_outcome(s)})
            return out

        return snap.memo(("samples", run.key), make)

    def run(self, key: str) -> Page | None:
        snap = self.snap
        run = snap.run(key)
        if run is None:
            return None
        from tianping.report.collect import breakdown_rows
        from tianping.report.heatmap import heatmap_views

        store = self.stores.store(run.store)
        scores = self.stores.run_scores(snap, run)
        samples = self._samples(snap, run)
        heatmaps = heatmap_views(breakdown_rows(store, run.run_id)) if store is not None else []
        outcomes = defaultdict(int)
        for s in samples:
            outcomes[s["outcome"]] += 1
        return "run.html.j2", self._base(
            snap,
            f"Run {run.run_id}",
            run=run,
            scores=scores,
            samples=samples[:SAMPLES_SHOWN],
            sample_total=len(samples),
            outcomes=dict(sorted(outcomes.items())),
            heatmaps=heatmaps,
            spec_json=json.dumps(run.spec, indent=2, ensure_ascii=False, default=str),
        )

    def sample(self, run_key: str, key: str) -> Page | None:
        snap = self.snap
        run = snap.run(run_key)
        if run is None:
            return None
        found = next((s for s in self._samples(snap, run) if s["key"] == key), None)
        if found is None:
            return None
        return "sample.html.j2", self._base(
            snap,
            f"Sample {found['row'].sample_id}",
            run=run,
            s=found["row"],
            outcome=found["outcome"],
            trajectory=json.dumps(found["row"].trajectory, indent=2, ensure_ascii=False, default=str)
            if found["row"].trajectory is not None
            else None,
        )

    # safety, monitor, arena --------------------------------------------------------------------------------------

    def safety(self) -> Page:
        from tianping.report.collect import breakdown_rows
        from tianping.report.heatmap import heatmap_views

        snap = self.snap
        maps = []
        seen: set[tuple[str, str]] = set()
        for run in snap.runs:  # newest first: each model's newest safety heatmap
            store = self.stores.store(run.store)
            if store is None or not any(b.startswith("safety") for b in run.benchmarks):
                continue
            for view in heatmap_views(breakdown_rows(store, run.run_id)):
                if (view["model"], view["rows_are"]) in seen:
                    continue
                seen.add((view["model"], view["rows_are"]))
                maps.append({"run": run, "view": view})
        return "safety.html.j2", self._base(snap, "Safety", maps=maps)

    def monitor(self) -> Page:
        from tianping.serving.monitor_store import MonitorStore

        snap = self.snap
        success: dict[str, list[tuple[str, float | None]]] = defaultdict(list)
        ttft: dict[str, list[tuple[str, float | None]]] = defaultdict(list)
        tps: dict[str, list[tuple[str, float | None]]] = defaultdict(list)
        table = []
        for path in self.monitor_stores:
            if not Path(path).is_file():
                continue
            with MonitorStore(path) as store:
                for day in store.day_values():
                    name = f"{day.provider} · {day.model}"
                    rate = day.successes / day.n if day.n else None
                    t = median(day.ttft_s) if day.ttft_s else None
                    v = median(day.output_tps) if day.output_tps else None
                    success[name].append((day.day, None if rate is None else round(100 * rate, 2)))
                    ttft[name].append((day.day, None if t is None else round(t, 4)))
                    tps[name].append((day.day, None if v is None else round(v, 2)))
                    table.append(
                        {
                            "provider": day.provider,
                            "model": day.model,
                            "day": day.day,
                            "n": day.n,
                            "rate": rate,
                            "ttft": t,
                            "tps": v,
                            "failures": day.failures,
                        }
                    )
        chart_list = (
            [
                ("success", charts.series_chart("success rate (%)", success)),
                ("ttft", charts.series_chart("median TTFT (s)", ttft)),
                ("tps", charts.series_chart("median output tokens/s", tps)),
            ]
            if table
            else []
        )
        return "monitor.html.j2", self._base(
            snap, "Monitor", table=table, charts=chart_list, sources=[str(p) for p in self.monitor_stores]
        )

    def arena(self, votes: Any = None) -> Page:
        snap = self.snap
        fits: dict[tuple[int, str], list[dict[str, Any]]] = {}
        for index in range(len(self.stores.locations)):
            store = self.stores.store(index)
            if store is None:
                continue
            rows = store.arena_ratings()
            latest: dict[str, str] = {}
            for r in rows:  # oldest first: the last fit per benchmark wins
                latest[r["benchmark"]] = r["rating_id"]
            for r in rows:
                if latest[r["benchmark"]] == r["rating_id"]:
                    fits.setdefault((index, r["benchmark"]), []).append(r)
        boards_ = [
            {
                "benchmark": b,
                "rows": sorted(rows, key=lambda r: r["rank"]),
                "chart": charts.arena_chart(sorted(rows, key=lambda r: r["rank"])),
                "created": rows[0]["created_at"],
            }
            for (_, b), rows in sorted(fits.items())
        ]
        vote_board = None
        vote_count = 0
        if votes is not None:
            vote_count = votes.count()
            battles = votes.battles()
            if len({m for b in battles for m in (b.model_a, b.model_b)}) >= 2:
                vote_board = _vote_ratings(battles)
        return "arena.html.j2", self._base(snap, "Arena", boards=boards_, vote_board=vote_board, vote_count=vote_count)

    # trends ------------------------------------------------------------------------------------------------------

    def trends(self) -> Page:
        snap = self.snap
        points = trends.dimension_points(snap, self.tree)
        groups = sorted({p.group for pts in points.values() for p in pts})
        quad, level_split, growth_split = trends.quadrant(snap, self.tree, window_days=self.window_days)
        registered = sum(1 for m in snap.models if m in snap.registry)
        return "trends.html.j2", self._base(
            snap,
            "Trends",
            dimensions=list(points),
            groups=groups,
            chart=charts.trend_chart(points) if points else None,
            quadrant=quad,
            quadrant_chart=charts.quadrant_chart(quad, level_split, growth_split) if quad else None,
            level_split=level_split,
            growth_split=growth_split,
            window_days=self.window_days,
            registered=registered,
        )


def _vote_ratings(battles: list[Any]) -> list[dict[str, Any]] | None:
    from tianping.arena.table import arena_table

    try:
        table = arena_table(battles, intervals="sandwich")
    except ValueError:  # too few votes to identify the ratings (one model never won or lost)
        return None
    return [
        {
            "model": r.model,
            "rating": r.rating,
            "ci_low": r.lower,
            "ci_high": r.upper,
            "rank": r.rank,
            "rank_best": r.rank_best,
            "rank_worst": r.rank_worst,
            "battles": r.battles,
        }
        for r in table.rows
    ]
