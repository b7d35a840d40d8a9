"""Record the golden checks: score the recorded model outputs with the current code and pin the results.

    python tests/golden/record.py                  # re-record every golden file
    python tests/golden/record.py mmlu gsm8k       # only these benchmarks
    python tests/golden/record.py --check          # report what moved, write nothing (exit 1 if anything did)
    python tests/golden/record.py --init NAME      # a skeleton for a new benchmark: write its outputs, then record

Each bundled benchmark has ``tests/golden/<benchmark>.json``::

    {"benchmark": "mmlu", "version": "1.0",
     "samples": [{"id": "anatomy/0",
                  "prompt_sha256": "<Request.key of the rendered request for model openai/golden>",
                  "outputs": ["<recorded model output>", ...],
                  "expected": {"value": 1.0, "status": "scored", "extracted": "A",
                               "extraction_failed": false, "metrics": {}, "weights": {}}}],
     "aggregate": {"accuracy": 0.5}}

``outputs`` are written by hand and never touched by this script; one sample's outputs are the completions
of one response (one for n = 1, several for pass@k). An output is either the message content as a server
returns it (a string; ``<think>`` blocks are split off as the backend does) or an object
``{"content": ..., "reasoning": ..., "finish_reason": ...}`` for a reasoning field or a cut-off answer; a
log-likelihood benchmark's one output is ``{"loglikelihoods": [...]}``, the log-likelihood of each choice.
Everything else -- ``version``, ``prompt_sha256``, ``expected`` and ``aggregate`` -- is computed here.

Re-recording is the deliberate way to accept a change of prompts, extraction or scoring: run it, read the
diff of the golden files, and commit them with the change that moved them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

GOLDEN_DIR = Path(__file__).resolve().parent
REPO = GOLDEN_DIR.parent.parent
DATA_DIR = Path(os.environ.get("TIANPING_DATA_DIR") or REPO.parent / "shared" / "datasets").resolve()
MODEL_ID = "openai/golden"
RECORD_CMD = "python tests/golden/record.py"
SCORE_FIELDS = ("value", "status", "extracted", "extraction_failed", "metrics", "weights")


def golden_path(name: str) -> Path:
    return GOLDEN_DIR / f"{name}.json"


def golden_names() -> list[str]:
    return sorted(p.stem for p in GOLDEN_DIR.glob("*.json"))


def read_golden(name: str) -> dict[str, Any]:
    return json.loads(golden_path(name).read_text(encoding="utf-8"))


def write_golden(name: str, golden: dict[str, Any]) -> None:
    text = json.dumps(golden, indent=2, ensure_ascii=False) + "\n"
    golden_path(name).write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# scoring the recorded outputs


def load_benchmark(name: str, data_dir: Path = DATA_DIR) -> Any:
    from tianping.benchmarks.registry import build

    (bench,) = build(name, data_dir)
    return bench.load()


def prompt_key(bench: Any, sample: Any) -> str:
    return bench.build_request(sample, MODEL_ID, bench.generation).key


def response_for(outputs: list[Any]) -> Any:
    """The Response a backend would have made of these outputs (reasoning split off as it does)."""
    from tianping.core import Response
    from tianping.models.reasoning import split_reasoning

    # a log-likelihood benchmark's answer: one log-likelihood per choice, {"loglikelihoods": [-1.5, -3.2, ...]}
    if len(outputs) == 1 and isinstance(outputs[0], dict) and "loglikelihoods" in outputs[0]:
        from tianping.core import LogLikelihood

        scored = tuple(LogLikelihood(float(lp), False, 1) for lp in outputs[0]["loglikelihoods"])
        return Response(completions=(), latency_s=0.0, loglikelihoods=scored)
    completions = []
    for out in outputs:
        if isinstance(out, str):
            completions.append(split_reasoning(out, None, "stop"))
        else:
            completions.append(split_reasoning(out.get("content"), out.get("reasoning"), out.get("finish_reason")))
    return Response(completions=tuple(completions), latency_s=0.0)


def score_fields(score: Any) -> dict[str, Any]:
    return {
        "value": score.value,
        "status": score.status,
        "extracted": score.extracted,
        "extraction_failed": score.extraction_failed,
        "metrics": dict(sorted(score.metrics.items())),
        "weights": dict(sorted(score.weights.items())),
    }


class SandboxMissing(Exception):
    """The benchmark runs model-written code and no isolating sandbox is available here."""


def make_sandbox() -> Any:
    try:
        from tianping.scoring.sandbox import Sandbox, SandboxUnavailable, isolation_mechanism
    except ImportError as exc:
        raise SandboxMissing(f"tianping.scoring.sandbox cannot be imported ({exc})") from None
    if isolation_mechanism() is None:
        raise SandboxMissing("no sandbox isolation mechanism (bubblewrap) on this machine")
    try:
        # the programs mostly wait on process start-up, so more of them at a time than there are cores
        return Sandbox(max_parallel=max(8, os.cpu_count() or 1))
    except SandboxUnavailable as exc:
        raise SandboxMissing(str(exc)) from None


async def _score_all(bench: Any, items: list[tuple[Any, list[Any]]]) -> list[Any]:
    from tianping.benchmarks.scorers import ScoringContext

    sandbox = make_sandbox() if bench.needs_sandbox else None
    try:
        context = ScoringContext(sandbox=sandbox)
        return list(await asyncio.gather(*(bench.ascore(s, response_for(outs), context) for s, outs in items)))
    finally:
        close = getattr(sandbox, "aclose", None) or getattr(sandbox, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result


def score_outputs(bench: Any, items: list[tuple[Any, list[Any]]]) -> list[dict[str, Any]]:
    """Score fields of each (sample, outputs); raises SandboxMissing for code benchmarks without isolation."""
    return [score_fields(s) for s in asyncio.run(_score_all(bench, items))]


def aggregate_of(name: str, fields: Iterable[dict[str, Any]], metric_name: str) -> dict[str, float | None]:
    """The overall score of every metric, as the engine aggregates stored rows."""
    from tianping.engine.aggregate import aggregate

    rows = [
        {
            "model": MODEL_ID,
            "benchmark": name,
            "status": f["status"],
            "score": f["value"],
            "extraction_failed": f["extraction_failed"],
            "metrics": f["metrics"],
            "metric_weights": f["weights"],
            "meta": {},
        }
        for f in fields
    ]
    out = {
        r["metric"]: r["score"] for r in aggregate(rows, {name: {"metric": metric_name}}) if r["group_kind"] == "all"
    }
    return dict(sorted(out.items()))


def samples_by_id(bench: Any, golden: dict[str, Any]) -> dict[str, Any]:
    """The benchmark's samples named in the golden file; raises KeyError naming the missing ones."""
    by_id = {s.id: s for s in bench.samples}
    missing = [g["id"] for g in golden["samples"] if g["id"] not in by_id]
    if missing:
        raise KeyError(f"samples {missing} of {golden_path(golden['benchmark']).name} are not in the dataset")
    return {g["id"]: by_id[g["id"]] for g in golden["samples"]}


