"""Work units in the store, on SQLite and PostgreSQL: content-addressed ids, claims that never overlap, leases
that expire, and a unit done only once all its samples are stored."""

from __future__ import annotations

import threading
import time

import pytest

from tianping.core import Completion, Request, Response, Sample, Score
from tianping.store import Store
from tianping.store.units import UnitQueue, cut_plan, unit_id

WORK = [("openai/a", "gsm8k", [str(i) for i in range(10)]), ("openai/b", "arc_easy", [f"q{i}" for i in range(7)])]


def _store_answer(store: Store, run_id: str, model: str, task: str, sample_id: str) -> None:
    request = Request(model=model, prompt=f"{task} {sample_id}")
    store.record(run_id=run_id, benchmark=task, sample=Sample(id=sample_id, fields={}, target="1"), request=request,
                 response=Response(completions=(Completion(text="1"),), latency_s=0.1), score=Score(1.0))  # fmt: skip


def test_a_plan_cuts_into_content_addressed_units_added_once(location):
    units = cut_plan("r", WORK, shard_size=4)
    assert [(u.model, u.shard, len(u.sample_ids)) for u in units] == [
        ("openai/a", 0, 4), ("openai/a", 1, 4), ("openai/a", 2, 2), ("openai/b", 0, 4), ("openai/b", 1, 3),
    ]  # fmt: skip
    assert cut_plan("r", WORK, shard_size=4) == units  # the same plan, the same ids
    assert unit_id("r", "openai/a", "gsm8k", ["0", "1"]) != unit_id("r2", "openai/a", "gsm8k", ["0", "1"])
    queue = UnitQueue(Store(location))
    queue.add(units)
    queue.add(cut_plan("r", WORK, shard_size=4))  # a second driver cutting the same plan
    stored = queue.units("r")
    assert [r["unit_id"] for r in stored] == [u.unit_id for u in units]
    assert stored[2]["sample_ids"] == ["8", "9"] and {r["status"] for r in stored} == {"pending"}
    with pytest.raises(ValueError, match="shard_size"):
        cut_plan("r", WORK, shard_size=0)


def test_concurrent_claimers_never_get_the_same_unit(location):
    many = [("openai/m", f"task{t}", [str(i) for i in range(40)]) for t in range(6)]
    units = cut_plan("r", many, shard_size=2)  # 120 units
    UnitQueue(Store(location)).add(units)
    claimed: dict[str, list[str]] = {}
    failures: list[BaseException] = []
    start = threading.Barrier(4)

    def claimer(name: str) -> None:
        queue = UnitQueue(Store(location))
        mine = claimed.setdefault(name, [])
        start.wait()
        try:
            while (claim := queue.claim("r", name, lease_s=300)) is not None:
                mine.append(claim.unit.unit_id)
                time.sleep(0.002)  # the unit's work: the other claimers go on meanwhile
        except BaseException as exc:  # surfaced below
            failures.append(exc)
        finally:
            queue.store.close()

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    every = [u for ids in claimed.values() for u in ids]
    assert len(every) == len(set(every)) == 120 and set(every) == {u.unit_id for u in units}
    assert sum(1 for ids in claimed.values() if ids) >= 3  # the claims interleaved, not one claimer's run
    rows = UnitQueue(Store(location)).units("r")
    assert all(r["attempts"] == 1 for r in rows)


def test_an_expired_lease_is_claimed_again_and_a_live_one_is_not(location):
    queue = UnitQueue(Store(location))
    queue.add(cut_plan("r", [("openai/a", "gsm8k", ["1", "2"])], shard_size=2))
    first = queue.claim("r", "dies", lease_s=0.5)
    assert first is not None and first.attempts == 1
    other = UnitQueue(Store(location))
    assert other.claim("r", "second", lease_s=60) is None  # the lease is live
    time.sleep(0.6)
    again = other.claim("r", "second", lease_s=60)
    assert again is not None and again.unit == first.unit and again.attempts == 2
    assert queue.renew(first, 60) is None  # the first worker lost it
    assert other.renew(again, 120) is not None
    assert queue.claim("r", "third", lease_s=60) is None


def test_a_unit_is_done_when_all_its_samples_are_stored(location):
    store = Store(location)
    queue = UnitQueue(store)
    (unit,) = cut_plan("r", [("openai/a", "gsm8k", ["1", "2", "3"])], shard_size=3)
    queue.add([unit])
    claim = queue.claim("r", "w", lease_s=0.3)
    assert claim is not None
    _store_answer(store, "r", "openai/a", "gsm8k", "1")
    _store_answer(store, "r", "openai/a", "gsm8k", "2")
    assert not queue.finish(unit)  # sample 3 is missing: the worker died here
    time.sleep(0.4)
    retry = queue.claim("r", "w2", lease_s=60)
    assert retry is not None and retry.unit == unit
    for sample_id in unit.sample_ids:  # the retried unit writes every sample again
        _store_answer(store, "r", "openai/a", "gsm8k", sample_id)
    assert queue.finish(unit)
    assert [r["sample_id"] for r in store.sample_rows("r")] == ["1", "2", "3"]  # each stored once
    (row,) = queue.units("r")
    assert row["status"] == "done" and row["done_at"] and row["lease_until"] is None
    time.sleep(0.1)
    assert queue.claim("r", "w3", lease_s=0.01) is None  # a done unit is never claimed again
