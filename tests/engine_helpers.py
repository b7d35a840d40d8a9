"""Helpers for tests that run the engine or the CLI against the fake server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tianping.engine.runner import Runner, RunResult, start_run
from tianping.spec import ModelSpec, RunSpec
from tianping.store import Store

REPO = Path(__file__).resolve().parent.parent


def make_spec(
    base_url: str,
    data_dir: Path,
    benchmarks: list[str],
    *,
    limit: int | None = 40,
    concurrency: int = 8,
    max_retries: int = 6,
    use_cache: bool = True,
    stream: bool = False,
    model: str = "openai/fake",
) -> RunSpec:
    return RunSpec(
        models=[
            ModelSpec(
                id=model,
                base_url=base_url,
                concurrency=concurrency,
                max_retries=max_retries,
                timeout_s=10,
                stream=stream,
            )
        ],
        benchmarks=benchmarks,
        limit=limit,
        data_dir=str(data_dir),
        use_cache=use_cache,
    )


def run_engine(store: Store, spec: RunSpec, run_id: str | None = None) -> RunResult:
    run_id = start_run(store, spec, run_id)
    return asyncio.run(Runner(spec, store, run_id).execute())


def outcomes(store: Store, run_id: str) -> dict[tuple[str, str, str], tuple[Any, ...]]:
    """What a run concluded per sample, without timings: the thing that must not depend on crashes."""
    return {
        (r["model"], r["benchmark"], r["sample_id"]): (r["output"], r["extracted"], r["score"], r["status"])
        for r in store.sample_rows(run_id)
    }


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}  # a test may ask for another width
    return subprocess.run(
        [sys.executable, "-m", "tianping", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=REPO,
    )