def fresh_prompts(bench: Any, golden: dict[str, Any]) -> dict[str, Any]:
    """The version and prompt hashes of the golden file's samples as the current code renders them."""
    found = samples_by_id(bench, golden)
    samples = [{"id": g["id"], "prompt_sha256": prompt_key(bench, found[g["id"]])} for g in golden["samples"]]
    return {"version": bench.version, "samples": samples}


def record(name: str, bench: Any = None, golden: dict[str, Any] | None = None) -> dict[str, Any]:
    """The golden file of ``name`` with every computed field recomputed from its outputs.

    Raises SandboxMissing for a code benchmark where programs cannot be run isolated.
    """
    golden = read_golden(name) if golden is None else golden
    bench = load_benchmark(name) if bench is None else bench
    empty = [g["id"] for g in golden["samples"] if not g.get("outputs")]
    if empty:
        raise ValueError(f"{golden_path(name).name}: samples {empty} have no outputs yet; write them first")
    found = samples_by_id(bench, golden)
    fields = score_outputs(bench, [(found[g["id"]], g["outputs"]) for g in golden["samples"]])
    samples = [
        {"id": g["id"], "prompt_sha256": prompt_key(bench, found[g["id"]]), "outputs": g["outputs"], "expected": f}
        for g, f in zip(golden["samples"], fields, strict=True)
    ]
    return {
        "benchmark": name,
        "version": bench.version,
        "samples": samples,
        "aggregate": aggregate_of(name, fields, bench.metric_name),
    }


