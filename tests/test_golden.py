"""Golden checks: every bundled benchmark scores a fixed set of recorded model outputs to pinned numbers.

``tests/golden/<benchmark>.json`` holds 10-16 samples of the benchmark (ids from the real data) with model
outputs written in the styles real chat models answer in: correct with reasoning, terse, wrong, markdown
bold, ``\\boxed{}``, Chinese phrasing, refusals, ``<think>`` blocks and reasoning cut off by the token
limit; for code benchmarks reference solutions in a fence, wrong programs and answers without code; for
IFEval responses that follow some instructions and not others. Pinned with them:

- ``prompt_sha256``: the key of the request each sample renders to (model ``openai/golden``), so that any
  change of a template, of few-shot selection or of generation parameters fails here;
- ``expected``: the fields of each sample's Score (value, status, extracted answer, extraction failure,
  further metrics and their weights), so that a change of extraction or scoring fails here;
- ``aggregate``: every overall metric as the engine aggregates the samples.

A failure names the benchmark, the sample and the field that moved. When the move is intended (a better
prompt, a fixed extractor), re-record the pins and review the diff before committing it with the change::

    python tests/golden/record.py ceval            # one benchmark (several may be named; none = all)
    python tests/golden/record.py --check          # only report what moved
    git diff tests/golden/

A new benchmark needs a golden file before this module passes::

    python tests/golden/record.py --init NAME      # a skeleton with samples spread across subjects
    # write realistic model outputs into tests/golden/NAME.json, then
    python tests/golden/record.py NAME

Code benchmarks run their programs in the sandbox and are skipped where it has no isolation (bubblewrap).
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tianping.benchmarks.registry import builtin_definitions

_RECORD_PATH = Path(__file__).resolve().parent / "golden" / "record.py"
_spec = importlib.util.spec_from_file_location("tianping_golden_record", _RECORD_PATH)
assert _spec is not None and _spec.loader is not None
record = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = record
_spec.loader.exec_module(record)

BENCHMARKS = sorted(builtin_definitions())
MIN_SAMPLES = 5


def _how_to_record(name: str) -> str:
    return (
        f"if the change is intended, re-record with `{record.RECORD_CMD} {name}` and review "
        f"`git diff tests/golden/{name}.json` before committing it"
    )


def _golden(name: str) -> dict[str, Any]:
    path = record.golden_path(name)
    if not path.exists():
        pytest.skip(f"no golden file {path.name} (reported by test_golden_file[{name}])")
    return record.read_golden(name)


@cache
def _bench(name: str, data_dir: Path) -> Any:
    return record.load_benchmark(name, data_dir)


@cache
def _recorded(name: str, data_dir: Path) -> dict[str, Any]:
    """The golden file as the current code would record it (scored once per session)."""
    return record.record(name, bench=_bench(name, data_dir), golden=record.read_golden(name))


def _fresh_scores(name: str, data_dir: Path) -> dict[str, Any]:
    try:
        return _recorded(name, data_dir)
    except record.SandboxMissing as exc:
        pytest.skip(f"{name} runs model-written code: {exc}")
    except KeyError as exc:
        pytest.fail(f"{name}: {exc.args[0]}; pick other sample ids in tests/golden/{name}.json and re-record")


def _fail(name: str, what: str, diffs: list[str]) -> None:
    if diffs:
        lines = "\n  ".join(diffs)
        pytest.fail(f"{name}: {what}:\n  {lines}\n{_how_to_record(name)}", pytrace=False)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_golden_file(name: str) -> None:
    """Every bundled benchmark has a well-formed golden file whose samples tell right from wrong."""
    path = record.golden_path(name)
    if not path.exists():
        pytest.fail(
            f"benchmark '{name}' has no golden file {path.relative_to(record.REPO)}: create one with "
            f"`{record.RECORD_CMD} --init {name}`, write realistic model outputs for its samples, then record "
            f"the pins with `{record.RECORD_CMD} {name}`",
            pytrace=False,
        )
    golden = record.read_golden(name)
    assert golden.get("benchmark") == name, f"{path.name} names benchmark {golden.get('benchmark')!r}"
    samples = golden.get("samples") or []
    assert len(samples) >= MIN_SAMPLES, f"{path.name}: {len(samples)} samples, want at least {MIN_SAMPLES}"
    ids = [s.get("id") for s in samples]
    assert len(set(ids)) == len(ids), f"{path.name}: duplicate sample ids"
    unrecorded = [s.get("id") for s in samples if not s.get("outputs") or "expected" not in s]
    assert not unrecorded, (
        f"{path.name}: samples {unrecorded} have no outputs or no pinned score; write the outputs and run "
        f"`{record.RECORD_CMD} {name}`"
    )
    for s in samples:
        for out in s["outputs"]:
            assert isinstance(out, str) or (isinstance(out, dict) and ("content" in out or "loglikelihoods" in out)), (
                f"{path.name}: sample {s['id']}: an output is a string, "
                f"{{'content', 'reasoning', 'finish_reason'}} or {{'loglikelihoods'}}, got {out!r:.80}"
            )
    values = [s["expected"]["value"] for s in samples if s["expected"]["status"] == "scored"]
    assert any(v for v in values) and any(v == 0 for v in values), (
        f"{path.name}: the outputs should include both passing and failing answers, got values {values}"
    )
    assert "aggregate" in golden, f"{path.name}: no pinned aggregate; run `{record.RECORD_CMD} {name}`"


@pytest.mark.parametrize("name", BENCHMARKS)
def test_prompts_unchanged(name: str, data_dir: Path) -> None:
    """Each golden sample still renders to the pinned request (template, shots, generation parameters)."""
    golden = _golden(name)
    try:
        fresh = record.fresh_prompts(_bench(name, data_dir), golden)
    except KeyError as exc:
        pytest.fail(f"{name}: {exc.args[0]}; pick other sample ids in tests/golden/{name}.json and re-record")
    _fail(name, "the rendered prompts moved", record.prompt_diffs(golden, fresh))


@pytest.mark.parametrize("name", BENCHMARKS)
def test_scores_unchanged(name: str, data_dir: Path) -> None:
    """Each recorded output still gets the pinned score, status, extracted answer and metrics."""
    golden = _golden(name)
    _fail(name, "per-sample scores moved", record.score_diffs(golden, _fresh_scores(name, data_dir)))


@pytest.mark.parametrize("name", BENCHMARKS)
def test_aggregate_unchanged(name: str, data_dir: Path) -> None:
    """The benchmark's overall metrics over the golden samples equal the pinned ones."""
    golden = _golden(name)
    _fail(name, "the aggregate moved", record.aggregate_diffs(golden, _fresh_scores(name, data_dir)))


