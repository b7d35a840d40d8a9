"""Server time of the dashboard's leaderboard over a large store: 1,000 runs x 50 benchmarks (issue 21 asks
for under 300 ms).

    python benchmarks/bench_dashboard.py [--runs 1000] [--benchmarks 50] [--models 100] [--repeat 20]

The store is written through the store's public methods (``create_run``, ``write_aggregates``,
``update_run``) into a temporary folder; the pages are served by the real app in-process (FastAPI's test
client), so the time is the server's: routing, reading the cached snapshot, ranking and rendering. Printed:
the first request after the store changes (it rebuilds the snapshot: every run's aggregates read once), and
the median and worst of the later ones (served from the snapshot, cached per store version).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from tianping.store import Store
from tianping.web.app import create_app
from tianping.web.data import Stores, slug
from tianping.web.pages import Site
from tianping.web.render import Links, render


def build(folder: Path, runs: int, benchmarks: int, models: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    names = [f"bench_{i:02d}" for i in range(benchmarks)]
    store = Store.open(folder)
    try:
        for r in range(runs):
            run_id = f"run-{r:05d}"
            model = f"org{r % 7}/model-{r % models:03d}"
            store.create_run(run_id, {"models": [{"id": model}], "benchmarks": names}, "bench")
            rows = []
            for b in names:
                n = 500
                p = min(0.98, max(0.02, rng.gauss(0.6, 0.15)))
                half = 1.96 * (p * (1 - p) / n) ** 0.5
                rows.append(
                    {
                        "model": model,
                        "benchmark": b,
                        "group_kind": "all",
                        "group_name": "",
                        "metric": "accuracy",
                        "score": p,
                        "n": n,
                        "ci_low": p - half,
                        "ci_high": p + half,
                        "extraction_failures": 0,
                        "incomplete": 0,
                        "unscorable": 0,
                        "skipped": 0,
                        "errors": 0,
                    }
                )
            store.write_aggregates(run_id, rows)
            store.update_run(
                run_id,
                status="completed",
                finished_at=f"2026-01-{1 + r % 28:02d}T00:00:00+00:00",
                tasks={b: {"metric": "accuracy"} for b in names},
            )
    finally:
        store.close()
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--benchmarks", type=int, default=50)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        names = build(folder, args.runs, args.benchmarks, args.models)
        print(f"store: {args.runs} runs x {args.benchmarks} benchmarks written in {time.perf_counter() - t0:.1f} s")
        site = Site(Stores([folder]))
        client = TestClient(create_app(site))
        paths = {
            "benchmark leaderboard": f"/leaderboard/benchmark/{slug(names[0])}",
            "composite leaderboard": f"/leaderboard/dimension/{slug('composite')}",
            "overview": "/",
        }
        t0 = time.perf_counter()
        assert client.get(paths["benchmark leaderboard"]).status_code == 200
        print(f"first request (snapshot rebuilt from the store): {1000 * (time.perf_counter() - t0):.0f} ms")
        for label, path in paths.items():
            times = []
            for i in range(args.repeat):
                if label == "benchmark leaderboard":  # a different board each time: not one cached view
                    path = f"/leaderboard/benchmark/{slug(names[i % len(names)])}"
                t0 = time.perf_counter()
                r = client.get(path)
                times.append(1000 * (time.perf_counter() - t0))
                assert r.status_code == 200, (path, r.status_code)
            print(
                f"{label}: median {statistics.median(times):.1f} ms, worst {max(times):.1f} ms "
                f"(over {args.repeat} requests)"
            )
        # the rendering alone, for one board, without HTTP
        template, ctx = site.leaderboard("benchmark", slug(names[1]))
        t0 = time.perf_counter()
        render(template, ctx, Links(current="/"))
        print(f"template rendering of one board alone: {1000 * (time.perf_counter() - t0):.1f} ms")


if __name__ == "__main__":
    main()
