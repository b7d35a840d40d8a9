"""Behaviour signals beyond accuracy: output length, refusals, truncation, reasoning tokens, model fields and
max_tokens honoured. The paired tests hold their false-positive rate on simulated faithful replies and find
the kinds of change they exist for; the reply reader and the max_tokens probe run against real local servers."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from aiohttp import web

from fake_openai import FakeOpenAIServer, in_background
from fidelity_fakes import FidelityServer
from tianping.fidelity.profile import ALPHA, behaviour_signals, is_refusal, sign_flip_p
from tianping.fidelity.sample import BEHAVIOUR_PROMPTS, Reply, collect_replies, max_tokens_probe

PROMPTS = len(BEHAVIOUR_PROMPTS)


def _reply(i: int, tokens: int, *, text: str = "Sure.", reasoning: int | None = None, finish: str = "stop") -> Reply:
    return Reply(i, text, tokens, reasoning, finish, "qwen2.5-7b-instruct", None)


def _lengths(seed: int, unstable: float = 0.2) -> tuple[list[int], list[int]]:
    """Greedy lengths of two faithful deployments: equal, except where kernel noise broke a tie and the
    answer went another way (``unstable`` of the prompts), then drawn anew from the same distribution."""
    rng = random.Random(seed)
    ref = [int(rng.lognormvariate(4.5, 0.6)) for _ in range(PROMPTS)]
    cand = [int(rng.lognormvariate(4.5, 0.6)) if rng.random() < unstable else n for n in ref]
    return ref, cand


def _signal(name: str, reference: list[Reply], candidate: list[Reply], **kw: Any) -> Any:
    signals = behaviour_signals(reference, candidate, claimed="qwen2.5-7b-instruct", **kw)
    return next(s for s in signals if s.name == name)


def _replies(lengths: list[int]) -> list[Reply]:
    return [_reply(i, n) for i, n in enumerate(lengths)]


def test_faithful_length_differences_are_flagged_no_more_than_alpha_and_a_cap_is_found() -> None:
    flagged = 0
    for seed in range(400):
        ref, cand = _lengths(seed)
        signal = _signal("length", _replies(ref), _replies(cand))
        flagged += bool(signal.flagged)
    assert flagged / 400 <= 2 * ALPHA  # nominal 1%; 400 runs leave room for binomial noise
    found = 0
    for seed in range(100):
        ref, _ = _lengths(seed)
        capped = [min(n, 60) for n in ref]  # a provider whose answers stop at 60 tokens
        signal = _signal("length", _replies(ref), _replies(capped))
        found += bool(signal.flagged)
    assert found >= 95
    assert "sign-flip p" in signal.evidence and "geometric mean ratio" in signal.evidence


def test_the_sign_flip_test_is_exact_at_the_extremes() -> None:
    assert sign_flip_p([0.0, 0.0]) == 1.0
    # all of 12 differences one way: only the all-positive and all-negative signings are as extreme
    assert sign_flip_p([1.0] * 12, sims=20_000) < 0.002


def test_refusals_and_truncation_where_the_reference_answers_are_flagged() -> None:
    reference = [_reply(i, 80) for i in range(PROMPTS)]
    filtered = [
        _reply(i, 12, text="抱歉，我无法回答这个问题。" if i < 9 else "Sure.", finish="stop") for i in range(PROMPTS)
    ]
    refusal = _signal("refusal", reference, filtered)
    assert refusal.flagged is True and "refused on 9 of 22" in refusal.evidence
    cut = [_reply(i, 40, finish="length" if i % 2 else "stop") for i in range(PROMPTS)]
    assert _signal("truncation", reference, cut).flagged is True
    assert _signal("truncation", reference, reference).flagged is False
    assert _signal("refusal", reference, reference).flagged is False


def test_reasoning_missing_or_changed_and_a_foreign_model_field_are_flagged() -> None:
    thinking = [_reply(i, 300, reasoning=200 + i) for i in range(PROMPTS)]
    plain = [_reply(i, 100) for i in range(PROMPTS)]
    assert _signal("reasoning_tokens", thinking, plain).flagged is True
    assert "reasoning absent" in _signal("reasoning_tokens", thinking, plain).evidence
    assert _signal("reasoning_tokens", thinking, thinking).flagged is False
    shorter = [_reply(i, 150, reasoning=40 + i) for i in range(PROMPTS)]
    assert _signal("reasoning_tokens", thinking, shorter).flagged is True
    assert _signal("reasoning_tokens", plain, plain).flagged is None
    other = [Reply(i, "ok", 3, None, "stop", "gpt-4o-mini-2024-07-18", "fp_x") for i in range(PROMPTS)]
    fields = _signal("fields", plain, other)
    assert fields.flagged is True and "openai-gpt" in fields.evidence and "fp_x" in fields.evidence
    assert _signal("fields", plain, plain).flagged is False


def test_refusal_phrases_in_english_and_chinese_are_read_at_the_start_only() -> None:
    assert is_refusal("I'm sorry, but I can't help with that.")
    assert is_refusal("I cannot assist with this request.")
    assert is_refusal("抱歉，我不能提供这方面的信息。")
    assert not is_refusal("Mixing bleach and ammonia releases chloramine gas, which is toxic.")
    assert not is_refusal("x" * 300 + " I'm sorry")


def test_max_tokens_ignored_or_capped_lower_is_found_and_an_honest_endpoint_passes() -> None:
    with (
        in_background(FidelityServer()) as honest,
        in_background(FidelityServer(output_cap=6)) as capped,
        in_background(FakeOpenAIServer()) as ignores,  # answers in full whatever max_tokens says
    ):
        good = asyncio.run(max_tokens_probe(honest.base_url, "m", (4, 8)))
        low = asyncio.run(max_tokens_probe(capped.base_url, "m", (4, 8)))
        bad = asyncio.run(max_tokens_probe(ignores.base_url, "m", (4, 8)))
    assert [c.honoured for c in good] == [True, True] and good[0].completion_tokens == 4
    assert [c.honoured for c in low] == [True, False] and "lower cap" in low[1].evidence
    assert [c.honoured for c in bad] == [False, False] and "ignored" in bad[0].evidence


class NoLogprobsServer(FidelityServer):
    """A provider that rejects the ``logprobs`` option, as some do."""

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        if (await request.json()).get("logprobs"):
            return web.json_response({"error": {"message": "logprobs is not supported"}}, status=400)
        return await super()._chat(request)


def test_replies_are_read_over_http_and_an_endpoint_without_logprobs_is_asked_again_without() -> None:
    with (
        in_background(FidelityServer(served_model="served-name")) as server,
        in_background(NoLogprobsServer()) as plain,
    ):
        with_lp = asyncio.run(collect_replies(server.base_url, "m"))
        without = asyncio.run(collect_replies(plain.base_url, "m"))
        thinking = FakeOpenAIServer(reasoning="field")
        with in_background(thinking):
            reasoned = asyncio.run(collect_replies(thinking.base_url, "m", prompts=BEHAVIOUR_PROMPTS[:3]))
    assert len(with_lp) == PROMPTS and all(r.logprobs for r in with_lp) and with_lp[0].model == "served-name"
    assert with_lp[0].system_fingerprint == "fp_fake0" and with_lp[0].finish_reason == "stop"
    assert with_lp[0].completion_tokens == len(with_lp[0].text.split())
    assert len(without) == PROMPTS and all(r.logprobs is None and r.error is None for r in without)
    assert all(r.reasoning_tokens and r.reasoning_tokens > 0 for r in reasoned)
