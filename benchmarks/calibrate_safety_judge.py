"""Measure the safety judge against human labels (JailbreakBench judge set, XSTest v2 completions).

Prints, per judge, agreement / strict agreement / sensitivity / specificity with Wilson 95% intervals and
confusion counts, for the development half, the held-out half and all items, plus a per-source breakdown.
Judges: the stage-1 rules, a plain refusal-keyword baseline, the stored votes of published judges (JBB only),
a learned TF-IDF classifier (held-out and grouped 5-fold CV), and -- with ``--judge-model`` and
``--base-url`` -- the LLM judge.

    python benchmarks/calibrate_safety_judge.py [--json OUT] [--judge-model openai/NAME --base-url URL]
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
)

REPO = Path(__file__).resolve().parents[1]
OVERLAP_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
OFF_TOPIC_OPTION = 0.4
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
        lambda i: f"{i.source}|all",
    ]
    for keyfn in keys:
        for key, m in evaluate(items, preds, partial=partial, by=keyfn).items():  # type: ignore[arg-type]
            scope, split = key.split("|")
            rows.append({"judge": name, "partial": partial, "scope": scope, "split": split, **_metric_dict(m)})
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
    args = parser.parse_args(argv)
    if bool(args.judge_model) != bool(args.base_url):
        parser.error("--judge-model and --base-url go together")
    if args.judge_model and not args.judge_model.startswith("openai/"):
        parser.error("--judge-model must look like openai/NAME")

    started = time.perf_counter()
    items = load_all(args.data_dir)
    harm = [i for i in items if i.task == "harm"]
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
    if not args.no_learned:
        from tianping.safety.judge_learned import cross_validated, train_dev_predict_heldout

        for task_items in (harm, refusal):
            judges.append(("learned(dev->heldout)", task_items, train_dev_predict_heldout(task_items)))
            judges.append(("learned(5-fold cv)", task_items, cross_validated(task_items)))
    if args.judge_model:
        from tianping.models.openai_api import OpenAIChatBackend

        backend = OpenAIChatBackend(
            model=args.judge_model.removeprefix("openai/"),
            base_url=args.base_url,
            api_key_env=args.api_key_env,
            concurrency=args.concurrency,
        )
        judges.append((f"llm:{args.judge_model}", items, predict_with_judge(items, backend, args.concurrency)))

    rows: list[dict[str, Any]] = []
    for name, its, preds in judges:
        rows += _rows(name, its, preds, "refusal")
        if any(i.task == "refusal" for i in its):
            rows += [r for r in _rows(name, [i for i in its if i.task == "refusal"], preds, "compliance")]
    _print(rows)
    comparisons = []
    by_name = {(name, its[0].task if len({i.task for i in its}) == 1 else "all"): preds for name, its, preds in judges}
    rules_preds = by_name[("rules", "all")]
    for task, task_items in (("harm", harm), ("refusal", refusal)):
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
    print(json.dumps(facts))
    if args.json:
        out = {"facts": facts, "rows": rows, "paired": comparisons}
        args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
