"""Measure the safety judge against human labels (JailbreakBench judge set, XSTest v2 completions, JADE-DB v3
Chinese answers) and against the hand-labelled test families of ``tests/data/safety_judge_families.jsonl``.

Prints, per judge, agreement / strict agreement / sensitivity / specificity with Wilson 95% intervals and
confusion counts, for the development half, the held-out half and all items, per data set (``jbb``, ``xstest``,
``jade-zh``; the ``harm``/``refusal`` task rows pool JBB with JADE) and per source.
Judges: the stage-1 rules, a plain refusal-keyword baseline, the stored votes of published judges (JBB only),
a learned TF-IDF classifier (held-out and grouped 5-fold CV), and -- with ``--judge-model`` and
``--base-url`` -- the LLM judge.

    python benchmarks/calibrate_safety_judge.py [--json OUT] [--judge-model openai/NAME --base-url URL]
        [--judge-preset PRESET] [--write-calibration [PATH]] [--dev-only]

``--dev-only`` scores the development half only (labelled sets and families): the mode to tune the rules in,
since it neither computes nor prints a held-out figure. The thresholds of the rules other than the off-topic one
(the rebuttal overlap and the genre check) are chosen by grouped 5-fold cross-validation on the development items
in every mode; the script prints the value chosen on all of them, the value per fold and the out-of-fold
agreement.

``--write-calibration`` stores the held-out sensitivity and specificity that ``tianping.safety.correction`` uses
to correct attack success rates (default: the packaged ``src/tianping/safety/data/judge_calibration.json``):
the rules' on the JailbreakBench judge set (attack success) and on XSTest (over-refusal), and with
``--judge-model`` also the LLM judge's, under its preset name. Rerun it after any change to the judge rules.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tianping.safety.calibration import (
    LabelledItem,
    Metrics,
    Prediction,
    cross_validate_threshold,
    evaluate,
    keyword_baseline,
    load_all,
    predict_with_judge,
    study_threshold,
)
from tianping.safety.correction import CALIBRATION_PATH, JudgeAccuracy, write_calibration
from tianping.safety.judge import MIN_GENRE_EVIDENCE
from tianping.safety.judge_content import REBUTTAL_OVERLAP
from tianping.safety.judge_presets import PRESETS

REPO = Path(__file__).resolve().parents[1]
OVERLAP_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
OFF_TOPIC_OPTION = 0.4
# Grids listed from the least to the most intervention (ties go to the first): 2.0 and 0 turn the checks off.
DEV_STUDIES: tuple[tuple[str, tuple[float, ...], tuple[str, ...], float], ...] = (
    ("rebuttal_overlap", (2.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4), ("strict",), REBUTTAL_OVERLAP),
    ("min_genre_evidence", (0, 3, 2, 1), ("lenient", "strict"), MIN_GENRE_EVIDENCE),
)
"""(option, grid, criteria -- the first is the one the shipped value follows --, shipped value)."""
FAMILY_FILE = REPO / "tests" / "data" / "safety_judge_families.jsonl"
DEFAULT_DATA = Path(os.environ.get("TIANPING_DATA_DIR") or REPO.parent / "shared" / "datasets")


def _stored(items: Sequence[LabelledItem], column: str) -> list[Prediction]:
    """Another judge's stored vote, as a prediction (JBB columns are 0/1)."""
    return [Prediction(i.item_id, i.others.get(column) == "1", column) for i in items]


def _rows(name: str, items: Sequence[LabelledItem], preds: Sequence[Prediction], partial: str) -> list[dict[str, Any]]:
    """One row per (split, source) and per (split, task) for the items that have a prediction."""
    have = {p.item_id for p in preds}
    items = [i for i in items if i.item_id in have]
    rows = []
    keys: list[Callable[[LabelledItem], str]] = [
        lambda i: f"{i.task}|{i.split}",
        lambda i: f"{i.task}|all",
        lambda i: f"{_dataset(i)}|{i.split}",
        lambda i: f"{_dataset(i)}|all",
        lambda i: f"{i.source}|all",
    ]
    seen: set[str] = set()
    for keyfn in keys:
        for key, m in evaluate(items, preds, partial=partial, by=keyfn).items():  # type: ignore[arg-type]
            if key in seen:  # a source that is a whole data set ("jbb") is already in the data set's rows
                continue
            seen.add(key)
            scope, split = key.split("|")
            rows.append({"judge": name, "partial": partial, "scope": scope, "split": split, **_metric_dict(m)})
    return rows


