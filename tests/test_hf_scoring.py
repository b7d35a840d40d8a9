"""Prefix-cached scoring gives the plain computation's numbers, computes shared prefixes once, and
survives running out of memory by halving the batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hf_fixtures import tiny_model_dir  # noqa: F401 - a fixture
from tianping.models.hf_load import load_local_model
from tianping.models.hf_prefix import common_prefix
from tianping.models.hf_scoring import LogLikelihoodScorer, run_halving
from tianping.models.hf_tokens import ScoreItem

SHOTS = "".join(f"Question {i}: what is {i} + {i}?\nA. {i}\nB. {2 * i}\nAnswer: B\n\n" for i in range(6))


@pytest.fixture(scope="module")
def loaded(tiny_model_dir: Path):  # noqa: F811
    return load_local_model(tiny_model_dir, device="cpu", batch_size=4)


def plain(model, item: ScoreItem) -> tuple[float, bool]:
    """The reference: the whole input in one unbatched forward, the targets read from its end."""
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([item.inp])).logits[0].float(), dim=-1)
    n = len(item.targets)
    positions = torch.arange(len(item.inp) - n, len(item.inp))
    targets = torch.tensor(item.targets)
    return float(logprobs[positions, targets].sum()), bool((logprobs[positions].argmax(-1) == targets).all())


def k_shot_items(loaded, questions: int = 12) -> list[ScoreItem]:
    items = []
    for q in range(questions):
        context = SHOTS + f"Question {q + 10}: name the planet number {q}.\nA. Mars\nB. Venus\nAnswer:"
        for cont in (" A", " B", " Mars is red", " Venus, the second planet"):
            items.append(loaded.encoder.item(*loaded.encoder.encode_pair(context, cont)))
    return items


def test_prefix_cached_scores_equal_plain_computation(loaded) -> None:
    items = k_shot_items(loaded)
    scorer = LogLikelihoodScorer(loaded.model, loaded.device, batch_size=5)
    got = scorer.score(items)
    expected = [plain(loaded.model, item) for item in items]
    assert max(abs(g[0] - e[0]) for g, e in zip(got, expected, strict=True)) < 1e-5
    assert [g[1] for g in got] == [e[1] for e in expected]
    # the shared k-shot prefix ran once, not once per question: far fewer tokens than the inputs hold
    total = sum(len(item.inp) for item in items)
    assert 0 < scorer.store.computed_tokens < total / 4


def test_prefix_is_reused_across_batches(loaded) -> None:
    items = k_shot_items(loaded)
    scorer = LogLikelihoodScorer(loaded.model, loaded.device, batch_size=8)
    first = scorer.score(items[:16])
    computed = scorer.store.computed_tokens
    second = scorer.score(items[16:])
    # the second batch may compute each question's own tokens, but not the k-shot part they share
    contexts = [item.inp for item in items[16::4]]  # " A" items: the input is the context itself
    own = sum(len(c) - common_prefix(c, items[0].inp) for c in contexts)
    assert scorer.store.computed_tokens - computed <= own, "the second batch recomputed the k-shot prefix"
    fresh = LogLikelihoodScorer(loaded.model, loaded.device, batch_size=8).score(items)
    assert [x[0] for x in first + second] == pytest.approx([x[0] for x in fresh], abs=1e-5)
    assert [x[1] for x in first + second] == [x[1] for x in fresh]


def test_without_prefix_cache_same_numbers(loaded) -> None:
    items = k_shot_items(loaded, questions=4)
    cached = LogLikelihoodScorer(loaded.model, loaded.device, batch_size=3).score(items)
    uncached = LogLikelihoodScorer(loaded.model, loaded.device, batch_size=3, use_prefix_cache=False).score(items)
    assert [c[1] for c in cached] == [u[1] for u in uncached]
    assert [c[0] for c in cached] == pytest.approx([u[0] for u in uncached], abs=1e-5)


def test_model_output_layer_path_gives_the_same_numbers(loaded) -> None:
    """Scoring applies the output layer to scored positions only; the model's own forward must agree."""
    items = k_shot_items(loaded, questions=3)
    split = LogLikelihoodScorer(loaded.model, loaded.device, batch_size=4)
    assert split.head is not None, "a Llama's logits are its output layer on the decoder's states"
    whole = LogLikelihoodScorer(loaded.model, loaded.device, batch_size=4)
    whole.base = whole.head = None
    a, b = split.score(items), whole.score(items)
    assert [x[0] for x in a] == pytest.approx([x[0] for x in b], abs=1e-5)
    assert [x[1] for x in a] == [x[1] for x in b]


def test_out_of_memory_halves_the_batch_and_loses_nothing(loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    items = k_shot_items(loaded)
    expected = LogLikelihoodScorer(loaded.model, loaded.device, batch_size=8).score(items)
    scorer = LogLikelihoodScorer(loaded.model, loaded.device, batch_size=8)
    real_forward = scorer._forward
    calls: list[int] = []

    def forward_that_fits_two(chunk, *args):
        calls.append(len(chunk))
        if len(chunk) > 2:
            raise torch.OutOfMemoryError("fake: CUDA out of memory. Tried to allocate 20.00 GiB")
        return real_forward(chunk, *args)

    monkeypatch.setattr(scorer, "_forward", forward_that_fits_two)
    got = scorer.score(items)
    assert [g[0] for g in got] == pytest.approx([e[0] for e in expected], abs=1e-5)
    assert [g[1] for g in got] == [e[1] for e in expected]
    assert scorer.oom_events > 0 and scorer.batch_size == 2
    assert max(calls) == 8 and calls.count(2) >= 1


def test_a_single_item_that_does_not_fit_raises() -> None:
    def always_oom(chunk):
        raise MemoryError("no memory")

    with pytest.raises(MemoryError):
        run_halving([1, 2, 3], always_oom, lambda half: None)


def test_other_errors_are_not_retried() -> None:
    calls = []

    def broken(chunk):
        calls.append(chunk)
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        run_halving([1, 2, 3, 4], broken, lambda half: None)
    assert len(calls) == 1


def test_batched_encoding_equals_one_by_one(loaded) -> None:
    enc = loaded.encoder
    pairs = [
        ("Question: why?\nAnswer:", " A"),
        ("Question: why?\nAnswer: ", "B"),  # the trailing space moves to the continuation
        ("<s>Already marked with BOS.", " yes"),  # no second BOS is added
        ("", "Hello there"),  # empty context: the prefix token stands in
        ("Question: why?\nAnswer:", " A"),
    ]
    assert enc.encode_pairs(pairs) == [enc.encode_pair(c, x) for c, x in pairs]
    assert enc.encode_pair("Answer: ", "B") == enc.encode_pair("Answer:", " B")
