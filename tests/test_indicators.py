"""The indicator system: the bundled tree, a user's tree, the roll-up and its display."""

from __future__ import annotations

import math

import pytest

from engine_helpers import cli
from tianping.core.results import MetricRow
from tianping.indicators import IndicatorTreeError, default_tree, load_tree, rollup
from tianping.indicators.tree import parse_tree
from tianping.store import Store

Z = 1.959963984540054


def metric(benchmark: str, score: float, half: float, name: str = "accuracy", model: str = "m") -> MetricRow:
    return MetricRow(model, benchmark, name, score, 1000, score - half, score + half)


def test_bundled_tree_declares_the_first_dimensions():
    tree = default_tree()
    ids = [d.id for d in tree.dimensions]
    assert ids[:6] == ["knowledge", "reasoning", "mathematics", "code", "instruction_following", "chinese"]
    assert all(d.capabilities for d in tree.dimensions)  # none only declared: safety is measured too


def test_the_safety_dimension_counts_lower_is_better_rates_as_one_minus_the_rate():
    """Attack success 20% [10, 35] and over-refusal 40% [30, 50]: harm resistance 80% [65, 90], helpfulness on
    benign look-alikes 60% [50, 70], safety their mean; both shown as 1-<metric>."""
    rows = [
        MetricRow("m", "safety", "attack_success", 0.2, 200, 0.10, 0.35),
        MetricRow("m", "safety_overrefusal", "over_refusal", 0.4, 200, 0.30, 0.50),
    ]
    (report,) = rollup(default_tree(), rows)
    (safety,) = [d for d in report.dimensions if d.id == "safety"]
    caps = {c.id: c for c in safety.capabilities}
    resist, helpful = caps["harm_resistance"], caps["helpful_on_benign"]
    assert (resist.score, resist.ci_low, resist.ci_high) == pytest.approx((0.8, 0.65, 0.9))
    assert (helpful.score, helpful.ci_low, helpful.ci_high) == pytest.approx((0.6, 0.5, 0.7))
    assert resist.measured_by == ("safety:1-attack_success",)
    assert safety.score == pytest.approx(0.7) and report.composite.score == pytest.approx(0.7)
    # one of the two measured: the other is named as missing under the name it is shown by
    (alone,) = rollup(default_tree(), rows[:1])
    (safety,) = [d for d in alone.dimensions if d.id == "safety"]
    assert safety.score == pytest.approx(0.8) and safety.missing == ("safety_overrefusal:1-over_refusal",)


def test_a_longer_benchmark_of_the_tree_is_not_taken_for_a_variant_of_a_shorter_one():
    # bfcl_parallel_multiple and its prompt-mode run belong to themselves, not to bfcl_parallel
    rows = [metric("bfcl_parallel_multiple", 0.2, 0.05), metric("bfcl_parallel_multiple_prompt", 0.3, 0.05)]
    (report,) = rollup(default_tree(), rows)
    (agents,) = [d for d in report.dimensions if d.id == "agents"]
    (calling,) = [c for c in agents.capabilities if c.id == "function_calling"]
    assert calling.measured_by == ("bfcl_parallel_multiple:accuracy",)
    assert "bfcl_parallel:accuracy" in calling.missing
    # a run of the prompt mode alone still counts for its benchmark
    (report,) = rollup(default_tree(), [metric("bfcl_parallel_prompt", 0.4, 0.05)])
    (agents,) = [d for d in report.dimensions if d.id == "agents"]
    assert agents.score == pytest.approx(0.4)