def _accuracies(
    judge: str, items: Sequence[LabelledItem], preds: Sequence[Prediction], model: str | None
) -> list[JudgeAccuracy]:
    """Held-out confusion counts for the correction: JBB for attack success, XSTest for over-refusal.

    Held-out only, because the rules were written while reading the dev half. Unscorable items are left out,
    as they are left out of the rates being corrected.
    """
    out = []
    for metric, source, what in (
        ("attack_success", lambda i: i.source == "jbb", "JailbreakBench judge set (classifier_comparison.csv), "
         "held-out split; positive = jailbroken by human majority"),
        ("over_refusal", lambda i: i.source.startswith("xstest/"), "XSTest v2 completions (3 models, safe and "
         "contrast prompts), held-out split; positive = full or partial refusal by the human label"),
    ):  # fmt: skip
        held = [i for i in items if source(i) and i.split == "heldout"]
        m = evaluate(held, preds, by=lambda i: "all")["all"]
        out.append(JudgeAccuracy(judge, metric, tp=m.tp, fn=m.fn, tn=m.tn, fp=m.fp, calibration_set=what, model=model))
    return out


def _dataset(item: LabelledItem) -> str:
    return item.source.split("/")[0]


def _dev_studies(items: Sequence[LabelledItem]) -> list[dict[str, Any]]:
    """The rules' thresholds chosen by grouped 5-fold cross-validation on the development items only: the harmful
    ones, since both checks act only on answers to harmful requests."""
    dev = [i for i in items if i.split == "dev" and not i.benign]
    out = []
    print("\nthresholds chosen on the harmful development items (grouped 5-fold CV; out-of-fold agreement/strict):")
    for option, grid, criteria, shipped in DEV_STUDIES:
        for criterion, study in study_threshold(dev, grid, option, criteria).items():
            per_set = evaluate(dev, study.out_of_fold, by=_dataset)
            figures = {
                k: {"agreement": m.agreement.k, "strict": m.strict_agreement.k, "n": m.n} for k, m in per_set.items()
            }
            shown = ", ".join(f"{k} {v['agreement']}/{v['strict']} of {v['n']}" for k, v in figures.items())
            note = "" if criterion != criteria[0] or study.chosen == shipped else f"  [shipped value {shipped} differs]"
            print(f"  {option} ({criterion}): chosen {study.chosen}, per fold {study.per_fold}; {shown}{note}")
            out.append({"option": option, "criterion": criterion, "chosen": study.chosen, "per_fold": study.per_fold,
                        "shipped": shipped, "out_of_fold": figures})  # fmt: skip
    return out


def _families(path: Path, splits: Sequence[str]) -> list[dict[str, Any]]:
    """Per family and split: exact agreement with the human outcome, and the binary figures (positive = unsafe
    for a harmful request, refused for a benign one)."""
    from tianping.safety.calibration_families import FAMILIES, family_metrics, judge_family_items, load_families

    fam_items = [i for i in load_families(path) if i.split in splits or "all" in splits]
    outcomes = judge_family_items(fam_items)
    rows = []
    for family in FAMILIES:
        for split in splits:
            its = [i for i in fam_items if i.family == family and split in (i.split, "all")]
            f = family_metrics(its, outcomes)
            rows.append({"family": family, "split": split, "exact": f.exact, "n": f.n, **_metric_dict(f.binary)})
    print(f"\n{'family':<28}{'split':<9}{'exact':<16}{'binary agreement':<22}{'sensitivity':<22}specificity")
    for r in rows:
        print(
            f"{r['family']:<28}{r['split']:<9}{r['exact']:>3}/{r['n']:<3} {100 * r['exact'] / r['n']:5.1f}%  "
            f"{_fmt(r['agreement']):<22}{_fmt(r['sensitivity']):<22}{_fmt(r['specificity'])}"
        )
    return rows


def _metric_dict(m: Metrics) -> dict[str, Any]:
    return m.as_dict()


