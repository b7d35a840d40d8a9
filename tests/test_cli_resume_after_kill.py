"""kill -9 in the middle of `tianping run`, then resume: identical results, no sample lost or doubled."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

from engine_helpers import REPO, cli, outcomes
from fake_openai import oracle_answer_fn, running_server
from tianping.store import Store

N = 120


def answered(db) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("select count(*) from samples").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def test_kill_dash_nine_then_resume_equals_an_uninterrupted_run(tmp_path, data_dir):
    answer = oracle_answer_fn(accuracy=0.7)
    args = [
        "--model",
        "openai/fake",
        "--benchmark",
        "gsm8k",
        "--benchmark",
        "mmlu",
        "--limit",
        str(N // 2),
        "--concurrency",
        "4",
        "--data-dir",
        str(data_dir),
    ]
    with running_server(answer_fn=answer, latency_s=0.03) as server:
        killed_dir = tmp_path / "killed"
        db = killed_dir / "tianping.sqlite"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tianping",
                "run",
                *args,
                "--base-url",
                server.base_url,
                "--run-id",
                "crash",
                "--results-dir",
                str(killed_dir),
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ},
        )
        deadline = time.monotonic() + 60
        while answered(db) < N // 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before_kill = answered(db)
        assert 0 < before_kill < N, "the run should have been killed in the middle"
        server.reset_counters()

        resumed = cli(
            "resume", "crash", "--results-dir", str(killed_dir), "--summary-json", str(tmp_path / "resumed.json")
        )
        assert resumed.returncode == 0, resumed.stderr
        # only what had no stored answer was sent again (answers in flight at the kill are resent)
        assert server.requests_total == N - before_kill
        assert max(server.requests_by_key.values()) == 1

        clean = cli(
            "run",
            *args,
            "--base-url",
            server.base_url,
            "--run-id",
            "clean",
            "--results-dir",
            str(tmp_path / "clean"),
            "--no-cache",
        )
        assert clean.returncode == 0, clean.stderr

    killed_store, clean_store = Store.open(killed_dir), Store.open(tmp_path / "clean")
    assert len(outcomes(killed_store, "crash")) == N
    assert outcomes(killed_store, "crash") == outcomes(clean_store, "clean")
    strip = [{k: v for k, v in a.items() if k != "run_id"} for a in killed_store.aggregates("crash")]
    assert strip == [{k: v for k, v in a.items() if k != "run_id"} for a in clean_store.aggregates("clean")]
    assert killed_store.get_run("crash")["status"] == "completed"