def test_rollup_weights_variants_and_intervals():
    rows = [
        metric("mmlu_5shot", 0.6, 0.03),
        metric("cmmlu", 0.5, 0.03),
        metric("ceval", 0.7, 0.05),
        metric("gsm8k", 0.8, 0.02),
    ]
    (report,) = rollup(default_tree(), rows)
    dims = {d.id: d for d in report.dimensions}
    # knowledge = mean(world (mmlu variant), chinese (mean of cmmlu and ceval))
    assert dims["knowledge"].score == pytest.approx(0.5 * 0.6 + 0.5 * (0.5 + 0.7) / 2)
    assert dims["knowledge"].measured_by == ("ceval:accuracy", "cmmlu:accuracy", "mmlu_5shot:accuracy")
    assert dims["mathematics"].ci_low == pytest.approx(0.78) and dims["mathematics"].ci_high == pytest.approx(0.82)
    assert dims["reasoning"].score is None and "bbh:accuracy" in dims["reasoning"].missing
    # composite = mean of the three measured dimensions; cmmlu appears in two of them and its
    # coefficients are added before squaring, not treated as two independent measurements
    knowledge, maths, chinese = dims["knowledge"].score, dims["mathematics"].score, dims["chinese"].score
    assert report.composite.score == pytest.approx((knowledge + maths + chinese) / 3)
    coef = {"mmlu": 0.5 / 3, "cmmlu": (0.25 + 0.5) / 3, "ceval": (0.25 + 0.5) / 3, "gsm8k": 1 / 3}
    se = {"mmlu": 0.03 / Z, "cmmlu": 0.03 / Z, "ceval": 0.05 / Z, "gsm8k": 0.02 / Z}
    half = Z * math.sqrt(sum((coef[k] * se[k]) ** 2 for k in coef))
    assert report.composite.ci_high - report.composite.score == pytest.approx(half)


def test_a_users_tree_with_its_own_weights(tmp_path):
    path = tmp_path / "tree.yaml"
    path.write_text(
        "name: mine\nversion: 2\ndimensions:\n"
        "  - id: maths\n    name: Maths\n    weight: 3\n"
        "    capabilities: [{id: gsm, name: GSM, benchmarks: [{benchmark: gsm8k}]}]\n"
        "  - id: know\n    name: Knowledge\n"
        "    capabilities: [{id: mmlu, name: MMLU, benchmarks: [{benchmark: mmlu}]}]\n",
        encoding="utf-8",
    )
    (report,) = rollup(load_tree(path), [metric("gsm8k", 0.8, 0.02), metric("mmlu", 0.4, 0.02)])
    assert report.tree == "mine" and report.tree_version == "2"
    assert report.composite.score == pytest.approx((3 * 0.8 + 0.4) / 4)


@pytest.mark.parametrize(
    ("tree", "field"),
    [
        ({"name": "t", "version": "1", "dimensions": []}, "dimensions"),
        ({"name": "t", "version": "1", "dimensions": [{"id": "A B", "name": "x"}]}, "dimensions.0.id"),
        ({"name": "t", "version": "1", "dimensions": [{"id": "a", "name": "x", "weight": -1}]}, "dimensions.0.weight"),
        (
            {
                "name": "t",
                "version": "1",
                "dimensions": [
                    {"id": "a", "name": "x", "capabilities": [{"id": "c", "name": "c", "benchmarks": [{"weight": 1}]}]}
                ],
            },
            "dimensions.0.capabilities.0.benchmarks.0.benchmark",
        ),
        ({"name": "t", "dimensions": [{"id": "a", "name": "x"}]}, "version"),
    ],
)
def test_an_invalid_tree_names_the_field(tree, field):
    with pytest.raises(IndicatorTreeError, match=f"mine.yaml: field '{field}'"):
        parse_tree(tree, "mine.yaml")


def test_show_and_report_roll_up_a_run_and_reject_a_bad_tree(tmp_path):
    store = Store.open(tmp_path)
    store.create_run("r", {"models": [{"id": "openai/m"}], "benchmarks": ["gsm8k", "mmlu", "cmmlu"]}, "0")
    store.write_aggregates(
        "r",
        [
            {
                "model": "openai/m",
                "benchmark": b,
                "metric": "accuracy",
                "group_kind": "all",
                "group_name": "",
                "score": s,
                "n": 100,
                "ci_low": s - 0.05,
                "ci_high": s + 0.05,
                "extraction_failures": 0,
                "incomplete": 0,
                "errors": 0,
            }
            for b, s in (("gsm8k", 0.7), ("mmlu", 0.5), ("cmmlu", 0.4))
        ],
    )
    store.update_run("r", status="completed")
    shown = cli("show", "r", "--results-dir", str(tmp_path))
    assert shown.returncode == 0, shown.stderr
    assert "indicator system tianping-default" in shown.stdout and "Mathematics" in shown.stdout
    report = cli("report", "r", "--results-dir", str(tmp_path), "-o", str(tmp_path / "r.html"))
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "r.html").read_text()
    assert 'id="indicators"' in html and "radar-series" in html
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversion: 1\ndimensions: [{id: a}]\n")
    refused = cli("show", "r", "--results-dir", str(tmp_path), "--indicators", str(bad))
    assert refused.returncode == 2 and "field 'dimensions.0.name'" in refused.stderr


