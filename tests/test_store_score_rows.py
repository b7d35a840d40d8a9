"""``Store.score_rows``, the light read that aggregation uses, gives what ``sample_rows`` gives of each sample,
in the same order, so a run's aggregates (bootstrap intervals included) are the same from either."""

from __future__ import annotations

from test_store_backends import _record
from tianping.engine.aggregate import aggregate
from tianping.store import Store
from tianping.store.statements import SCORE_COLUMNS


def test_score_rows_are_the_sample_rows_without_prompt_output_or_trajectory(location: str) -> None:
    store = Store(location)
    store.create_run("r", {"models": []}, "test")
    for i in (10, 2, 1, 33, 7):  # stored out of order: both reads sort them 1, 2, 7, 10, 33
        _record(store, "r", f"s{i}", "42" if i % 3 else "7")
    _record(store, "r", "s5", None)  # an error row
    full = list(store.sample_rows("r"))
    light = list(store.score_rows("r"))
    kept = {c.removesuffix("_json") for c in SCORE_COLUMNS} | {"metric_weights"}
    assert light == [{k: v for k, v in row.items() if k in kept} for row in full]
    assert [r["sample_id"] for r in light] == ["s1", "s2", "s5", "s7", "s10", "s33"]
    tasks = {"gsm8k": {"metric": "accuracy"}}
    assert aggregate(light, tasks) == aggregate(full, tasks)
    store.close()
