"""kill -9 in the middle of agent episodes, then resume: each unfinished episode is played again from its first
turn with a fresh environment (its earlier turns come back from the cache, so only the turns never answered are
sent), and every outcome and trajectory equals those of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agent_script import agent, assignment, items
from engine_helpers import REPO, cli
from fake_openai import running_server
from tianping.store import Store


def _progress(db: Path) -> tuple[int, int, int]:
    """(samples stored, turns cached, turns of the stored samples) as another process sees them."""
    if not db.exists():
        return 0, 0, 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            trajectories = [r[0] for r in conn.execute("SELECT trajectory_json FROM samples")]
            cached = conn.execute("SELECT count(*) FROM responses").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0, 0, 0
    return len(trajectories), cached, sum(len(json.loads(t)["steps"]) for t in trajectories if t)


def _played(store: Store, run_id: str) -> dict[str, Any]:
    """What each sample concluded and every step of its episode, without timings."""
    out = {}
    for row in store.sample_rows(run_id):
        steps = [
            (s["step"], s["text"], [(c["name"], c["arguments"], c["result"], c["ok"]) for c in s["calls"]])
            for s in row["trajectory"]["steps"]
        ]
        out[row["sample_id"]] = (row["extracted"], row["score"], row["status"], row["trajectory"]["checks"], steps)
    return out


def test_a_killed_run_resumes_each_unfinished_episode_from_its_start(tmp_path):
    answer = agent(assignment())
    killed = tmp_path / "killed"
    db = killed / "tianping.sqlite"
    args = ["--model", "openai/fake", "--suite", "agent", "--concurrency", "4"]
    with running_server(answer_fn=answer, latency_s=0.08) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tianping", "run", *args, "--base-url", server.base_url, "--run-id", "crash",
             "--results-dir", str(killed)],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ},
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            samples, cached, finished_turns = _progress(db)
            if samples >= 4 and cached > finished_turns:  # an episode has answered turns but no stored outcome
                break
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        samples, cached, finished_turns = _progress(db)
        inside = 0 < samples < len(items()) and cached > finished_turns
        assert inside, "the run should have been killed inside an episode"
        server.reset_counters()
        resumed = cli("resume", "crash", "--results-dir", str(killed))
        assert resumed.returncode == 0, resumed.stderr
        store = Store.open(killed)
        assert store.get_run("crash")["status"] == "completed"
        turns = sum(len(r["trajectory"]["steps"]) for r in store.sample_rows("crash"))
        # every turn answered before the kill came from the cache, the unfinished episodes' first turns included;
        # only turns never answered were sent (those in flight at the kill among them), each once
        assert server.requests_total == turns - cached
        assert max(server.requests_by_key.values()) == 1

    with running_server(answer_fn=answer) as server:
        clean = cli("run", *args, "--base-url", server.base_url, "--run-id", "clean", "--results-dir",
                    str(tmp_path / "clean"), "--no-cache")  # fmt: skip
        assert clean.returncode == 0, clean.stderr
    assert _played(store, "crash") == _played(Store.open(tmp_path / "clean"), "clean")
    assert len(_played(store, "crash")) == len(items())
