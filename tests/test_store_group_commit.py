"""Grouped commits of answers: a group ends at its row count, at its age, or before any other write; another
connection sees a group only once it is committed; a failed write rolls back only the open group, never a
committed answer; closing the store commits what is open."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from test_store_backends import _record
from tianping.store import Store


def _open(location: str) -> Store:
    if location.startswith("postgresql"):
        return Store.open("unused", store=location)
    return Store.open(Path(location).parent)


def _seen_by_another(location: str, run_id: str) -> int:
    other = _open(location)
    try:
        return sum(1 for _ in other.sample_rows(run_id))
    finally:
        other.close()


def test_a_group_is_committed_at_its_row_count_and_not_before(location: str) -> None:
    store = _open(location)
    store.create_run("g", {"models": []}, "test")
    store.group_commits(rows=5, seconds=3600)
    for i in range(4):
        _record(store, "g", f"s{i}", "42")
    assert _seen_by_another(location, "g") == 0  # four answers wait in the open group
    assert len(list(store.sample_rows("g"))) == 4  # the writer reads its own group
    _record(store, "g", "s4", "42")
    assert _seen_by_another(location, "g") == 5
    store.close()


def test_a_group_is_committed_when_its_oldest_answer_has_waited(location: str) -> None:
    store = _open(location)
    store.create_run("g", {"models": []}, "test")
    store.group_commits(rows=1000, seconds=0.05)
    _record(store, "g", "s0", "42")
    store.flush_due()
    assert _seen_by_another(location, "g") == 0  # not due yet
    time.sleep(0.06)
    store.flush_due()
    assert _seen_by_another(location, "g") == 1
    store.close()


def test_any_other_write_commits_the_open_group_first(location: str) -> None:
    store = _open(location)
    store.create_run("g", {"models": []}, "test")
    store.group_commits(rows=1000, seconds=3600)
    _record(store, "g", "s0", "42")
    _record(store, "g", "s1", "7")
    store.update_run("g", status="completed")
    assert _seen_by_another(location, "g") == 2
    _record(store, "g", "s2", "42")
    store.close()  # closing commits what is open
    assert _seen_by_another(location, "g") == 3


def test_a_failed_write_loses_only_the_open_group(location: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _open(location)
    store.create_run("g", {"models": []}, "test")
    store.group_commits(rows=3, seconds=3600)
    for i in range(3):
        _record(store, "g", f"kept{i}", "42")  # a full group: committed
    _record(store, "g", "lost", "42")
    broken = dict(store._sql)
    broken["upsert_sample"] = "INSERT INTO no_such_table VALUES (1)"
    monkeypatch.setattr(store, "_sql", broken)
    with pytest.raises(Exception, match="no_such_table"):
        _record(store, "g", "boom", "42")
    monkeypatch.undo()
    _record(store, "g", "after", "42")
    store.flush()
    ids = sorted(r["sample_id"] for r in store.sample_rows("g"))
    assert ids == ["after", "kept0", "kept1", "kept2"]  # the open group's answer is to be asked again
    assert _seen_by_another(location, "g") == 4
    store.close()


def test_the_group_size_comes_from_the_environment_and_a_bad_one_is_refused_before_a_run(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine_helpers import cli
    from tianping.core.errors import TaskConfigError
    from tianping.engine.runner import GROUP_ROWS, GROUP_SECONDS, commit_group

    monkeypatch.delenv("TIANPING_COMMIT_GROUP", raising=False)
    assert commit_group() == (GROUP_ROWS, GROUP_SECONDS)
    monkeypatch.setenv("TIANPING_COMMIT_GROUP", "50,0.5")
    assert commit_group() == (50, 0.5)
    for bad in ("fifty", "0,1", "10,0", "10", "10,99"):
        monkeypatch.setenv("TIANPING_COMMIT_GROUP", bad)
        with pytest.raises(TaskConfigError, match="TIANPING_COMMIT_GROUP"):
            commit_group()
    results = tmp_path / "results"
    args = ["run", "--model", "openai/m", "--base-url", "http://127.0.0.1:9/v1", "--benchmark", "gsm8k"]
    done = cli(*args, "--limit", "2", "--data-dir", str(data_dir), "--results-dir", str(results),
               env={"TIANPING_COMMIT_GROUP": "fifty", "OPENAI_API_KEY": "x"})  # fmt: skip
    assert done.returncode == 2 and "TIANPING_COMMIT_GROUP='fifty'" in done.stderr, done.stderr
    assert not (results / "tianping.sqlite").exists()  # refused before a run was registered


class _ConflictOnce:
    """The driver connection, except that the ``nth`` answer written raises the backend's lock-conflict error
    (SQLite's "database is locked", PostgreSQL's deadlock) once, as a concurrent writer would make it."""

    def __init__(self, db: object, upsert: str, nth: int, location: str) -> None:
        self._db, self._upsert, self._left = db, upsert, nth
        if location.startswith("postgresql"):
            from psycopg import errors

            self._error: BaseException = errors.DeadlockDetected("deadlock detected")
        else:
            import sqlite3

            self._error = sqlite3.OperationalError("database is locked")

    def execute(self, sql: str, *args: object) -> object:
        if sql == self._upsert:
            self._left -= 1
            if self._left == 0:
                raise self._error
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._db, name)


def test_a_group_rolled_back_by_a_lock_conflict_is_written_again_in_full(
    location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _open(location)
    store.create_run("g", {"models": []}, "test")
    store.lock_wait_s = 5.0
    monkeypatch.setattr(store, "notice", lambda message: None)
    monkeypatch.setattr("tianping.store.writes.time.sleep", lambda s: None)  # the wait is not what this proves
    store.group_commits(rows=1000, seconds=3600)
    monkeypatch.setattr(store, "_db", _ConflictOnce(store._db, store._sql["upsert_sample"], 3, location))
    for i in range(5):
        _record(store, "g", f"s{i}", "42")  # the third one meets the conflict, rolling back the first two
    store.flush()
    assert _seen_by_another(location, "g") == 5  # none of the rolled-back answers is lost
    store.close()


def test_a_full_disk_keeps_every_answer_of_the_open_group_that_fits(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    store.create_run("g", {"models": []}, "test")
    store.group_commits(rows=1000, seconds=3600)  # one group holds everything: the case that lost them all
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages + 6}")  # SQLite's size limit reads as a full disk
    recorded = 0
    with pytest.raises(Exception, match="disk full"):
        for i in range(400):
            _record(store, "g", f"s{i}", "42" * 200)
            recorded += 1
    kept = _seen_by_another(str(tmp_path / "tianping.sqlite"), "g")
    assert 0 < kept <= recorded  # the answers that fit are committed one by one; a resume asks the rest
    assert store._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.close()
