"""How the store writes: waiting out another process's lock, turning a full disk into a clear error, and
committing recorded answers in groups.

Answers are committed in groups (``group_commits``): one commit per answer wrote ~33 KB of pages and WAL per
sample. A ``kill -9`` loses at most the open group, which a resume asks again; a group rolled back by a lock
conflict is written again in full, and one rolled back by a full disk keeps every answer that still fits.
Any other write (a run's status, the lease, an episode's turn) commits the open group first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tianping.store.errors import StoreBusy, StoreError, StoreFull
from tianping.store.lease import processes_holding

T = TypeVar("T")


class GroupedWrites:
    """The writing half of ``Store`` (a mixin: the store's connection, dialect and settings are its own)."""

    _db: Any
    _dialect: Any
    path: Path | str
    lock_wait_s: float
    notice: Callable[[str], None]
    _scrub: Callable[[str], str]

    def _init_groups(self) -> None:
        self._group_limits: tuple[int, float] | None = None  # group_commits(): answers, seconds
        self._group_opened: float | None = None  # when the open group's transaction began (monotonic)
        self._group_pending: list[Callable[[], None]] = []  # the open group's answers, until it commits
        self._group_replay: list[Callable[[], None]] = []  # a rolled-back group's answers, written again next

    def _write(self, op: Callable[[], T]) -> T:
        """Run a write, waiting out another process's lock (with a word on who holds it), and turn a full disk
        into a StoreFull that says what to do."""
        waited = 0.0
        delay = 0.5
        while True:
            try:
                return op()
            except self._dialect.error as exc:
                if self._dialect.classify(exc) != "busy":
                    raise self._failure(exc) from None
                if waited >= self.lock_wait_s:
                    raise StoreBusy(
                        f"{self.path}: the database stayed locked by another process for over {self.lock_wait_s:g} s"
                        f"{self._holders()}; answers stored so far are kept"
                    ) from None
                self.notice(f"{self.path}: waiting for a write lock held by another process{self._holders()}")
                time.sleep(delay)
                waited += delay
                delay = min(delay * 2, 10.0)

    def _holders(self) -> str:
        if not isinstance(self.path, Path):
            return ""
        holders = processes_holding(self.path)
        return f" ({'; '.join(holders[:3])})" if holders else ""

    def _failure(self, exc: BaseException) -> StoreError:
        text = self._scrub(str(exc).strip())
        kind = self._dialect.classify(exc)
        if kind == "full":
            return StoreFull(
                f"{self.path}: disk full (or the database reached its size limit) while writing; answers stored "
                "before are kept: free space, then resume"
            )
        if kind == "readonly":
            return StoreError(f"{self.path}: the result database is read-only ({text}); use another --results-dir")
        return StoreError(f"{self.path}: database error: {text}")

    # grouped commits ------------------------------------------------------------------------------

    def group_commits(self, rows: int = 100, seconds: float = 0.2) -> None:
        """Commit recorded answers in groups: when ``rows`` are waiting or the oldest has waited ``seconds``
        (``flush_due``, called by the run's timer, ends a group that no new answer ends). One commit per answer
        wrote ~33 KB of pages and WAL per sample for a database that grows by ~2 KB. A ``kill -9`` loses at most
        the open group, whose answers a resume asks again; every committed one is kept. Any other write
        (a run's status, the lease, an episode's turn) commits the open group first."""
        self._group_limits = (max(1, rows), max(0.0, seconds))

    def _in_group(self, rows: Callable[[], None]) -> None:
        """Write one answer's rows into the open group (opening one if none is). The rows are kept until the
        group commits, so that a group rolled back by a lock conflict is written again in full on the retry,
        and one rolled back by a full disk keeps every answer that still fits."""
        earlier: list[Callable[[], None]] = []
        if self._group_opened is None:
            self._db.execute(self._dialect.begin)
            self._group_opened = time.monotonic()
            earlier, self._group_replay = self._group_replay, []
        try:
            for op in (*earlier, rows):
                op()
        except self._dialect.error as exc:
            self._group_failed(exc, [*self._group_pending, *earlier], rows)
            raise
        self._group_pending.extend((*earlier, rows))

    def _group_failed(self, exc: BaseException, written: list[Callable[[], None]], current: Callable[[], None]) -> None:
        """Roll back a group that failed; ``written`` are its answers before ``current``, the one that failed."""
        self._rollback()
        kind = self._dialect.classify(exc)
        if kind == "busy":
            self._group_replay = written  # _write waits, then retries ``current`` in a new group after these
        elif kind == "full":
            self._salvage([*written, current])

    def _salvage(self, answers: list[Callable[[], None]]) -> None:
        """After a full disk rolled back a group, commit its answers one at a time for as long as they fit:
        each one kept is one a resume does not ask again."""
        for rows in answers:
            try:
                self._db.execute(self._dialect.begin)
                rows()
                self._db.execute("COMMIT")
            except self._dialect.error:
                self._rollback()
                return

    def flush(self) -> None:
        """Commit the open group of answers, if there is one."""
        if self._group_opened is None and not self._group_replay:
            return

        def commit() -> None:
            if self._group_opened is None:  # a group rolled back by a lock conflict: write it again first
                self._in_group(_nothing)
            try:
                self._db.execute("COMMIT")
            except self._dialect.error as exc:
                self._group_failed(exc, self._group_pending, _nothing)
                raise
            self._group_opened, self._group_pending = None, []

        self._write(commit)

    def flush_due(self) -> None:
        """Commit the open group if its oldest answer has waited its time."""
        opened, limits = self._group_opened, self._group_limits
        if opened is not None and limits is not None and time.monotonic() - opened >= limits[1]:
            self.flush()

    def _transaction_of(self, op: Callable[[], T]) -> T:
        """BEGIN ... COMMIT around ``op`` (ROLLBACK on error) on the autocommit connection. SQLite's BEGIN
        IMMEDIATE takes the write lock at once, so waiting for another writer happens there and not halfway."""
        self.flush()  # a group of answers is committed before anything else is written
        self._db.execute(self._dialect.begin)
        try:
            out = op()
        except BaseException:
            self._rollback()
            raise
        self._db.execute("COMMIT")
        return out

    def _rollback(self) -> None:
        # an open group of answers goes with it: _group_failed writes them again where it can; what it cannot
        # was never stored, and a resume asks it again
        self._group_opened, self._group_pending = None, []
        if self._dialect.in_transaction(self._db):  # SQLite has already rolled back after some errors (disk full)
            self._db.execute("ROLLBACK")


def _nothing() -> None:
    """The rows of no answer: commits a group without adding to it."""
