"""``kill -9`` and SIGTERM at random moments of a 2,000-sample run, ten times, then resume: the database stays
intact every time, no run is left reading as running, and the final results equal an uninterrupted run's. Answers
are committed in groups (here of 100 or 0.2 s, ``TIANPING_COMMIT_GROUP``), so the stored count moves in steps and
a kill mostly lands on an open group: what it loses is asked again."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

from engine_helpers import REPO, cli, outcomes
from fake_openai import oracle_answer_fn, running_server
from tianping.store import Store

PER_BENCHMARK = 1000
TOTAL = 2 * PER_BENCHMARK
KILLS = 10
GROUP_ROWS = 100


def count(db) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("select count(*) from samples where status != 'error'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def integrity(db) -> str:
    with sqlite3.connect(db, timeout=5) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def test_random_kills_and_terms_then_resume_equal_an_uninterrupted_run(tmp_path, data_dir):
    rng = random.Random(20261206)
    common = ["--model", "openai/fake", "--benchmark", "gsm8k", "--benchmark", "mmlu", "--limit", str(PER_BENCHMARK),
              "--concurrency", "16", "--data-dir", str(data_dir)]  # fmt: skip
    killed = tmp_path / "killed"
    db = killed / "tianping.sqlite"
    with running_server(answer_fn=oracle_answer_fn(accuracy=0.6), latency_s=0.004) as server:
        run_args = [*common, "--base-url", server.base_url]
        kinds = []
        for i in range(KILLS):
            command = ["run", *run_args, "--run-id", "k"] if i == 0 else ["resume", "k"]
            proc = subprocess.Popen(
                [sys.executable, "-m", "tianping", *command, "--results-dir", str(killed)],
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "TIANPING_COMMIT_GROUP": f"{GROUP_ROWS},0.2"},
            )
            before = count(db)
            room = TOTAL - 3 * GROUP_ROWS  # a kill must leave the run unfinished, though a group lands at once
            assert before < room, f"kill {i}: {before} of {TOTAL} stored already"
            target = min(room, before + rng.randint(1, max(1, (room - before) // 4)))
            deadline = time.monotonic() + 60
            while count(db) < target and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            sig = rng.choice([signal.SIGKILL, signal.SIGTERM])
            kinds.append(sig.name)
            if proc.poll() is None:
                os.kill(proc.pid, sig)
            _, err = proc.communicate(timeout=60)
            if sig == signal.SIGTERM and proc.returncode != 0:
                assert proc.returncode == 130, err[-2000:]
                assert "Traceback" not in err
            assert integrity(db) == "ok"
            run = Store.open(killed, readonly=True).get_run("k")
            assert run["status"] != "running", (i, sig.name, run["stored_status"])
        assert {"SIGKILL", "SIGTERM"} <= set(kinds)
        assert 0 < count(db) < TOTAL, "the kills should leave the run unfinished"

        finished = cli("resume", "k", "--results-dir", str(killed), timeout=300)
        assert finished.returncode == 0, finished.stderr[-2000:]
        clean = cli("run", *run_args, "--run-id", "clean", "--results-dir", str(tmp_path / "clean"), "--no-cache",
                    timeout=300)  # fmt: skip
        assert clean.returncode == 0, clean.stderr[-2000:]

    killed_store, clean_store = Store.open(killed), Store.open(tmp_path / "clean")
    assert integrity(db) == "ok"
    assert len(outcomes(killed_store, "k")) == TOTAL
    assert outcomes(killed_store, "k") == outcomes(clean_store, "clean")
    strip = [{k: v for k, v in a.items() if k != "run_id"} for a in killed_store.aggregates("k")]
    assert strip == [{k: v for k, v in a.items() if k != "run_id"} for a in clean_store.aggregates("clean")]
    assert killed_store.get_run("k")["status"] == "completed"
