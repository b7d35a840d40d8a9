"""End to end: a tiny random Llama through the engine in loglikelihood mode scores as lm-eval's whole pipeline.

lm-eval's side is its ``ConfigurableTask`` (installed YAMLs, the shared data) feeding its ``HFLM`` on the
same checkpoint, then its ``process_results``; ours is ``tianping run --mode loglikelihood`` with the
``hf/<path>`` backend. Per document the acc/acc_norm must agree, and the log-likelihoods to float tolerance.
MMLU 5-shot overflows the tiny model's 256-token window, so left truncation is part of what is compared.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

pytest.importorskip("tianping.models.hf_local", reason="the transformers backend (hf/<path>) is not available")
pytest.importorskip("lm_eval", reason="lm-eval is not installed: nothing to compare with")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
try:  # HFLM needs lm-eval's "hf" extra (accelerate) besides lm_eval itself
    from lm_eval.models.huggingface import HFLM
except ImportError as exc:  # pragma: no cover
    pytest.skip(f"lm-eval's HFLM is not importable ({exc})", allow_module_level=True)

from hf_fixtures import tiny_model_dir  # noqa: E402, F401 - a fixture
from test_loglikelihood_lmeval_parity import TASKS, arc_docs, lm_eval_arc, lm_eval_task, mmlu_docs  # noqa: E402
from tianping.engine.runner import Runner, start_run  # noqa: E402
from tianping.spec import ModelSpec, RunSpec  # noqa: E402
from tianping.store import Store  # noqa: E402


def run_ours(tmp_path: Path, model_dir: Path, data_dir: Path, benchmark: str, limit: int) -> dict[str, dict]:
    spec = RunSpec(
        models=[ModelSpec(id=f"hf/{model_dir}", device="cpu", batch_size=8, concurrency=8)],
        benchmarks=[benchmark],
        data_dir=str(data_dir),
        limit=limit,
        mode="loglikelihood",
    )
    store = Store.open(tmp_path / benchmark)
    run_id = start_run(store, spec)
    result = asyncio.run(Runner(spec, store, run_id).execute())
    assert result.status == "completed" and result.sent == limit, result.message
    metrics = {a["metric"] for a in store.aggregates(run_id) if a["group_kind"] == "all"}
    assert metrics == {"acc", "acc_norm"}
    return {r["sample_id"]: r for r in store.sample_rows(run_id)}


def lm_eval_scores(task, hflm: HFLM, docs: list[dict], shots: int) -> list[tuple[list[float], dict]]:
    """lm-eval's log-likelihoods (one HFLM call for all documents) and its per-document metrics."""
    per_doc = [task.construct_requests(doc, task.fewshot_context(doc, num_fewshot=shots)) for doc in docs]
    results = iter(hflm.loglikelihood([i for instances in per_doc for i in instances], disable_tqdm=True))
    out = []
    for doc, instances in zip(docs, per_doc, strict=True):
        mine = [next(results) for _ in instances]
        out.append(([r[0] for r in mine], task.process_results(doc, mine)))
    return out


def assert_same(ours: dict, expected_lls: list[float], expected: dict) -> None:
    got = json.loads(ours["output"])
    assert got == pytest.approx(expected_lls, abs=2e-4), ours["sample_id"]
    ranked = sorted(expected_lls, reverse=True)
    if ranked[0] - ranked[1] > 1e-3:  # a near tie may flip with float summation order; a clear one may not
        assert ours["metrics"]["acc"] == expected["acc"], ours["sample_id"]
    if "acc_norm" in expected:
        assert ours["metrics"]["acc_norm"] == expected["acc_norm"], ours["sample_id"]


@pytest.fixture(scope="module")
def hflm(tiny_model_dir: Path) -> HFLM:  # noqa: F811
    return HFLM(pretrained=str(tiny_model_dir), device="cpu", batch_size=16, dtype="float32")


def test_arc_challenge_scores_as_lm_eval_with_hflm(tmp_path, tiny_model_dir, data_dir, hflm):  # noqa: F811
    ours = run_ours(tmp_path, tiny_model_dir, data_dir, "arc_challenge", limit=16)
    docs = [d for d in arc_docs(data_dir / "arc" / "ARC-Challenge" / "ARC-Challenge-Test.jsonl") if d["id"] in ours]
    assert len(docs) == 16
    task = lm_eval_arc("arc_challenge", "ARC-Challenge", docs, data_dir)
    for doc, (lls, expected) in zip(docs, lm_eval_scores(task, hflm, docs, 0), strict=True):
        assert_same(ours[doc["id"]], lls, expected)


def test_mmlu_five_shot_scores_as_lm_eval_with_hflm(tmp_path, tiny_model_dir, data_dir, hflm):  # noqa: F811
    ours = run_ours(tmp_path, tiny_model_dir, data_dir, "mmlu_5shot", limit=4)
    for sample_id, row in ours.items():
        subject, index = sample_id.split("/")
        test = mmlu_docs(data_dir / "mmlu" / "test" / f"{subject}_test.csv", subject)
        dev = mmlu_docs(data_dir / "mmlu" / "dev" / f"{subject}_dev.csv", subject)
        task = lm_eval_task(TASKS / "mmlu" / "default" / f"mmlu_{subject}.yaml", {"test": test, "dev": dev})
        ((lls, expected),) = lm_eval_scores(task, hflm, [test[int(index)]], 5)
        assert_same(row, lls, {"acc": expected["acc"]})
        assert "context cut by" in row["reason"]  # 5 shots do not fit 256 tokens: both sides cut from the left
