"""AGIEval log-likelihood parity with lm-evaluation-harness 0.4.13 on the bundled reference model (tp-ref-clean).

Our side: the agieval_* definitions in log-likelihood mode build the requests (that they are lm-eval's own prompts
is pinned on every row in ``test_agieval.py``), the ``hf`` backend answers them, our scorer computes acc and
acc_norm. lm-eval's side: its ``HFLM`` scores the identical (context, continuation) pairs and its AGIEval
``utils.process_results_mcqa`` (acc when the most likely choice is any right one, acc_norm over the choices'
character lengths) scores them. Per pair the log-likelihoods must agree within 1e-4 relative (fp32) and the
greedy flags exactly; per item acc and acc_norm must be identical.

Items: 4 rows evenly spaced over each of the 19 multiple-choice files (76 items, about 330 pairs), a row with
several right options standing in for the last one where a task has such rows. LSAT, LogiQA, SAT and Gaokao
passages run past the model's 1,024 positions; both sides cut those contexts from the left, and the test requires
that some were cut. About 45 s on 2 CPU cores, most of it lm-eval's side.
"""

from __future__ import annotations

import asyncio
import math
import os
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch", reason="the transformers backend needs torch")
pytest.importorskip("lm_eval", reason="lm-eval is not installed: nothing to compare with")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
try:  # HFLM needs lm-eval's "hf" extra (accelerate)
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks.agieval.utils import process_results_mcqa
except ImportError as exc:  # pragma: no cover
    pytest.skip(f"lm-eval's HFLM or its AGIEval utils are not importable ({exc})", allow_module_level=True)

from tianping.benchmarks import registry  # noqa: E402
from tianping.benchmarks.scorers import ScoringContext  # noqa: E402
from tianping.models.hf_load import resolve_ref_model  # noqa: E402
from tianping.models.hf_local import HFLocalBackend  # noqa: E402

MODEL = "tp-ref-clean"
TASKS = [
    "aqua-rat",
    "gaokao-biology",
    "gaokao-chemistry",
    "gaokao-chinese",
    "gaokao-english",
    "gaokao-geography",
    "gaokao-history",
    "gaokao-mathqa",
    "gaokao-physics",
    "jec-qa-ca",
    "jec-qa-kd",
    "logiqa-en",
    "logiqa-zh",
    "lsat-ar",
    "lsat-lr",
    "lsat-rc",
    "sat-en",
    "sat-en-without-passage",
    "sat-math",
]
PER_TASK = 4
RELATIVE = 1e-4


def _spread(samples: list, per_task: int) -> list:
    """``per_task`` rows evenly spaced over the file, and for a task with several right options one of those."""
    step = max(1, len(samples) // per_task)
    picked = samples[::step][:per_task]
    multi = [s for s in samples if len(s.fields["golds"]) > 1 and s not in picked]
    if multi:
        picked[-1] = multi[len(multi) // 2]
    return picked


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return resolve_ref_model(MODEL)


@pytest.fixture(scope="module")
def items(data_dir: Path) -> list:
    """(benchmark, sample) pairs of the spread."""
    out: list[tuple[Any, Any]] = []
    for task in TASKS:
        (bench,) = registry.build("agieval_" + task.replace("-", "_"), data_dir, mode="loglikelihood")
        bench.load()
        out.extend((bench, s) for s in _spread(list(bench.samples), PER_TASK))
    return out


async def _ours(model_dir: Path, items: list) -> tuple[list, list, list]:
    backend = HFLocalBackend(f"ref/{MODEL}", model_dir, device="cpu", batch_size=16)
    try:
        requests = [b.build_request(s, backend.model_id, b.generation) for b, s in items]
        responses = await asyncio.gather(*(backend.generate(r) for r in requests))
        scores = [await b.ascore(s, r, ScoringContext()) for (b, s), r in zip(items, responses, strict=True)]
    finally:
        await backend.aclose()
    return requests, responses, scores


def test_agieval_loglikelihoods_and_accuracies_equal_lm_evals(items, model_dir):
    assert len(items) == len(TASKS) * PER_TASK
    assert sum(len(s.fields["golds"]) > 1 for _, s in items) >= 4
    requests, responses, scores = asyncio.run(_ours(model_dir, items))
    hflm = HFLM(pretrained=str(model_dir), device="cpu", batch_size=16, dtype="float32")
    instances = [
        Instance("loglikelihood", {}, (r.prompt, c), i) for r in requests for i, c in enumerate(r.continuations)
    ]
    theirs = iter(hflm.loglikelihood(instances, disable_tqdm=True))
    worst = 0.0
    cut = 0
    ours_acc, their_acc, ours_norm, their_norm = [], [], [], []
    for (bench, sample), request, response, score in zip(items, requests, responses, scores, strict=True):
        expected = [next(theirs) for _ in request.continuations]
        for mine, (ll, greedy) in zip(response.loglikelihoods, expected, strict=True):
            assert math.isfinite(mine.logprob) and mine.logprob < 0
            worst = max(worst, abs(mine.logprob - ll) / abs(ll))
            assert mine.greedy == greedy, sample.id
            cut += mine.truncated > 0
        assert bench.loglikelihood is not None
        choices = bench.loglikelihood.choices(sample)
        doc = {"choices": choices, "gold": list(bench.loglikelihood.golds(sample, choices))}
        reference = process_results_mcqa(doc, expected)
        ours_acc.append(score.metrics["acc"])
        ours_norm.append(score.metrics["acc_norm"])
        their_acc.append(reference["acc"])
        their_norm.append(reference["acc_norm"])
    assert worst < RELATIVE, f"largest relative log-likelihood difference {worst:.2e}"
    assert cut > 0  # long passages past the model's context were cut the same way on both sides
    assert ours_acc == their_acc
    assert ours_norm == their_norm