def test_no_golden_file_without_a_benchmark() -> None:
    stale = sorted(set(record.golden_names()) - set(BENCHMARKS))
    assert not stale, (
        f"golden files without a bundled benchmark: {', '.join(f'tests/golden/{n}.json' for n in stale)}; "
        "delete them (or rename them with the benchmark)"
    )


def test_a_moved_score_fails_with_the_sample_and_field(data_dir: Path) -> None:
    """The comparison itself: an edited pin is reported with its sample, field and both values."""
    golden = record.read_golden("gsm8k")
    fresh = _recorded("gsm8k", data_dir)
    first = golden["samples"][0]
    tampered = {**golden, "samples": [{**first, "expected": {**first["expected"], "value": 0.5}}]}
    tampered["samples"][0]["prompt_sha256"] = "0" * 64
    tampered["aggregate"] = {**golden["aggregate"], "accuracy": 0.0}
    assert record.score_diffs(tampered, fresh) == [
        f"sample {first['id']}: value moved: pinned 0.5, now {first['expected']['value']!r}",
        f"    its output ends: {'...' + first['outputs'][0][-100:]!r}",
    ]
    assert record.prompt_diffs(tampered, fresh)[0].startswith(f"sample {first['id']}: rendered prompt changed")
    assert record.aggregate_diffs(tampered, fresh) == [
        f"aggregate accuracy moved: pinned 0.0, now {golden['aggregate']['accuracy']!r}"
    ]
    assert record.score_diffs(golden, fresh) == []
