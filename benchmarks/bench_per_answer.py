"""What tianping spends per answer outside the HTTP exchange, in process: building the request, scoring the reply,
storing the answer, and reading the run back for its aggregates (issue 23, item 2).

    python benchmarks/bench_per_answer.py --benchmark mmlu --n 2000

Each step is timed over the first N samples of the benchmark (``TIANPING_DATA_DIR`` or ``--data-dir``) with one
fixed reply, in a temporary store with grouped commits as a run has them; the figures are microseconds per
answer, medians of ``--repeats``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from tianping.core.task import TaskSettings
from tianping.core.types import Completion, GenerationParams, Response
from tianping.engine.tasks import load_tasks
from tianping.spec import default_data_dir
from tianping.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", default="mmlu")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reply", default="The answer is (B).")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    data_dir = args.data_dir or default_data_dir()
    task = load_tasks([args.benchmark], lambda name: TaskSettings(data_dir=data_dir, limit=args.n))[0]
    samples = list(task.samples[: args.n])
    params = GenerationParams(max_tokens=16)
    reply = Response(
        completions=(Completion(text=args.reply, finish_reason="stop", raw={"index": 0, "finish_reason": "stop"}),),
        latency_s=0.3,
        prompt_tokens=100,
        completion_tokens=5,
    )
    timings: dict[str, list[float]] = {"build request": [], "score": [], "store": [], "read for aggregates": []}
    for _ in range(args.repeats):
        started = time.perf_counter()
        requests = [task.build_request(s, "openai/fake", params) for s in samples]
        timings["build request"].append(time.perf_counter() - started)

        async def score_all() -> list:
            return [await task.ascore(s, reply, None) for s in samples]

        started = time.perf_counter()
        scores = asyncio.run(score_all())
        timings["score"].append(time.perf_counter() - started)
        with tempfile.TemporaryDirectory() as folder:
            store = Store.open(folder)
            store.create_run("r", {"models": []}, "bench")
            store.group_commits(500, 1.0)
            started = time.perf_counter()
            for sample, request, score in zip(samples, requests, scores, strict=True):
                store.record(run_id="r", benchmark=task.name, sample=sample, request=request, response=reply,
                             score=score, endpoint="http://127.0.0.1/v1")  # fmt: skip
            store.flush()
            timings["store"].append(time.perf_counter() - started)
            started = time.perf_counter()
            rows = list(store.score_rows("r"))
            timings["read for aggregates"].append(time.perf_counter() - started)
            assert len(rows) == len(samples)
            store.close()
    print(f"{task.name}, {len(samples)} samples, reply {args.reply!r}, medians of {args.repeats}:")
    for step, values in timings.items():
        print(f"  {step:20s} {statistics.median(values) / len(samples) * 1e6:7.1f} µs per answer")


if __name__ == "__main__":
    main()
