"""TruthfulQA MC1 and MC2 on the bundled reference model: our log-likelihoods and scores equal lm-eval's.

Our side: the ``truthfulqa_mc1`` and ``truthfulqa_mc2`` definitions build the requests (lm-eval's prompts, as
``test_truthfulqa.py`` pins item by item), the ``hf`` backend answers them and our scorer computes MC1's acc and
MC2. lm-eval 0.4.13's side: ``HFLM`` scores the identical (context, continuation) pairs, and its own
``truthfulqa_mc1`` / ``truthfulqa_mc2`` task objects (built from its YAMLs over the same rows) turn them into
acc and MC2 with their ``process_results``. Per pair the log-likelihoods agree within 1e-4 relative and the
greedy flags exactly, MC1's acc is the same for every question, and MC2 agrees within 1e-4 for every question
(it is computed from log-likelihoods that differ by float32 rounding only; measured: at most 2.4e-7 relative
apart, MC2 at most 3.5e-6, the exact figures moving with how the batches fall).

Which questions: every 8th of the 817 (103), the first of each of the 38 categories, and those with the most
answers and the longest context (137 in all). All 817 would take lm-eval's HFLM three to seven minutes on two CPU
cores (it scores 15-35 pairs a second here, as busy as the machine is, and there are 6,204 distinct pairs; our
backend, which shares each question's context between its answers, needs ~50 s), well over the minute a test may
take; this one takes 40-70 s.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the transformers backend needs torch")
lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is not installed: nothing to compare with")
datasets = pytest.importorskip("datasets", reason="lm-eval's task objects need the datasets package")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
try:  # HFLM needs lm-eval's "hf" extra (accelerate)
    from lm_eval.api.instance import Instance
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks._yaml_loader import load_yaml
except ImportError as exc:  # pragma: no cover
    pytest.skip(f"lm-eval's HFLM is not importable ({exc})", allow_module_level=True)

from tianping.benchmarks import registry  # noqa: E402
from tianping.benchmarks.scorers import ScoringContext  # noqa: E402
from tianping.models.hf_load import resolve_ref_model  # noqa: E402
from tianping.models.hf_local import HFLocalBackend  # noqa: E402

MODEL = "tp-ref-clean"
QUESTIONS = 817
STRIDE = 8
logging.getLogger("lm_eval").setLevel(logging.ERROR)  # it warns that a custom dataset is in use


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return resolve_ref_model(MODEL)


def _lm_eval_task(name: str, data_dir: Path) -> ConfigurableTask:
    """lm-eval's task from its YAML, over the shared MC file in the Hugging Face layout it reads."""
    rows = json.loads((data_dir / "truthfulqa/data/v1/mc_task.json").read_text(encoding="utf-8"))
    docs = [
        {
            "question": row["question"],
            **{k: {"choices": list(row[k]), "labels": list(row[k].values())} for k in ("mc1_targets", "mc2_targets")},
        }
        for row in rows
    ]
    config = load_yaml(Path(lm_eval.__file__).parent / "tasks" / "truthfulqa" / f"{name}.yaml")
    config["custom_dataset"] = lambda **_: datasets.DatasetDict({"validation": datasets.Dataset.from_list(docs)})
    return ConfigurableTask(config=config)


async def _ours(model_dir: Path, benches: dict[str, object]) -> dict[str, tuple[list, list, list]]:
    backend = HFLocalBackend(f"ref/{MODEL}", model_dir, device="cpu", batch_size=32)
    out = {}
    try:
        for name, bench in benches.items():
            samples = list(bench.samples)
            requests = [bench.build_request(s, backend.model_id, bench.generation) for s in samples]
            responses = await asyncio.gather(*(backend.generate(r) for r in requests))
            scores = [await bench.ascore(s, r, ScoringContext()) for s, r in zip(samples, responses, strict=True)]
            out[name] = (requests, responses, scores)
    finally:
        await backend.aclose()
    return out


def _spread(bench) -> list[int]:
    """Every STRIDE-th question, the first of each category, and the ones with the most answers and the longest
    question."""
    samples = bench.samples
    firsts = {}
    for i, sample in enumerate(samples):
        firsts.setdefault(sample.meta["category"], i)
    most = max(range(len(samples)), key=lambda i: len(samples[i].fields["mc2_choices"]))
    longest = max(range(len(samples)), key=lambda i: len(samples[i].fields["question"]))
    return sorted({*range(0, len(samples), STRIDE), *firsts.values(), most, longest})


def test_truthfulqa_mc1_and_mc2_score_as_lm_eval_on_the_reference_model(data_dir, model_dir):
    benches, picked = {}, []
    for name in ("truthfulqa_mc1", "truthfulqa_mc2"):
        (bench,) = registry.build(name, data_dir)
        bench.load()
        assert len(bench.samples) == QUESTIONS
        picked = _spread(bench)
        bench.samples = tuple(bench.samples[i] for i in picked)
        benches[name] = bench
    assert len(picked) >= 100 and all(s.id == str(i) for s, i in zip(bench.samples, picked, strict=True))
    ours = asyncio.run(_ours(model_dir, benches))

    # lm-eval scores each distinct pair once: MC1's answers are MC2's too, after the same context
    pairs = sorted({(r.prompt, c) for requests, _, _ in ours.values() for r in requests for c in r.continuations})
    hflm = HFLM(pretrained=str(model_dir), device="cpu", batch_size=32, dtype="float32")
    instances = [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(pairs)]
    theirs = dict(zip(pairs, hflm.loglikelihood(instances, disable_tqdm=True), strict=True))

    worst_rel = worst_mc2 = 0.0
    for name, (requests, responses, scores) in ours.items():
        task = _lm_eval_task(name, data_dir)
        every = list(task.validation_docs())
        assert len(every) == QUESTIONS
        docs = [every[i] for i in picked]
        for doc, request, response, score in zip(docs, requests, responses, scores, strict=True):
            expected = [theirs[(request.prompt, c)] for c in request.continuations]
            for mine, (ll, greedy) in zip(response.loglikelihoods, expected, strict=True):
                worst_rel = max(worst_rel, abs(mine.logprob - ll) / max(abs(ll), 1e-12))
                assert mine.greedy == greedy, (name, request.prompt[-80:])
            reference = task.process_results(doc, expected)["acc"]
            if name == "truthfulqa_mc1":
                assert score.value == float(reference), (name, doc["question"])
            else:
                worst_mc2 = max(worst_mc2, abs(score.value - float(reference)))
            assert score.status == "scored" and math.isfinite(score.value)
    assert worst_rel < 1e-4, f"largest relative log-likelihood difference {worst_rel:.2e}"
    assert worst_mc2 < 1e-4, f"largest MC2 difference {worst_mc2:.2e}"
    print(
        f"{len(picked)} questions, {len(pairs)} pairs: relative log-likelihood difference <= {worst_rel:.2e}, "
        f"MC2 difference <= {worst_mc2:.2e}"
    )