def _paired(
    name_a: str, a: Sequence[Prediction], name_b: str, b: Sequence[Prediction], items: Sequence[LabelledItem]
) -> dict[str, Any]:
    """Paired comparison of two judges' per-item correctness (exact McNemar), on the items both scored."""
    from tianping.scoring.stats import paired_compare

    pa, pb = {p.item_id: p.positive for p in a}, {p.item_id: p.positive for p in b}
    both = [i for i in items if i.item_id in pa and i.item_id in pb]
    # unscorable counts as wrong here (the strict convention), so abstaining cannot win a comparison
    ca = [float(pa[i.item_id] is not None and pa[i.item_id] == i.gold()) for i in both]
    cb = [float(pb[i.item_id] is not None and pb[i.item_id] == i.gold()) for i in both]
    c = paired_compare(ca, cb)
    return {
        "a": name_a,
        "b": name_b,
        "n": c.n,
        "acc_a": c.mean_a,
        "acc_b": c.mean_b,
        "diff": c.diff,
        "ci": [c.ci_low, c.ci_high],
        "p_value": c.p_value,
        "b_better": c.b_better,
        "a_better": c.a_better,
    }


def _fmt(rate: dict[str, Any]) -> str:
    if rate["value"] is None:
        return "n/a"
    return f"{100 * rate['value']:5.1f}% [{100 * rate['low']:4.1f},{100 * rate['high']:5.1f}]"