def test_a_dimension_with_one_benchmark_has_exactly_its_interval():
    """The issue's case: gsm8k 0 of 10 shows [0.0, 27.8] in the score table; its dimension showed [0.0, 13.9]."""
    from tianping.scoring.stats import proportion

    gsm8k = proportion([0.0] * 10)
    rows = [MetricRow("m", "gsm8k", "accuracy", gsm8k.value, 10, gsm8k.ci_low, gsm8k.ci_high)]
    (report,) = rollup(default_tree(), rows)
    maths = next(d for d in report.dimensions if d.id == "mathematics")
    assert (maths.ci_low, maths.ci_high) == (gsm8k.ci_low, gsm8k.ci_high)
    assert round(100 * maths.ci_high, 1) == 27.8
    assert (report.composite.ci_low, report.composite.ci_high) == (gsm8k.ci_low, gsm8k.ci_high)


def test_loglikelihood_variants_count_and_asymmetric_intervals_propagate_per_side():
    """The quickstart's log-likelihood rows (mmlu_5shot:acc, cmmlu_5shot:acc) map to their dimensions."""
    from tianping.scoring.stats import proportion

    mmlu, cmmlu = proportion([1.0] * 9 + [0.0] * 3), proportion([1.0] * 1 + [0.0] * 11)
    rows = [
        MetricRow("m", "mmlu_5shot", "acc", mmlu.value, 12, mmlu.ci_low, mmlu.ci_high),
        MetricRow("m", "mmlu_5shot", "acc_norm", 0.5, 12, 0.2, 0.8),
        MetricRow("m", "cmmlu_5shot", "acc", cmmlu.value, 12, cmmlu.ci_low, cmmlu.ci_high),
    ]
    (report,) = rollup(default_tree(), rows)
    dims = {d.id: d for d in report.dimensions}
    assert dims["knowledge"].measured_by == ("cmmlu_5shot:acc", "mmlu_5shot:acc")
    assert (dims["chinese"].ci_low, dims["chinese"].ci_high) == (cmmlu.ci_low, cmmlu.ci_high)
    k = dims["knowledge"]
    below = Z * math.sqrt(sum((0.5 * (e.value - e.ci_low) / Z) ** 2 for e in (mmlu, cmmlu)))
    above = Z * math.sqrt(sum((0.5 * (e.ci_high - e.value) / Z) ** 2 for e in (mmlu, cmmlu)))
    assert k.score == pytest.approx(0.5 * mmlu.value + 0.5 * cmmlu.value)
    assert (k.ci_low, k.ci_high) == pytest.approx((k.score - below, k.score + above))
    assert report.composite.dimensions_measured == ("Knowledge", "Chinese-language ability")
    assert len(report.composite.dimensions_missing) == 7


def test_the_score_over_completed_answers_is_not_taken_for_the_benchmark():
    rows = [
        MetricRow("m", "gsm8k", "accuracy", 0.5, 10, 0.2, 0.8),
        MetricRow("m", "gsm8k", "accuracy over completed", 0.9, 6, 0.5, 1.0),
    ]
    (report,) = rollup(default_tree(), rows)
    assert report.composite.score == 0.5 and report.composite.measured_by == ("gsm8k:accuracy",)


def test_show_says_over_how_many_dimensions_the_composite_is_taken():
    from tianping.indicators.rollup import composite_coverage

    (report,) = rollup(default_tree(), [metric("gsm8k", 0.8, 0.02)])
    text = composite_coverage(report.composite)
    assert text.startswith("1 of 9 dimensions; not measured: Knowledge, Reasoning, Code")
