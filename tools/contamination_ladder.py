"""Every contamination method measured on the reference models' exposure ladder; writes docs/contamination.md's table.

    python tools/contamination_ladder.py --data-dir /work/shared/datasets            # the bundled models
    python tools/contamination_ladder.py --data-dir D --model hf/<dir>/tp-ref-contaminated \\
        --reference hf/<dir>/tp-ref-clean --exposure <dir>/tp-ref-contaminated/exposure.json --no-write

``tp-ref-contaminated`` saw a seeded half of GSM8K and CMMLU test items 1, 2, 4, 8 or 16 times; the other half
never. For every method and dataset this script scores the items, then for each exposure tier gives the
per-item AUC (tier vs the unseen half) and the one-sided Mann-Whitney p-value of the dataset-level test.

- White-box methods (``loss``, ``zlib``, ``min_k``, ``min_k_pp``, ``ref_ratio``, ``ref_min_k``) run on every
  item. The same single-model methods are also run on ``tp-ref-clean`` itself, which saw no item: its rows are
  the control (AUC near 0.5 everywhere, or the method sees something other than exposure).
- Black-box methods (``guided``, ``ts_guess``, ``perturb``) generate text, hundreds of tokens for a worked
  GSM8K answer, so they run on a seeded subset: ``--black-box-limit`` items of each group (all of a GSM8K
  tier's 131; 160 of each CMMLU tier and of each unseen half by default).
- ``ngram``: the corpus is the contamination phase's own training documents (the exposed items' texts),
  streamed from a JSONL file as a user's corpus would be.

The tables go between the ``<!-- ladder:begin -->`` and ``<!-- ladder:end -->`` markers of
docs/contamination.md, and every figure to docs/contamination_ladder.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tianping.contamination import items as it
from tianping.contamination.blackbox import METHODS as BLACK_BOX
from tianping.contamination.blackbox import Settings, black_box
from tianping.contamination.logprobs import LocalTokens, TokenStats
from tianping.contamination.ngram import BenchmarkIndex, choose_unit
from tianping.contamination.results import ItemResult, dataset_tests
from tianping.contamination.stats import format_p
from tianping.contamination.whitebox import SINGLE_MODEL, white_box

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "contamination.md"
FIGURES = REPO / "docs" / "contamination_ladder.json"
BEGIN, END = "<!-- ladder:begin -->", "<!-- ladder:end -->"
DATASETS = ("gsm8k", "cmmlu")
WHITE_BOX = ("loss", "zlib", "min_k", "min_k_pp", "ref_ratio", "ref_min_k")


class CachedTokens:
    """A token source that scores each text once, with the distribution statistics, and serves both the
    reference role and the control role from that one pass."""

    has_distribution = True

    def __init__(self, inner: LocalTokens):
        self.inner = inner
        self.model_id = inner.model_id
        self.cache: dict[str, TokenStats] = {}

    async def token_stats(self, texts: Sequence[str], *, distribution: bool = False) -> list[TokenStats]:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            for text, stats in zip(missing, await self.inner.token_stats(missing, distribution=True), strict=True):
                self.cache[text] = stats
        return [self.cache[t] for t in texts]

    async def aclose(self) -> None:
        return None


def model_spec(model_id: str) -> Any:
    from tianping.spec import ModelSpec

    return ModelSpec(id=model_id, device="cpu", batch_size=64)


def tiers(tests: list[Any]) -> dict[str, dict[str, Any]]:
    """method -> exposures -> {auc, p, n, n_fresh}."""
    table: dict[str, dict[str, Any]] = {}
    for t in tests:
        r = t.result
        cell = None if r is None else {"auc": r.auc, "p": r.p_value, "n": r.n_candidate, "n_fresh": r.n_fresh}
        table.setdefault(t.method, {})[str(t.exposures)] = cell
    return table


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    exposure = json.loads(Path(args.exposure).read_text("utf-8"))
    target = LocalTokens(model_spec(args.model))
    clean = CachedTokens(LocalTokens(model_spec(args.reference)))
    figures: dict[str, Any] = {"datasets": {}}
    for name in args.datasets:
        started = time.time()
        source = it.Source(name, args.data_dir)
        everything = it.regroup(source.items(), it.ladder_groups(exposure, name, args.exposure), args.exposure)
        everything = it.limit_per_group(everything, args.limit, seed=args.seed)
        design = it.ladder_design(exposure, name)
        print(f"{name}: {len(everything)} items, white-box", flush=True)
        wb = await white_box(everything, target, clean)
        control = await white_box(everything, clean)
        subset = it.limit_per_group(everything, args.black_box_limit, seed=args.seed) if args.black_box_limit else []
        print(f"{name}: black-box on {len(subset)} items", flush=True)
        bb = await run_black_box(args, subset, {name: source}) if subset else []
        print(f"{name}: n-gram", flush=True)
        ng = ngram(everything, exposure, name)
        entry = {
            "items": {g: sum(1 for i in everything if i.group == g) for g in (*design.candidates, design.fresh)},
            "black_box_items": {g: sum(1 for i in subset if i.group == g) for g in (*design.candidates, design.fresh)},
            "white_box": tiers(dataset_tests(wb, design, WHITE_BOX)),
            "control": tiers(dataset_tests(control, design, SINGLE_MODEL)),
            "black_box": tiers(dataset_tests(bb, design, BLACK_BOX)),
            "ngram": tiers(dataset_tests(ng, design, ("ngram",))),
            "seconds": round(time.time() - started),
        }
        entry["ngram_unit"] = ng[0].values.get("unit") if ng else None
        figures["datasets"][name] = entry
    return figures


async def run_black_box(args: argparse.Namespace, subset: list[Any], sources: dict[str, Any]) -> list[ItemResult]:
    from tianping.engine.backends import create_backend

    backend = create_backend(model_spec(args.model))
    try:
        settings = Settings(style="completion", seed=args.seed, in_flight=512)
        return await black_box(subset, backend, args.model, sources, BLACK_BOX, settings)
    finally:
        await backend.aclose()


def ngram(items: list[Any], exposure: dict[str, Any], name: str) -> list[ItemResult]:
    """13-gram overlap with the contamination phase's documents, streamed from a file as a corpus is."""
    exposed = {i for g in exposure["datasets"][name]["groups"] for i in g["ids"]}
    unit = choose_unit(i.text for i in items)
    index = BenchmarkIndex(items, unit)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "exposures.jsonl"
        with corpus.open("w", encoding="utf-8") as fh:
            for item in items:
                if item.id in exposed:
                    fh.write(json.dumps({"text": item.text}, ensure_ascii=False) + "\n")
        index.scan([str(corpus)])
    results = index.results()
    for r in results:
        r.values["unit"] = unit
    return results


