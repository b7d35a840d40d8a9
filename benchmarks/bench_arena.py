"""Arena rating speed: one million simulated battles among 50 models, fitted, bootstrapped and style-controlled.

Battles come from known ratings (normal, mean 1000, sd 150; seed 0) with ties (``tie_rate`` 0.3, about a
fifth of battles) so the numbers include the tie handling. Each stage is timed ``--repeat`` times and the
best and median wall times are printed:

- encode: model-name and verdict columns (Python strings, as a CLI reading stored verdicts has them) to a
  :class:`~tianping.arena.BattleTable`, and the same from a list of :class:`~tianping.arena.Battle` records;
- fit: exact Bradley-Terry MLE from the table (per-pair counting plus Newton's method);
- bootstrap: ``--rounds`` resamples (100 by default, and 1000 with ``--rounds 1000``);
- sandwich: the robust covariance and intervals;
- style fit / style sandwich: the style-controlled model on the same battles with synthetic style features
  (one row per battle, so it is the slow path); ``--style-rounds`` style bootstrap rounds (default 5) give
  a per-round figure.

The script also prints how far the fitted ratings are from the truth, in units of their sandwich standard
errors, so a fast but wrong fit would show.

    python benchmarks/bench_arena.py                 # 1M battles, 50 models, 100 bootstrap rounds
    python benchmarks/bench_arena.py --rounds 1000 --json /tmp/arena_bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from tianping.arena import (  # noqa: E402
    Battle,
    BattleTable,
    bootstrap_intervals,
    fit_bradley_terry,
    fit_style_controlled,
    sandwich_intervals,
    simulate_battles,
)

VERDICTS = np.array(["a", "b", "tie", "both_bad"], dtype=object)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[Any, list[float]]:
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--battles", type=int, default=1_000_000)
    ap.add_argument("--models", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=100, help="bootstrap rounds (plain Bradley-Terry)")
    ap.add_argument("--style-rounds", type=int, default=5, help="bootstrap rounds for the style-controlled fit")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    truth = 1000.0 + rng.normal(0.0, 150.0, args.models)
    truth += 1000.0 - truth.mean()
    sim = simulate_battles(truth, args.battles, tie_rate=0.3, seed=0)
    names = np.array(sim.models, dtype=object)
    col_a = names[sim.a].tolist()
    col_b = names[sim.b].tolist()
    winner = VERDICTS[sim.outcome].tolist()

    figures: dict[str, Any] = {}

    def record(stage: str, times: list[float]) -> None:
        figures[stage] = {"best_s": min(times), "median_s": statistics.median(times), "runs": len(times)}
        print(f"{stage:<28} best {min(times):8.3f} s   median {statistics.median(times):8.3f} s   ({len(times)} runs)")

    print(
        f"{args.battles:,} battles, {args.models} models, {np.mean(sim.outcome == 2):.1%} ties; "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}"
    )
    table, t = timed(lambda: BattleTable.from_columns(col_a, col_b, winner), args.repeat)
    record("encode (string columns)", t)
    records = [Battle(x, y, w) for x, y, w in zip(col_a, col_b, winner, strict=True)]
    _, t = timed(lambda: BattleTable.from_battles(records), args.repeat)
    record("encode (Battle records)", t)
    fit, t = timed(lambda: fit_bradley_terry(table), args.repeat)
    record("fit (exact MLE)", t)
    _, t = timed(lambda: fit_bradley_terry(BattleTable.from_columns(col_a, col_b, winner)), args.repeat)
    record("encode + fit", t)
    boot, t = timed(lambda: bootstrap_intervals(fit, rounds=args.rounds, seed=0), 1)
    record(f"bootstrap ({args.rounds} rounds)", t)
    sand, t = timed(lambda: sandwich_intervals(fit), args.repeat)
    record("sandwich intervals", t)

    true_by_table = truth[[sim.models.index(m) for m in table.models]]
    z = (fit.ratings - true_by_table) / sand.se
    covered_boot = float(np.mean((boot.lower <= true_by_table) & (true_by_table <= boot.upper)))
    covered_sand = float(np.mean((sand.lower <= true_by_table) & (true_by_table <= sand.upper)))
    print(
        f"accuracy: max |rating - truth| {np.max(np.abs(fit.ratings - true_by_table)):.2f} points, "
        f"max |z| {np.max(np.abs(z)):.2f}, median sandwich se {np.median(sand.se):.2f}; "
        f"95% intervals covering the truth: bootstrap {covered_boot:.0%}, sandwich {covered_sand:.0%} of {args.models}"
    )
    figures["accuracy"] = {
        "max_abs_error_points": float(np.max(np.abs(fit.ratings - true_by_table))),
        "max_abs_z": float(np.max(np.abs(z))),
        "median_sandwich_se": float(np.median(sand.se)),
        "bootstrap_coverage": covered_boot,
        "sandwich_coverage": covered_sand,
        "newton_iterations": fit.solution.iterations,
    }

    # Style features: token counts around a per-model verbosity, markdown counts Poisson.
    verbosity = rng.normal(6.0, 0.4, args.models)
    n = len(sim)
    style_a = np.column_stack(
        [np.round(np.exp(verbosity[sim.a] + rng.normal(0, 0.4, n)))] + [rng.poisson(lam, n) for lam in (2, 4, 1)]
    )
    style_b = np.column_stack(
        [np.round(np.exp(verbosity[sim.b] + rng.normal(0, 0.4, n)))] + [rng.poisson(lam, n) for lam in (2, 4, 1)]
    )
    styled = BattleTable(sim.models, sim.a, sim.b, sim.outcome, style_a.astype(float), style_b.astype(float))
    sfit, t = timed(lambda: fit_style_controlled(styled), args.repeat)
    record("style fit (4 features)", t)
    _, t = timed(lambda: sandwich_intervals(sfit), args.repeat)
    record("style sandwich", t)
    if args.style_rounds:
        _, t = timed(lambda: bootstrap_intervals(sfit, rounds=args.style_rounds, seed=0), 1)
        record(f"style bootstrap ({args.style_rounds} rounds)", t)

    figures["setup"] = {
        "battles": args.battles,
        "models": args.models,
        "ties": float(np.mean(sim.outcome == 2)),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "machine": platform.machine(),
    }
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
