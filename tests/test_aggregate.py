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
    out = {
        (r["group_kind"], r["group_name"], r["metric"]): r for r in aggregate(rows, {"b": ["subject"]}, {"b": "pass@1"})
    }
    primary = out[("all", "", "pass@1")]
    assert primary["score"] == pytest.approx(2 / 3) and primary["n"] == 3 and primary["incomplete"] == 1
    inst = out[("all", "", "inst")]
    assert inst["score"] == pytest.approx((3 * 1.0 + 2 * 0.5 + 0.0) / 6)  # a ratio of sums, not a mean of ratios
    assert inst["ci_low"] <= inst["score"] <= inst["ci_high"]
    assert out[("subject", "a", "pass@1")]["score"] == 0.5
    assert ("subject", "a", "inst") not in out  # breakdowns report the primary metric


def test_weighted_mean_is_deterministic_and_checks_its_input():
    first = weighted_mean([1, 0.5, 0], [3, 2, 1])
    assert first == weighted_mean([1, 0.5, 0], [3, 2, 1])
    assert first.value == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="as many weights"):
        weighted_mean([1, 0], [1])
    assert weighted_mean([], []).value is None
