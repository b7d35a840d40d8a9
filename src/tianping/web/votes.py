"""Human votes from the dashboard's voting page, stored as battles in the result store it serves.

Each vote is one row of the store's ``battles`` table (``source`` 'web'; Alembic revision 0003), so it lives
with the results it judges, on SQLite or PostgreSQL alike, and the arena code rates it with judged battles
(``tianping.arena.stored``). Only this module writes to the store the dashboard otherwise reads.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path

from tianping.arena.battles import OUTCOMES, Battle, parse_outcome
from tianping.arena.stored import stored_battles
from tianping.store import Store
from tianping.store.store import StoreError

SOURCE = "web"


@dataclass(frozen=True)
class Vote:
    benchmark: str
    sample_id: str
    model_a: str
    model_b: str
    winner: str
    """One of :data:`tianping.arena.battles.OUTCOMES` (or FastChat's spellings)."""
    voter: str
    """A hash of the voter's session, never the token itself."""


class VoteStore:
    """Votes in the result store at ``location`` (a results folder or a store URL), opened for writing.

    A ``Store`` handle is not shared across threads and FastAPI serves requests from a thread pool: each
    thread opens its own. Opening here at once creates (or upgrades to revision 0003) the store, so a store
    that cannot take votes fails at start-up, not at the first vote."""

    def __init__(self, location: Path | str):
        self.location = location
        self._local = threading.local()
        self._lock = threading.Lock()
        self._handles: list[Store] = []
        self._store()

    def _store(self) -> Store:
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            try:
                where = self.location
                store = Store.open(where) if isinstance(where, Path) else Store(where)
            except StoreError as exc:
                raise RuntimeError(f"cannot store votes: {exc}") from None
            self._local.store = store
            with self._lock:
                self._handles.append(store)
        return store

    def add(self, vote: Vote) -> str:
        """Store the vote as a battle; returns its id."""
        winner = OUTCOMES[parse_outcome(vote.winner, where="vote")]
        return self._store().add_battle(
            benchmark=vote.benchmark,
            sample_id=vote.sample_id,
            model_a=vote.model_a,
            model_b=vote.model_b,
            winner=winner,
            voter=vote.voter,
            source=SOURCE,
        )

    def count(self) -> int:
        return len(self._store().battles(SOURCE))

    def battles(self) -> list[Battle]:
        """Every web vote as a battle, oldest first, over all benchmarks (the arena page's board of votes)."""
        return [b for per_benchmark in stored_battles(self._store(), source=SOURCE).values() for b in per_benchmark]

    def close(self) -> None:
        with self._lock:
            handles, self._handles = self._handles, []
        for store in handles:
            # a SQLite handle opened by another (pool) thread refuses to be closed here; it goes with its thread
            with contextlib.suppress(Exception):
                store.close()
