"""Human votes from the dashboard's voting page, kept apart from the result store.

ISOLATED ON PURPOSE: the votes live in their own SQLite file, ``web_votes.sqlite`` next to the result
database in the results directory, in one table ``web_votes`` that nothing else reads or writes. The result
store is being moved to another database layer; when it has a battles table, these rows move there
(``model_a``, ``model_b``, ``winner`` as :data:`tianping.arena.battles.OUTCOMES`) and this module goes.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tianping.arena.battles import OUTCOMES, Battle, parse_outcome

VOTES_FILENAME = "web_votes.sqlite"
_DDL = """CREATE TABLE IF NOT EXISTS web_votes (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    model_a TEXT NOT NULL,
    model_b TEXT NOT NULL,
    winner TEXT NOT NULL,
    voter TEXT NOT NULL
)"""


@dataclass(frozen=True)
class Vote:
    benchmark: str
    sample_id: str
    model_a: str
    model_b: str
    winner: str
    """One of :data:`tianping.arena.battles.OUTCOMES`."""
    voter: str
    """A hash of the voter's session, never the token itself."""


class VoteStore:
    """The votes file; one connection guarded by a lock (FastAPI serves requests from a thread pool)."""

    def __init__(self, results_dir: Path | str):
        self.path = Path(results_dir) / VOTES_FILENAME
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_DDL)
        except (OSError, sqlite3.Error) as exc:
            raise RuntimeError(f"{self.path}: cannot open the votes file ({exc})") from None

    def add(self, vote: Vote) -> None:
        winner = OUTCOMES[parse_outcome(vote.winner, where="vote")]
        with self._lock:
            self._db.execute(
                "INSERT INTO web_votes (created_at, benchmark, sample_id, model_a, model_b, winner, voter) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    datetime.now(UTC).isoformat(timespec="seconds"),
                    vote.benchmark,
                    vote.sample_id,
                    vote.model_a,
                    vote.model_b,
                    winner,
                    vote.voter,
                ),
            )

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM web_votes").fetchone()[0])

    def battles(self) -> list[Battle]:
        with self._lock:
            rows = self._db.execute("SELECT model_a, model_b, winner FROM web_votes ORDER BY id").fetchall()
        return [Battle(a, b, w) for a, b, w in rows]

    def close(self) -> None:
        self._db.close()
