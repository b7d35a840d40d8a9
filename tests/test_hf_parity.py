"""The hf backend's log-likelihoods equal lm-eval's HFLM on the same model, pair by pair.

Pairs are built from the shared MMLU and ARC files in lm-eval's prompt formats: one-token answers
after a k-shot prefix (5-shot contexts overflow the tiny model's 256-token window, so left truncation
is compared too), multi-token ARC answers, empty contexts, and continuations that are the model's own
greedy choice (so that ``greedy`` is compared on True as well as False).
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
from pathlib import Path

import pytest

from hf_fixtures import tiny_model_dir  # noqa: F401 - a fixture
from tianping.core import Request
from tianping.models.hf_local import HFLocalBackend

os.environ.setdefault("HF_HUB_OFFLINE", "1")
try:  # HFLM needs lm-eval's "hf" extra (accelerate) besides lm_eval itself
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM
except ImportError as exc:  # pragma: no cover - CI installs lm_eval[hf]
    pytest.skip(f"lm-eval's HFLM is not importable ({exc}); install lm_eval[hf]", allow_module_level=True)

LETTERS = "ABCD"


def _mmlu_block(row: dict[str, str], with_answer: bool) -> str:
    text = row["question"].strip() + "".join(f"\n{L}. {row[f'choice{i}']}" for i, L in enumerate(LETTERS))
    return text + ("\nAnswer: " + LETTERS[int(row["answer"])] if with_answer else "\nAnswer:")


def mmlu_pairs(data_dir: Path, subjects: int, per_subject: int, shots: int) -> list[tuple[str, str]]:
    pairs = []
    for test in sorted((data_dir / "mmlu" / "test").glob("*_test.csv"))[:subjects]:
        subject = test.name.removesuffix("_test.csv")
        with open(data_dir / "mmlu" / "dev" / f"{subject}_dev.csv", newline="", encoding="utf-8") as f:
            dev = list(csv.DictReader(f))[:shots]
        with open(test, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))[:per_subject]
        head = f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"
        prefix = head + "".join(_mmlu_block(r, True) + "\n\n" for r in dev)
        for row in rows:
            pairs.extend((prefix + _mmlu_block(row, False), f" {L}") for L in LETTERS)
    return pairs


def arc_pairs(data_dir: Path, n: int) -> list[tuple[str, str]]:
    pairs = []
    lines = (data_dir / "arc" / "ARC-Challenge" / "ARC-Challenge-Test.jsonl").read_text().splitlines()[:n]
    for line in lines:
        q = json.loads(line)["question"]
        context = f"Question: {q['stem']}\nAnswer:"
        pairs.extend((context, " " + c["text"]) for c in q["choices"])
    return pairs


def greedy_pairs(model_dir: Path, contexts: list[str]) -> list[tuple[str, str]]:
    """Continuations the model itself would produce greedily (1-3 tokens), so ``greedy`` is often True."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    pairs = []
    for k, context in enumerate(contexts):
        ids = torch.tensor([tok.encode(context)])
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=1 + k % 3, do_sample=False, pad_token_id=tok.pad_token_id)
        pairs.append((context, tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)))
    return [(c, x) for c, x in pairs if x]


async def _score_all(backend: HFLocalBackend, pairs: list[tuple[str, str]]) -> list[tuple[float, bool, int]]:
    """One request per context with all its continuations, sent concurrently as the engine does."""
    grouped: dict[str, list[str]] = {}
    for context, cont in pairs:
        grouped.setdefault(context, []).append(cont)
    responses = await asyncio.gather(
        *(backend.generate(Request(model="hf/t", prompt=c, continuations=tuple(conts))) for c, conts in grouped.items())
    )
    by_pair = {}
    for (context, conts), response in zip(grouped.items(), responses, strict=True):
        for cont, ll in zip(conts, response.loglikelihoods, strict=True):
            by_pair[(context, cont)] = (ll.logprob, ll.greedy, ll.truncated)
    await backend.aclose()
    return [by_pair[p] for p in pairs]


@pytest.fixture(scope="module")
def hflm(tiny_model_dir: Path) -> HFLM:  # noqa: F811
    return HFLM(pretrained=str(tiny_model_dir), device="cpu", batch_size=16, dtype="float32")


def test_loglikelihood_and_greedy_equal_lm_eval_hflm(tiny_model_dir: Path, data_dir: Path, hflm: HFLM) -> None:  # noqa: F811
    arc = arc_pairs(data_dir, 25)
    pairs = (
        mmlu_pairs(data_dir, subjects=6, per_subject=5, shots=1)
        + mmlu_pairs(data_dir, subjects=2, per_subject=5, shots=5)
        + arc
        + greedy_pairs(tiny_model_dir, [c for c, _ in arc[::8]])
        + [("", "Hello world"), ("", " The answer")]
    )
    assert len(pairs) >= 250
    instances = [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(pairs)]
    expected = hflm.loglikelihood(instances, disable_tqdm=True)
    backend = HFLocalBackend("hf/t", tiny_model_dir, device="cpu", batch_size=8)
    got = asyncio.run(_score_all(backend, pairs))
    mismatches = [
        (pairs[i], e, g) for i, (e, g) in enumerate(zip(expected, got, strict=True)) if abs(e[0] - g[0]) > 1e-4
    ]
    assert not mismatches, mismatches[:3]
    assert [e[1] for e in expected] == [g[1] for g in got]
    assert sum(e[1] for e in expected) >= 3, "the greedy pairs should make some flags True"
    assert any(g[2] > 0 for g in got), "5-shot contexts must overflow the 256-token window"


def test_rolling_loglikelihood_equals_lm_eval(tiny_model_dir: Path, data_dir: Path, hflm: HFLM) -> None:  # noqa: F811
    source = (data_dir / "mmlu" / "test" / "astronomy_test.csv").read_text(encoding="utf-8")
    texts = [source[:200], source[:3000], source[1000:9000], "x"]
    expected = hflm.loglikelihood_rolling(
        [Instance("loglikelihood_rolling", {}, (t,), i) for i, t in enumerate(texts)], disable_tqdm=True
    )

    async def run() -> list[float]:
        backend = HFLocalBackend("hf/t", tiny_model_dir, device="cpu", batch_size=4)
        try:
            return list(await asyncio.gather(*(backend.loglikelihood_rolling(t) for t in texts)))
        finally:
            await backend.aclose()

    got = asyncio.run(run())
    assert len(hflm.tok_encode(texts[2])) > 2 * hflm.max_length, "one text must span several windows"
    assert got == pytest.approx(expected, abs=1e-3, rel=1e-6)
