"""Parity with lm-evaluation-harness at scale: 500 MMLU (zero-shot, lm-eval's default) and 500 ARC-Challenge
questions on the bundled reference model. (5-shot contexts, where the backend reuses the shared prefix, are
compared with lm-eval on fewer items in ``test_loglikelihood_hf.py`` and pair by pair in
``benchmarks/bench_loglikelihood.py``.)

Our side: the benchmark definitions in log-likelihood mode build the requests (lm-eval's prompts; that the
prompts are lm-eval's own is pinned item by item in ``test_loglikelihood_lmeval_parity.py``), the ``hf``
backend answers them, our scorer computes acc and acc_norm. lm-eval's side: its ``HFLM`` scores the identical
(context, continuation) pairs and its ``process_results`` definition (argmax of the log-likelihoods, of the
log-likelihoods over the choices' character lengths) gives acc and acc_norm. Per pair the log-likelihoods
must agree within 1e-4 (fp32), the greedy flags exactly, and the accuracies must be identical.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="the transformers backend needs torch")
pytest.importorskip("lm_eval", reason="lm-eval is not installed: nothing to compare with")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
try:  # HFLM needs lm-eval's "hf" extra (accelerate)
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM
except ImportError as exc:  # pragma: no cover
    pytest.skip(f"lm-eval's HFLM is not importable ({exc})", allow_module_level=True)

from tianping.benchmarks import registry  # noqa: E402
from tianping.benchmarks.scorers import ScoringContext  # noqa: E402
from tianping.models.hf_load import resolve_ref_model  # noqa: E402
from tianping.models.hf_local import HFLocalBackend  # noqa: E402

QUESTIONS = 500
MODEL = "tp-ref-clean"


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return resolve_ref_model(MODEL)


@pytest.fixture(scope="module")
def hflm(model_dir: Path) -> HFLM:
    return HFLM(pretrained=str(model_dir), device="cpu", batch_size=32, dtype="float32")


async def _ours(model_dir: Path, bench, samples):
    backend = HFLocalBackend(f"ref/{MODEL}", model_dir, device="cpu", batch_size=32)
    try:
        requests = [bench.build_request(s, backend.model_id, bench.generation) for s in samples]
        responses = await asyncio.gather(*(backend.generate(r) for r in requests))
        scores = [await bench.ascore(s, r, ScoringContext()) for s, r in zip(samples, responses, strict=True)]
    finally:
        await backend.aclose()
    return requests, responses, scores


def _lm_eval_metrics(lls: list[float], choices: list[str], gold: int) -> dict[str, float]:
    """lm-eval 0.4.13's multiple-choice process_results: acc by argmax, acc_norm over character lengths."""
    lengths = np.array([float(len(c)) for c in choices])
    return {
        "acc": float(np.argmax(lls) == gold),
        "acc_norm": float(np.argmax(np.array(lls) / lengths) == gold),
    }


@pytest.mark.parametrize("name", ["mmlu", "arc_challenge"])
def test_five_hundred_questions_score_as_lm_eval(name, data_dir, model_dir, hflm):
    (bench,) = registry.build(name, data_dir, mode="loglikelihood")
    bench.load(QUESTIONS)
    samples = list(bench.samples)
    assert len(samples) == QUESTIONS
    requests, responses, scores = asyncio.run(_ours(model_dir, bench, samples))
    instances = [
        Instance("loglikelihood", {}, (r.prompt, c), i) for r in requests for i, c in enumerate(r.continuations)
    ]
    theirs = iter(hflm.loglikelihood(instances, disable_tqdm=True))
    worst = 0.0
    ours_acc, their_acc, ours_norm, their_norm = [], [], [], []
    for sample, request, response, score in zip(samples, requests, responses, scores, strict=True):
        expected = [next(theirs) for _ in request.continuations]
        got = response.loglikelihoods
        for mine, (ll, greedy) in zip(got, expected, strict=True):
            worst = max(worst, abs(mine.logprob - ll))
            assert mine.greedy == greedy, sample.id
        choices = bench.loglikelihood.choices(sample)  # the choice texts, as lm-eval's doc_to_choice gives them
        reference = _lm_eval_metrics([ll for ll, _ in expected], choices, bench.loglikelihood.gold(sample, choices))
        ours_acc.append(score.metrics["acc"])
        ours_norm.append(score.metrics["acc_norm"])
        their_acc.append(reference["acc"])
        their_norm.append(reference["acc_norm"])
    assert worst < 1e-4, f"largest log-likelihood difference {worst:.2e}"
    assert sum(ours_acc) == sum(their_acc) and ours_acc == their_acc
    assert sum(ours_norm) == sum(their_norm) and ours_norm == their_norm
