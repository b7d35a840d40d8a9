"""The result store under stress: a read-only mount, another writer holding the lock, a full disk. Each ends
in a clear message, and nothing already stored is lost."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest

from engine_helpers import REPO, make_spec, outcomes, run_engine
from fake_openai import oracle_answer_fn, running_server
from tianping.store import Store
from tianping.store.store import DB_FILENAME, StoreBusy, StoreError

BWRAP = shutil.which("bwrap")


def _bwrap_works() -> bool:
    if BWRAP is None:
        return False
    done = subprocess.run([BWRAP, "--dev-bind", "/", "/", "true"], capture_output=True)
    return done.returncode == 0


@pytest.fixture
def finished_run(tmp_path, data_dir):
    results = tmp_path / "results"
    store = Store.open(results)
    with running_server(answer_fn=oracle_answer_fn()) as server:
        result = run_engine(store, make_spec(server.base_url, data_dir, ["gsm8k"], limit=10), "ro")
    assert result.status == "completed"
    store.close()  # the last connection removes the WAL and its shared-memory file
    return results


@pytest.mark.skipif(not _bwrap_works(), reason="needs bubblewrap to mount the results folder read-only")
def test_reading_commands_work_on_a_read_only_mount(finished_run, tmp_path):
    assert not (finished_run / f"{DB_FILENAME}-shm").exists()
    outside = tmp_path / "out"
    outside.mkdir()
    ro = [BWRAP, "--dev-bind", "/", "/", "--ro-bind", str(finished_run), str(finished_run)]
    for command in (
        ["runs"],
        ["show", "ro"],
        ["export", "ro", "-o", str(outside / "ro.jsonl")],
        ["report", "ro", "-o", str(outside / "ro.html")],
    ):
        done = subprocess.run(
            [*ro, sys.executable, "-m", "tianping", *command, "--results-dir", str(finished_run)],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        assert done.returncode == 0, (command, done.stderr)
    assert len((outside / "ro.jsonl").read_text().splitlines()) == 10
    # writing there is a clear error, not a traceback
    done = subprocess.run(
        [*ro, sys.executable, "-m", "tianping", "report", "ro", "--results-dir", str(finished_run)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 3 and "Traceback" not in done.stderr and "cannot write" in done.stderr


def _hold_lock(db, seconds: float) -> subprocess.Popen:
    code = textwrap.dedent(f"""
        import sqlite3, sys, time
        db = sqlite3.connect({str(db)!r}, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        print("locked", flush=True)
        time.sleep({seconds})
        db.execute("COMMIT")
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_writer_waits_out_another_process_lock_and_says_who_holds_it(finished_run):
    notices: list[str] = []
    store = Store(finished_run / DB_FILENAME, busy_timeout_s=0.1, lock_wait_s=30, notice=notices.append)
    holder = _hold_lock(finished_run / DB_FILENAME, 1.5)
    try:
        store.update_run("ro", message="written after the lock was released")
    finally:
        holder.wait()
    assert store.get_run("ro")["message"] == "written after the lock was released"
    assert notices and f"pid {holder.pid}" in notices[0] and "waiting for a write lock" in notices[0]


def test_a_lock_held_past_the_wait_is_a_clear_error(finished_run):
    store = Store(finished_run / DB_FILENAME, busy_timeout_s=0.05, lock_wait_s=0.3, notice=lambda m: None)
    holder = _hold_lock(finished_run / DB_FILENAME, 3)
    try:
        with pytest.raises(StoreBusy, match="stayed locked by another process .* answers stored so far are kept"):
            store.update_run("ro", message="never written")
    finally:
        holder.kill()
        holder.wait()


def test_a_full_disk_stops_the_run_clearly_and_resume_finishes_it(tmp_path, data_dir, monkeypatch):
    # every answer in one open group, as on a fast machine: the disk fills inside it, and what fits is kept
    monkeypatch.setenv("TIANPING_COMMIT_GROUP", "1000,60")
    store = Store.open(tmp_path)
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    # SQLite's own size limit gives the same error as a full disk ("database or disk is full")
    store._db.execute(f"PRAGMA max_page_count = {pages + 12}")
    with running_server(answer_fn=oracle_answer_fn()) as server:
        spec = make_spec(server.base_url, data_dir, ["gsm8k"], limit=60)
        result = run_engine(store, spec, "full")
        assert result.status == "failed" and "disk full" in result.message and "resume" in result.message
        kept = outcomes(Store.open(tmp_path), "full")
        assert 0 < len(kept) < 60
        roomy = Store.open(tmp_path)
        again = run_engine(roomy, spec, "full")
        clean = run_engine(Store.open(tmp_path / "clean"), make_spec(server.base_url, data_dir, ["gsm8k"], limit=60,
                                                                     use_cache=False), "clean")  # fmt: skip
    assert again.status == "completed"
    assert outcomes(roomy, "full") == outcomes(Store.open(tmp_path / "clean"), "clean")
    assert clean.status == "completed"
    with roomy._db as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_missing_store_is_not_created_by_reading_commands(tmp_path):
    with pytest.raises(StoreError, match="no result database here"):
        Store.open(tmp_path / "nothing", readonly=True)
    assert not (tmp_path / "nothing").exists()