def init(name: str, count: int) -> None:
    """A skeleton golden file: ``count`` samples spread across subjects, outputs left to be written."""
    if golden_path(name).exists():
        raise SystemExit(f"{golden_path(name)} exists already")
    from tianping.benchmarks.registry import build

    (bench,) = build(name, DATA_DIR)
    ids = [s.id for s in bench.load(limit=count).samples]
    golden = {"benchmark": name, "version": bench.version, "samples": [{"id": i, "outputs": []} for i in ids]}
    write_golden(name, golden)
    print(f"wrote {golden_path(name)}: write realistic model outputs for each sample, then run {RECORD_CMD} {name}")


# --------------------------------------------------------------------------------------------------
# comparing a golden file with a fresh recording (used by tests/test_golden.py and --check)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float | int) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, int | float) and isinstance(b, float) and not isinstance(a, bool):
        return _same(b, a)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def prompt_diffs(golden: dict[str, Any], fresh: dict[str, Any]) -> list[str]:
    out = []
    if golden.get("version") != fresh["version"]:
        out.append(f"benchmark version changed: pinned {golden.get('version')!r}, now {fresh['version']!r}")
    now = {s["id"]: s["prompt_sha256"] for s in fresh["samples"]}
    for g in golden["samples"]:
        if g.get("prompt_sha256") != now[g["id"]]:
            out.append(f"sample {g['id']}: rendered prompt changed (sha256 {g.get('prompt_sha256')} -> {now[g['id']]})")
    return out


def score_diffs(golden: dict[str, Any], fresh: dict[str, Any]) -> list[str]:
    out = []
    now = {s["id"]: s["expected"] for s in fresh["samples"]}
    for g in golden["samples"]:
        pinned = g.get("expected") or {}
        moved = [
            f"sample {g['id']}: {key} moved: pinned {pinned.get(key)!r}, now {now[g['id']][key]!r}"
            for key in SCORE_FIELDS
            if key not in pinned or not _same(pinned[key], now[g["id"]][key])
        ]
        if moved:
            out.extend(moved)
            out.append(f"    its output ends: {_tail(g.get('outputs') or [])!r}")
    return out


def _tail(outputs: list[Any], width: int = 100) -> str:
    """The end of the first output, where the answer usually is."""
    first = outputs[0] if outputs else ""
    text = (first.get("content") or "") if isinstance(first, dict) else first
    return text if len(text) <= width else "..." + text[-width:]


def aggregate_diffs(golden: dict[str, Any], fresh: dict[str, Any]) -> list[str]:
    pinned, now = golden.get("aggregate") or {}, fresh["aggregate"]
    return [
        f"aggregate {metric} moved: pinned {pinned.get(metric)!r}, now {now.get(metric)!r}"
        for metric in sorted({*pinned, *now})
        if metric not in pinned or metric not in now or not _same(pinned[metric], now[metric])
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmarks", nargs="*", help="benchmarks to record (default: every golden file)")
    parser.add_argument("--check", action="store_true", help="report differences, write nothing")
    parser.add_argument("--init", metavar="NAME", help="write a skeleton golden file for a new benchmark")
    parser.add_argument("--count", type=int, default=12, help="samples in an --init skeleton (default 12)")
    args = parser.parse_args(argv)
    if args.init:
        init(args.init, args.count)
        return 0
    names = args.benchmarks or golden_names()
    missing = [n for n in names if not golden_path(n).exists()]
    if missing:
        print(f"no golden file for {', '.join(missing)}: start one with {RECORD_CMD} --init NAME", file=sys.stderr)
        return 2
    status = 0
    for name in names:
        try:
            fresh = record(name)
        except SandboxMissing as exc:
            print(f"{name}: skipped, {exc}", file=sys.stderr)
            continue
        except (KeyError, ValueError) as exc:
            print(f"{name}: {exc.args[0] if exc.args else exc}", file=sys.stderr)
            status = 2
            continue
        golden = read_golden(name)
        diffs = prompt_diffs(golden, fresh) + score_diffs(golden, fresh) + aggregate_diffs(golden, fresh)
        if args.check:
            print(f"{name}: {'unchanged' if not diffs else f'{len(diffs)} differences'}")
            for line in diffs:
                print(f"  {line}")
            status = 1 if diffs else status
            continue
        write_golden(name, fresh)
        if not all("expected" in g for g in golden["samples"]):
            print(f"{name}: recorded {len(fresh['samples'])} samples, aggregate {fresh['aggregate']}")
        else:
            print(
                f"{name}: {'unchanged' if not diffs else f'recorded, {len(diffs)} fields changed'}", *diffs, sep="\n  "
            )
    return status


if __name__ == "__main__":
    sys.exit(main())
