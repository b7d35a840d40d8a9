"""Work units: a plan cut into pieces (model x task x shard of sample ids) that workers claim from the store.

A unit's id is the hash of what it holds (run, model, task, sample ids), so cutting the same plan again, in a
restarted driver or a second one, names the same units and adds none twice. A worker claims a unit under a
lease that expires: PostgreSQL picks it with ``SELECT … FOR UPDATE SKIP LOCKED`` (claimers never wait on each
other nor take the same row), SQLite inside ``BEGIN IMMEDIATE`` (one claimer at a time). A worker that dies
stops renewing; once its lease has expired the unit is claimed again. A unit is done when every one of its
samples is stored with an answer, whoever stored them; samples are written idempotently (``Store.record``), so
a unit run twice still stores each sample once.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tianping.store.store import Store, now_iso


@dataclass(frozen=True, slots=True)
class Unit:
    unit_id: str
    run_id: str
    model: str
    task: str
    shard: int
    sample_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Claim:
    unit: Unit
    worker: str
    lease_until: float
    attempts: int


def unit_id(run_id: str, model: str, task: str, sample_ids: Sequence[str]) -> str:
    body = json.dumps([run_id, model, task, list(sample_ids)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def cut_plan(run_id: str, work: Iterable[tuple[str, str, Sequence[str]]], shard_size: int) -> list[Unit]:
    """Units of ``shard_size`` samples for each (model, task, sample ids in plan order) of a run."""
    if shard_size < 1:
        raise ValueError(f"shard_size must be at least 1, not {shard_size}")
    units = []
    for model, task, sample_ids in work:
        ids = list(sample_ids)
        for shard, start in enumerate(range(0, len(ids), shard_size)):
            piece = tuple(ids[start : start + shard_size])
            units.append(Unit(unit_id(run_id, model, task, piece), run_id, model, task, shard, piece))
    return units


def _unit(row: dict[str, Any]) -> Unit:
    ids = tuple(json.loads(row["sample_ids_json"]))
    return Unit(row["unit_id"], row["run_id"], row["model"], row["task"], int(row["shard"]), ids)


class UnitQueue:
    """The work units of a store's runs. Each worker uses its own store (one connection each)."""

    def __init__(self, store: Store):
        self.store = store

    def add(self, units: Iterable[Unit]) -> None:
        stamp = now_iso()
        rows = [{"unit_id": u.unit_id, "run_id": u.run_id, "model": u.model, "task": u.task, "shard": u.shard,
                 "sample_ids_json": json.dumps(list(u.sample_ids), ensure_ascii=False), "created_at": stamp}
                for u in units]  # fmt: skip
        if not rows:
            return
        store = self.store
        sql = store._sql["insert_unit"]
        store._write(lambda: store._transaction_of(lambda: store._db.cursor().executemany(sql, rows)))

    def claim(self, run_id: str, worker: str, lease_s: float) -> Claim | None:
        """The next pending unit of the run that no live lease holds, now leased to ``worker`` for ``lease_s``
        seconds; None when there is none."""
        store = self.store

        def take() -> Claim | None:
            now = time.time()
            picked = store._run("claim_pick", {"run_id": run_id, "now": now}).fetchone()
            if picked is None:
                return None
            until = now + lease_s
            store._run("claim_take", {"key_unit": picked[0], "worker": worker, "until": until})
            cursor = store._run("unit_row", {"unit_id": picked[0]})
            row = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
            return Claim(_unit(row), worker, until, int(row["attempts"]))

        return store._write(lambda: store._transaction_of(take))

    def renew(self, claim: Claim, lease_s: float) -> Claim | None:
        """Extend a held lease; None when the unit is no longer this worker's (it expired and was claimed
        again, or it is done)."""
        store = self.store
        until = time.time() + lease_s
        values = {"key_unit": claim.unit.unit_id, "worker": claim.worker, "until": until}
        cursor = store._write(lambda: store._transaction_of(lambda: store._run("renew_unit", values)))
        if cursor.rowcount != 1:
            return None
        return Claim(claim.unit, claim.worker, until, claim.attempts)

    def finish(self, unit: Unit) -> bool:
        """Mark the unit done if every one of its samples is stored with an answer; False (and it stays pending,
        to be claimed again once its lease expires) when some are missing or errored."""
        answered = self.store.answered_ids(unit.run_id, unit.model, unit.task)
        if not set(unit.sample_ids) <= answered:
            return False
        store = self.store
        values = {"key_unit": unit.unit_id, "stamp": now_iso()}
        store._write(lambda: store._transaction_of(lambda: store._run("finish_unit", values)))
        return True

    def units(self, run_id: str) -> list[dict[str, Any]]:
        """Every unit of a run with its state (status, worker, lease_until, attempts), in plan order."""
        rows = self.store._rows("units_of_run", {"run_id": run_id})
        for row in rows:
            row["sample_ids"] = json.loads(row.pop("sample_ids_json"))
        rows.sort(key=lambda r: (r["model"], r["task"], r["shard"]))
        return rows