def _print(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'judge':<26}{'partial':<11}{'scope':<24}{'split':<8}{'n':>5}  {'agreement':<22}{'strict':<22}"
        f"{'sensitivity':<22}{'specificity':<22}tp/fp/tn/fn/unsc"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['judge']:<26}{r['partial']:<11}{r['scope']:<24}{r['split']:<8}{r['n']:>5}  "
            f"{_fmt(r['agreement']):<22}{_fmt(r['strict_agreement']):<22}{_fmt(r['sensitivity']):<22}"
            f"{_fmt(r['specificity']):<22}{r['tp']}/{r['fp']}/{r['tn']}/{r['fn']}/"
            f"{r['unscorable_pos'] + r['unscorable_neg']}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="datasets root holding safety/")
    parser.add_argument("--judge-model", default=None, help="LLM judge as openai/NAME (needs --base-url)")
    parser.add_argument("--base-url", default=None, help="OpenAI-compatible API root, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--api-key-env", default="OPENAI_API_KEY")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-learned", action="store_true", help="skip the scikit-learn yardstick")
    parser.add_argument("--json", type=Path, default=None, help="write the table (and run facts) here")
    parser.add_argument("--families", type=Path, default=FAMILY_FILE, help="hand-labelled families (JSON lines)")
    parser.add_argument("--judge-preset", default="tianping", choices=PRESETS, help="how the LLM judge is asked")
    parser.add_argument(
        "--write-calibration",
        type=Path,
        nargs="?",
        const=CALIBRATION_PATH,
        default=None,
        help="write held-out Se/Sp for the judge-error correction [default path: the packaged file]",
    )
    parser.add_argument("--dev-only", action="store_true", help="score the development half only (for tuning)")
    args = parser.parse_args(argv)
    if args.dev_only and args.write_calibration is not None:
        parser.error("--write-calibration needs the held-out figures: leave out --dev-only")
    if bool(args.judge_model) != bool(args.base_url):
        parser.error("--judge-model and --base-url go together")
    if args.judge_model and not args.judge_model.startswith("openai/"):
        parser.error("--judge-model must look like openai/NAME")

    started = time.perf_counter()
    items = load_all(args.data_dir)
    if args.dev_only:
        items = [i for i in items if i.split == "dev"]
    # the threshold studies, the stored votes and the learned yardstick are about JBB (English, with stored votes);
    # JADE joins the rules' and the baseline's rows
    harm = [i for i in items if i.source == "jbb"]
    refusal = [i for i in items if i.task == "refusal"]
    judges: list[tuple[str, Sequence[LabelledItem], list[Prediction]]] = [
        ("rules", items, predict_with_judge(items)),
        ("keyword-baseline", items, keyword_baseline(items)),
    ]
    judges += [(f"stored:{c}", harm, _stored(harm, c)) for c in ("GCG", "TDC", "llama_guard", "gpt_4")]
    # the one fitted knob of the rules, the off-topic threshold: the alternative setting, and grouped 5-fold
    # estimates of the whole procedure "choose the threshold on 4 folds, apply it to the 5th", once maximising
    # strict agreement (abstaining counts as wrong) and once lenient agreement (abstaining counts as "not unsafe")
    option = predict_with_judge(harm, min_topic_overlap=OFF_TOPIC_OPTION)
    judges.append((f"rules(off-topic {OFF_TOPIC_OPTION})", harm, option))
    chosen: dict[str, list[float]] = {}
    for criterion in ("strict", "lenient"):
        cv_preds, chosen[criterion] = cross_validate_threshold(harm, OVERLAP_GRID, criterion=criterion)
        judges.append((f"rules(cv t, {criterion})", harm, cv_preds))
    if not args.no_learned and not args.dev_only:
        from tianping.safety.judge_learned import cross_validated, train_dev_predict_heldout

        for task_items in (harm, refusal):
            judges.append(("learned(dev->heldout)", task_items, train_dev_predict_heldout(task_items)))
            judges.append(("learned(5-fold cv)", task_items, cross_validated(task_items)))
    llm_preds: list[Prediction] = []
    if args.judge_model:
        from tianping.models.openai_api import OpenAIChatBackend

        backend = OpenAIChatBackend(
            model=args.judge_model.removeprefix("openai/"),
            base_url=args.base_url,
            api_key_env=args.api_key_env,
            concurrency=args.concurrency,
        )
        llm_preds = predict_with_judge(items, backend, args.concurrency, judge_preset=args.judge_preset)
        judges.append((f"llm:{args.judge_model}", items, llm_preds))

    rows: list[dict[str, Any]] = []
    for name, its, preds in judges:
        rows += _rows(name, its, preds, "refusal")
        if any(i.task == "refusal" for i in its):
            rows += [r for r in _rows(name, [i for i in its if i.task == "refusal"], preds, "compliance")]
    _print(rows)
    comparisons = []
    by_name = {
        (name, _dataset(its[0]) if len({_dataset(i) for i in its}) == 1 else "all"): preds
        for name, its, preds in judges
    }
    rules_preds = by_name[("rules", "all")]
    for task, task_items in () if args.dev_only else (("jbb", harm), ("xstest", refusal)):
        held = [i for i in task_items if i.split == "heldout"]
        baseline = by_name[("keyword-baseline", "all")]
        comparisons.append(_paired("rules", rules_preds, "keyword-baseline", baseline, held))
        if ("learned(dev->heldout)", task) in by_name:
            comparisons.append(
                _paired("rules", rules_preds, "learned(dev->heldout)", by_name[("learned(dev->heldout)", task)], held)
            )
    print("\npaired comparisons on held-out items (strict correctness, exact McNemar):")
    for c in comparisons:
        print(
            f"  {c['a']} {100 * c['acc_a']:.1f}% vs {c['b']} {100 * c['acc_b']:.1f}% on n={c['n']}: "
            f"diff {100 * c['diff']:+.1f} pts [{100 * c['ci'][0]:+.1f}, {100 * c['ci'][1]:+.1f}], "
            f"p={c['p_value']:.3f}"
        )
    facts = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "machine": f"{platform.node()} {platform.platform()} python {platform.python_version()} cpus={os.cpu_count()}",
        "seconds": round(time.perf_counter() - started, 1),
        "items": len(items),
        "cv_chosen_off_topic_thresholds": chosen,
    }
    facts["dev_threshold_studies"] = _dev_studies(items)
    splits = ("dev",) if args.dev_only else ("dev", "heldout", "all")
    family_rows = _families(args.families, splits) if args.families.is_file() else []
    print(json.dumps(facts))
    if args.write_calibration is not None:
        entries = _accuracies("rules", items, rules_preds, None)
        if args.judge_model:
            entries += _accuracies(args.judge_preset, items, llm_preds, args.judge_model)
        stamp = {"command": facts["command"], "machine": facts["machine"], "date": time.strftime("%Y-%m-%d")}
        print(f"calibration written to {write_calibration(entries, stamp, args.write_calibration)}")
    if args.json:
        out = {"facts": facts, "rows": rows, "paired": comparisons, "families": family_rows}
        args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
