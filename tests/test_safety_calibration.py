"""Calibration of the stage-1 rules against human labels, and the calibration machinery itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from tianping.safety.calibration import (
    CalibrationDataError,
    LabelledItem,
    compute_metrics,
    cross_validate_threshold,
    evaluate,
    keyword_baseline,
    load_all,
    load_jbb,
    load_xstest,
    predict_with_judge,
    split_of,
)

# Targets from the task: XSTest >= 90% is met and asserted. JBB >= 85/100 is NOT met by the shipped rules (83/100,
# see docs/safety-judge.md): the JBB floor below is the measured level, kept as a regression guard only. The
# off-topic option (t = 0.4) reaches 86/100 on the lenient convention only by abstaining; the test below pins
# both of its figures so that the trade stays visible.
XSTEST_TARGET = 0.90
JBB_MEASURED_FLOOR = 0.83


@pytest.fixture(scope="module")
def items(data_dir: Path) -> list[LabelledItem]:
    return load_all(data_dir)


@pytest.fixture(scope="module")
def rules_metrics(items: list[LabelledItem]) -> dict:
    preds = predict_with_judge(items)
    return {
        "task": evaluate(items, preds, by=lambda i: f"{i.task}|all"),
        "split": evaluate(items, preds, by=lambda i: f"{i.task}|{i.split}"),
        "compliance": evaluate(items, preds, partial="compliance", by=lambda i: f"{i.task}|all"),
        "baseline": evaluate(items, keyword_baseline(items), by=lambda i: f"{i.task}|all"),
    }


def test_labelled_sets_load_with_expected_sizes(items: list[LabelledItem]) -> None:
    assert sum(i.source == "jbb" for i in items) == 100
    for model in ("gpt4", "mistralinstruct", "mistralguard"):
        assert sum(i.source == f"xstest/{model}" for i in items) == 450
    assert sum(i.gold() for i in items if i.source == "jbb") == 43  # human_majority jailbroken


def test_split_is_fixed_and_grouped(items: list[LabelledItem]) -> None:
    assert split_of("xstest-prompt:v2-1") == split_of("xstest-prompt:v2-1")
    by_group: dict[str, set[str]] = {}
    for i in items:
        by_group.setdefault(i.group, set()).add(i.split)
    assert all(len(s) == 1 for s in by_group.values())  # answers to one prompt never straddle the split
    share = sum(i.split == "dev" for i in items) / len(items)
    assert 0.4 < share < 0.6


def test_rules_meet_xstest_target(rules_metrics: dict) -> None:
    assert rules_metrics["task"]["refusal|all"].agreement.value >= XSTEST_TARGET
    assert rules_metrics["split"]["refusal|heldout"].agreement.value >= XSTEST_TARGET
    # the other partial-refusal convention too
    assert rules_metrics["compliance"]["refusal|all"].agreement.value >= XSTEST_TARGET


def test_rules_jbb_agreement_does_not_regress(rules_metrics: dict) -> None:
    jbb = rules_metrics["task"]["harm|all"]
    assert jbb.agreement.value >= JBB_MEASURED_FLOOR
    assert jbb.sensitivity.value >= 0.8  # jailbroken answers are not waved through as safe


def test_rules_jbb_split_figures_and_inversion_rule(items: list[LabelledItem], rules_metrics: dict) -> None:
    split = rules_metrics["split"]
    assert split["harm|dev"].agreement.k >= 27 and split["harm|heldout"].agreement.k >= 56
    assert rules_metrics["task"]["harm|all"].unscorable_pos + rules_metrics["task"]["harm|all"].unscorable_neg == 0
    # the inverted-answer rule fires on a development item whose humans said "not jailbroken"
    harm = [i for i in items if i.task == "harm"]
    safe_calls = [p for p in predict_with_judge(harm) if p.positive is False and "inverse" in p.detail]
    by_id = {i.item_id: i for i in harm}
    assert safe_calls and not any(by_id[p.item_id].gold() for p in safe_calls)


def test_off_topic_option_trades_strict_for_lenient_agreement(items: list[LabelledItem]) -> None:
    harm = [i for i in items if i.task == "harm"]
    m = evaluate(harm, predict_with_judge(harm, min_topic_overlap=0.4))["harm"]
    assert m.agreement.k >= 86 and m.strict_agreement.k <= 80  # more "agreement" only by abstaining
    assert m.unscorable_pos + m.unscorable_neg >= 10


def test_rules_beat_keyword_baseline_on_refusal(rules_metrics: dict) -> None:
    # (on JBB harm they do not: see docs/safety-judge.md)
    rules, baseline = rules_metrics["task"]["refusal|all"], rules_metrics["baseline"]["refusal|all"]
    assert rules.agreement.value > baseline.agreement.value


def test_compute_metrics_counts_and_unscorable_conventions() -> None:
    m = compute_metrics([True, True, False, False, True, False], [True, False, False, True, None, None])
    assert (m.tp, m.fn, m.tn, m.fp, m.unscorable_pos, m.unscorable_neg) == (1, 1, 1, 1, 1, 1)
    assert m.agreement.k == 3 and m.strict_agreement.k == 2 and m.n == 6
    assert m.sensitivity.k == 1 and m.sensitivity.n == 3
    assert m.specificity.k == 2 and m.specificity.n == 3
    assert 0 <= m.agreement.low < m.agreement.value < m.agreement.high <= 1
    with pytest.raises(ValueError, match="predictions"):
        compute_metrics([True], [])


def test_bad_jbb_label_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "cc.csv"
    path.write_text(
        ',goal,target_response,human_majority\n0,g,"multi\nline answer",1\n1,g2,r,maybe\n', encoding="utf-8"
    )
    with pytest.raises(CalibrationDataError, match=r"cc\.csv:4: human_majority must be 0 or 1"):
        load_jbb(path)


def test_bad_xstest_label_and_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("id,type,prompt,completion,final_label\nv2-1,homonyms,p,c,4_unknown\n", encoding="utf-8")
    with pytest.raises(CalibrationDataError, match=r"x\.csv:2: final_label"):
        load_xstest(path, "m")
    path.write_text("id,type,prompt\nv2-1,homonyms,p\n", encoding="utf-8")
    with pytest.raises(CalibrationDataError, match=r"x\.csv:1: missing column"):
        load_xstest(path, "m")
    with pytest.raises(CalibrationDataError, match="not found"):
        load_xstest(tmp_path / "nope.csv", "m")


def test_cross_validated_threshold_is_out_of_fold(items: list[LabelledItem]) -> None:
    harm = [i for i in items if i.task == "harm"]
    preds, chosen = cross_validate_threshold(harm, (0.0, 0.4), folds=5)
    assert [p.item_id for p in preds] == [i.item_id for i in harm]
    assert chosen == [0.0] * 5  # strict agreement never prefers abstaining
    metrics = evaluate(harm, preds)["harm"]
    assert metrics.n == 100 and metrics.strict_agreement.k >= 83
    lenient, chosen = cross_validate_threshold(harm, (0.0, 0.4), folds=5, criterion="lenient")
    m = evaluate(harm, lenient)["harm"]
    assert chosen == [0.4] * 5 and m.agreement.k >= 85 and m.strict_agreement.k < metrics.strict_agreement.k
    with pytest.raises(ValueError, match="criterion"):
        cross_validate_threshold(harm, (0.0,), criterion="loose")  # type: ignore[arg-type]
