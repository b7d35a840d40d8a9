"""Aggregates: the primary score, further per-sample metrics (weighted where needed), breakdowns."""

from __future__ import annotations

import pytest

from tianping.engine.aggregate import aggregate
from tianping.scoring.stats import weighted_mean


def row(sample_id: str, score: float | None, status: str = "scored", **extra):
    return {
        "model": "m",
        "benchmark": "b",
        "sample_id": sample_id,
        "score": score,
        "status": status,
        "extraction_failed": False,
        "meta": {"subject": sample_id[0]},
        **extra,
    }


def test_primary_metric_name_extra_metrics_and_weights():
    rows = [
        row("a1", 1.0, metrics={"pass@1": 1.0, "inst": 1.0}, metric_weights={"inst": 3}),
        row("a2", 0.0, metrics={"pass@1": 0.0, "inst": 0.5}, metric_weights={"inst": 2}),
        row("b1", 1.0, metrics={"pass@1": 1.0, "inst": 0.0}, metric_weights={"inst": 1}),
        row("b2", None, status="incomplete"),
    ]
    out = by_key(aggregate(rows, {"b": {"breakdowns": ["subject"], "metric": "pass@1"}}))
    primary = out[("all", "", "pass@1")]
    # the incomplete answer counts as not correct: 2 of 4, and it is still counted beside the score
    assert primary["score"] == pytest.approx(2 / 4) and primary["n"] == 4 and primary["incomplete"] == 1
    completed = out[("all", "", "pass@1 over completed")]
    assert completed["score"] == pytest.approx(2 / 3) and completed["n"] == 3
    inst = out[("all", "", "inst")]
    assert inst["score"] == pytest.approx((3 * 1.0 + 2 * 0.5 + 0.0) / 6)  # a ratio of sums, not a mean of ratios
    assert inst["ci_low"] <= inst["score"] <= inst["ci_high"]
    assert out[("subject", "a", "pass@1")]["score"] == 0.5
    assert out[("subject", "b", "pass@1")]["score"] == 0.5 and out[("subject", "b", "pass@1")]["n"] == 2
    assert ("subject", "a", "inst") not in out  # breakdowns report the primary metric


def by_key(rows):
    return {(r["group_kind"], r["group_name"], r["metric"]): r for r in rows}


def test_incomplete_answers_count_as_wrong_in_the_headline_gsm8k_example():
    """The issue's numbers: 1,319 items, 923 right, 31 unfinished. The headline is 923/1,319 (0.6998), not
    923/1,288 (0.7166); the score over completed answers is given beside it."""
    rows = [row(f"x{i}", 1.0) for i in range(923)]
    rows += [row(f"y{i}", 0.0) for i in range(1319 - 923 - 31)]
    rows += [row(f"z{i}", None, status="incomplete") for i in range(31)]
    rows += [row(f"e{i}", None, status="error") for i in range(5)]  # transport errors stay out
    out = by_key(aggregate(rows, {"b": {"metric": "accuracy"}}))
    headline = out[("all", "", "accuracy")]
    assert headline["n"] == 1319 and headline["score"] == pytest.approx(923 / 1319)
    assert round(headline["score"], 4) == 0.6998
    assert headline["incomplete"] == 31 and headline["errors"] == 5
    completed = out[("all", "", "accuracy over completed")]
    assert completed["n"] == 1288 and round(completed["score"], 4) == 0.7166


def test_a_model_out_of_budget_never_outscores_one_that_answers_wrong():
    base = [row(f"r{i}", 1.0) for i in range(50)]
    wrong = base + [row(f"w{i}", 0.0) for i in range(20)]
    unfinished = base + [row(f"w{i}", None, status="incomplete") for i in range(20)]
    a = by_key(aggregate(wrong, {}))[("all", "", "accuracy")]
    b = by_key(aggregate(unfinished, {}))[("all", "", "accuracy")]
    assert a["score"] == b["score"] and a["n"] == b["n"] and (a["ci_low"], a["ci_high"]) == (b["ci_low"], b["ci_high"])


def test_no_completed_row_without_incomplete_answers_and_a_task_may_keep_them_apart():
    rows = [row("a1", 1.0), row("a2", 0.0)]
    assert [r["metric"] for r in aggregate(rows, {})] == ["accuracy"]
    rows.append(row("a3", None, status="incomplete"))
    apart = by_key(aggregate(rows, {"b": {"incomplete": "apart"}}))
    assert apart[("all", "", "accuracy")]["n"] == 2 and apart[("all", "", "accuracy")]["incomplete"] == 1
    assert ("all", "", "accuracy over completed") not in apart


def test_unweighted_extra_metrics_count_incomplete_as_zero_too():
    rows = [row("a1", 1.0, metrics={"pass@5": 1.0}), row("a2", None, status="incomplete")]
    out = by_key(aggregate(rows, {"b": {"metric": "pass@1"}}))
    assert out[("all", "", "pass@5")]["score"] == 0.5 and out[("all", "", "pass@5")]["n"] == 2


def test_weighted_mean_is_deterministic_and_checks_its_input():
    first = weighted_mean([1, 0.5, 0], [3, 2, 1])
    assert first == weighted_mean([1, 0.5, 0], [3, 2, 1])
    assert first.value == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="as many weights"):
        weighted_mean([1, 0], [1])
    assert weighted_mean([], []).value is None
