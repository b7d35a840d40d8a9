"""Garbage-collector time per answer during an API run, with the run's spaced collections and without them.

    python benchmarks/bench_collector.py --n 1319 --concurrency 32 --repeats 5

Runs ``tianping run --benchmark gsm8k --no-cache`` in this process (so that ``gc.callbacks`` see every
collection) against the local fake server, alternating the run as shipped (``spaced_collections``: start-up
heap frozen, young generation collected every 10,000 allocations) with CPython's defaults (the context manager
replaced by a no-op). Reports, per answer, the collections of each generation, the time they took (thread CPU
time, so a loaded machine inflates it less than wall time) and the whole run's process CPU; medians of K runs.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_api_overhead import data_dir, start_server  # noqa: E402  (a sibling script)


class CollectorClock:
    """Counts collections per generation and the thread CPU time they take, through ``gc.callbacks``."""

    def __init__(self) -> None:
        self.counts = [0, 0, 0]
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.counts[info["generation"]] += 1
            self.seconds += time.thread_time() - self._started


def one_run(base_url: str, n: int, concurrency: int, results: Path) -> tuple[CollectorClock, float]:
    from tianping.cli import app

    clock = CollectorClock()
    args = ["run", "--model", "openai/fake", "--base-url", base_url, "--benchmark", "gsm8k", "--no-cache"]
    args += ["--concurrency", str(concurrency), "--limit", str(n), "--results-dir", str(results)]
    args += ["--data-dir", str(data_dir())]
    gc.callbacks.append(clock)
    started = time.process_time()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            app(args, standalone_mode=False)
    except SystemExit as exc:
        if exc.code:
            raise
    finally:
        gc.callbacks.remove(clock)
    return clock, time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1319)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import tianping.engine.runner as runner_module

    shipped = runner_module.spaced_collections
    settings = {"spaced (shipped)": shipped, "CPython defaults": contextlib.nullcontext}
    server, base_url = start_server(args.latency)
    work = Path(tempfile.mkdtemp(prefix="tp-bench-gc-"))
    rows: dict[str, list[tuple[CollectorClock, float]]] = {name: [] for name in settings}
    try:
        one_run(base_url, 20, args.concurrency, work / "warm-up")  # imports and first-use caches out of the way
        for repeat in range(args.repeats):
            for name, manager in settings.items():
                runner_module.spaced_collections = manager
                rows[name].append(one_run(base_url, args.n, args.concurrency, work / f"{repeat}-{len(name)}"))
    finally:
        runner_module.spaced_collections = shipped
        server.kill()
        shutil.rmtree(work, ignore_errors=True)

    latency_ms = args.latency * 1000
    print(f"gsm8k, {args.n} answers, C={args.concurrency}, fake server {latency_ms:g} ms, medians of {args.repeats}")
    print("| collector | young / middle / full collections per 1,000 answers | collector µs per answer | run CPU s |")
    print("|---|---|---|---|")
    for name, runs in rows.items():
        per_k = [statistics.median(c.counts[g] for c, _ in runs) * 1000 / args.n for g in range(3)]
        micros = statistics.median(c.seconds for c, _ in runs) / args.n * 1e6
        cpu = statistics.median(cpu for _, cpu in runs)
        print(f"| {name} | {per_k[0]:.1f} / {per_k[1]:.1f} / {per_k[2]:.1f} | {micros:.1f} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