ROWS = (
    ("white_box", WHITE_BOX, "tp-ref-contaminated, white-box"),
    ("black_box", BLACK_BOX, "tp-ref-contaminated, black-box (subset)"),
    ("ngram", ("ngram",), "13-gram overlap with the training documents"),
    ("control", SINGLE_MODEL, "control: tp-ref-clean (never saw an item)"),
)


def markdown(figures: dict[str, Any], exposures: list[int]) -> str:
    lines = []
    for name, entry in figures["datasets"].items():
        counts = entry["items"]
        bb = entry["black_box_items"]
        lines.append(f"### {name}")
        lines.append("")
        lines.append(
            f"{sum(counts.values()):,} items: "
            + ", ".join(f"{n} {g}" for g, n in counts.items())
            + f". Black-box subset: {', '.join(f'{n} {g}' for g, n in bb.items())}."
        )
        lines.append("")
        header = "| method | " + " | ".join(f"{n}×" for n in exposures) + " |"
        lines.append(header)
        lines.append("|---|" + "---|" * len(exposures))
        for key, methods, title in ROWS:
            lines.append(f"| *{title}* |" + " |" * len(exposures))
            for method in methods:
                row = entry[key].get(method)
                if row is None:
                    continue
                cells = []
                for n in exposures:
                    cell = row.get(str(n))
                    cells.append("—" if cell is None else f"{cell['auc']:.3f} (p {format_p(cell['p'])})")
                lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def header(figures: dict[str, Any]) -> str:
    return (
        f"Produced by `python tools/contamination_ladder.py` ({figures['model']} against {figures['reference']}; "
        f"{figures['seconds'] / 60:.0f} min on {figures['machine']}). Cells: per-item AUC of the exposed tier "
        "against the unseen half, and the one-sided Mann-Whitney p-value of the dataset-level test."
    )


def write_doc(block: str, meta: str) -> None:
    text = DOC.read_text("utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC}: the markers {BEGIN} and {END} are missing")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{meta}\n\n{block}\n{END}{tail}", "utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("TIANPING_DATA_DIR", "")))
    parser.add_argument("--model", default="ref/tp-ref-contaminated")
    parser.add_argument("--reference", default="ref/tp-ref-clean")
    parser.add_argument("--exposure", help="exposure.json [default: the bundled tp-ref-contaminated's]")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--limit", type=int, help="white-box and n-gram: at most N items a group [default: all]")
    parser.add_argument("--black-box-limit", type=int, default=160, help="items a group; 0 leaves black-box out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print the table, leave the docs alone")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--from-json", type=Path, help="write the docs from the figures of a run (--json)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.exposure is None:
        from tianping.models.hf_load import REFMODELS_DIR

        args.exposure = str(REFMODELS_DIR / "tp-ref-contaminated" / "exposure.json")
    if args.from_json is not None:
        figures = json.loads(args.from_json.read_text("utf-8"))
        figures.setdefault("exposures", json.loads(Path(args.exposure).read_text("utf-8"))["exposure_counts"])
    else:
        started = time.time()
        figures = asyncio.run(measure(args))
        figures.update(
            model=args.model,
            reference=args.reference,
            exposure=os.path.relpath(args.exposure, REPO) if Path(args.exposure).is_absolute() else args.exposure,
            exposures=json.loads(Path(args.exposure).read_text("utf-8"))["exposure_counts"],
            black_box_limit=args.black_box_limit,
            limit=args.limit,
            seed=args.seed,
            seconds=round(time.time() - started),
            machine=f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, {args.threads} threads",
        )
    block = markdown(figures, figures["exposures"])
    meta = header(figures)
    print(block)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=1) + "\n", "utf-8")
    if not args.no_write:
        write_doc(block, meta)
        FIGURES.write_text(json.dumps(figures, indent=1) + "\n", "utf-8")
        print(f"wrote {DOC} and {FIGURES}", file=sys.stderr)


if __name__ == "__main__":
    main()
