"""Fake providers of one model for the fidelity tests, over real HTTP (:class:`FidelityServer`) and, for the
seeded simulations, in-process (:func:`simulated_replies`), both from the same generative rule:

* a reply's tokens are whitespace runs of its text, each with the fake server's log-probability
  (``fake_openai.fake_token_logprob``) plus per-deployment noise of sd ``logprob_sd`` drawn from the
  deployment's ``noise_seed``: two faithful deployments differ by ~0.005 nats, a "quantized" one by 0.08;
* prompt tokens are counted by ``tokenizer`` ("words" or "bytes": another family's counts) plus a template
  constant, and cut at ``truncate_at`` (a context silently truncated);
* ``max_tokens`` cuts the answer (``finish_reason: length``), lowered further by ``output_cap``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from statistics import NormalDist
from typing import Any

from fake_openai import _TOKEN_RE, FakeOpenAIServer, _unit, fake_token_logprob, request_key
from tianping.fidelity.sample import TokenLogprob

FAITHFUL_SD = 0.005
QUANTIZED_SD = 0.08
"""Per-token log-probability shift of the quantized fake: a modest 4-bit-like shift, 4x the assumed floor."""


def noisy_logprob(
    noise_seed: int, sd: float, key: str, position: int, previous: str, token: str
) -> tuple[float, float]:
    """(own, alternative) log-probability of ``token`` at ``position`` of the reply to request ``key``."""
    own, alt = fake_token_logprob(previous, token)
    if sd:
        u = min(max(_unit("lp-noise", noise_seed, key, position), 1e-12), 1 - 1e-12)
        own += sd * NormalDist().inv_cdf(u)
        u = min(max(_unit("alt-noise", noise_seed, key, position), 1e-12), 1 - 1e-12)
        alt += sd * NormalDist().inv_cdf(u)
    return min(own, -1e-4), min(alt, -1e-4)


def token_logprobs(text: str, noise_seed: int, sd: float, key: str) -> list[TokenLogprob]:
    out, previous = [], ""
    for position, match in enumerate(_TOKEN_RE.finditer(text)):
        token = match.group()
        own, alt = noisy_logprob(noise_seed, sd, key, position, previous, token)
        out.append(TokenLogprob(token, own, {token: own, "\u2047alt": alt}))
        previous = token
    return out


def count_tokens(text: str, tokenizer: str | Callable[[str], int]) -> int:
    """Tokens of ``text``: whitespace words, a byte-level family's rough count, or a real tokenizer's."""
    if callable(tokenizer):
        return tokenizer(text)
    if tokenizer == "words":
        return len(text.split())
    return math.ceil(len(text.encode("utf-8")) / 3)  # a byte-level family: about one token per three bytes


class FidelityServer(FakeOpenAIServer):
    """The fake OpenAI server as one provider of the model; attributes may change between probes."""

    def __init__(
        self,
        *,
        noise_seed: int = 0,
        logprob_sd: float = FAITHFUL_SD,
        tokenizer: str | Callable[[str], int] = "words",
        overhead: int = 7,
        truncate_at: int | None = None,
        output_cap: int | None = None,
        served_model: str | None = None,
        **opts: Any,
    ) -> None:
        super().__init__(**opts)
        self.noise_seed = noise_seed
        self.logprob_sd = logprob_sd
        self.tokenizer = tokenizer
        self.overhead = overhead
        self.truncate_at = truncate_at
        self.output_cap = output_cap
        self.served_model = served_model

    def _parts(self, body: dict[str, Any], answer: Any = None) -> tuple[str, str | None, str, str]:
        content, thought, field, finish = super()._parts(body, answer)
        budget = body.get("max_tokens")
        if self.output_cap is not None:
            budget = min(budget or self.output_cap, self.output_cap)
        tokens = _TOKEN_RE.findall(content)
        if isinstance(budget, int) and len(tokens) > budget:
            content, finish = "".join(tokens[:budget]), "length"
        return content, thought, field, finish

    def _usage(self, body: dict[str, Any], content: str, thought: str | None, n: int) -> dict[str, Any]:
        usage = super()._usage(body, content, thought, n)
        prompt = self.overhead + sum(count_tokens(m.get("content") or "", self.tokenizer) for m in body["messages"])
        if self.truncate_at is not None:
            prompt = min(prompt, self.truncate_at)
        usage["prompt_tokens"] = prompt
        usage["total_tokens"] = prompt + usage["completion_tokens"]
        return usage

    def _answer(self, body: dict[str, Any], chat: bool) -> dict[str, Any]:
        reply = super()._answer(body, chat)
        if self.served_model is not None:
            reply["model"] = self.served_model
        reply["system_fingerprint"] = f"fp_fake{self.noise_seed}"
        if chat and body.get("logprobs"):
            key = request_key({k: v for k, v in body.items() if k not in ("logprobs", "top_logprobs")})
            for choice in reply["choices"]:
                rows = token_logprobs(choice["message"]["content"] or "", self.noise_seed, self.logprob_sd, key)
                choice["logprobs"] = {
                    "content": [
                        {
                            "token": r.token,
                            "logprob": r.logprob,
                            "top_logprobs": [{"token": t, "logprob": v} for t, v in r.top.items()],
                        }
                        for r in rows
                    ]
                }
        return reply


def simulated_replies(seed: int, noise_seed: int, sd: float, prompts: int = 22) -> list[Any]:
    """In-process replies of one deployment to ``prompts`` fixed prompts under the server's model -- a base
    log-probability per token (from ``seed``: the model) plus Gaussian noise of sd ``sd`` (from ``noise_seed``:
    the deployment) -- drawn with numpy, as hashing each token like the server does is too slow for 1,000 runs.
    Replies are 8-60 tokens long."""
    import numpy as np

    from tianping.fidelity.sample import Reply

    model = np.random.default_rng(seed)
    noise = np.random.default_rng([seed, noise_seed])
    out = []
    for i in range(prompts):
        size = int(model.integers(8, 61))
        tokens = [f" w{t}" for t in model.integers(0, 5000, size)]
        base = -(0.01 + 6.0 * model.random(size))
        values = np.minimum(base + sd * noise.standard_normal(size), -1e-4)
        rows = [TokenLogprob(t, float(v), {t: float(v)}) for t, v in zip(tokens, values, strict=True)]
        out.append(Reply(i, "".join(tokens), size, None, "stop", "m", None, rows))
    return out


def simulated_scores(seed: int, drop: float, n: int = 400, unstable: float = 0.04) -> tuple[list[int], list[int]]:
    """Reference and provider 0/1 scores on the pack (the model of tests/test_fidelity_stats.py): 65% accurate,
    ``unstable`` of the items a coin flip on each deployment, and the provider then loses ``round(drop * n)``
    of its right answers (accuracy lowered by a known amount)."""
    rng = random.Random(seed)
    chance = [1.0 if rng.random() < 0.65 else 0.0 for _ in range(n)]
    chance = [0.5 if rng.random() < unstable else c for c in chance]
    reference = [int(rng.random() < c) for c in chance]
    provider = [int(rng.random() < c) for c in chance]
    right = [i for i, v in enumerate(provider) if v]
    for i in rng.sample(right, round(drop * n)):
        provider[i] = 0
    return reference, provider


def simulated_prompt_counter(overhead: int, tokenizer: str, truncate_at: int | None) -> Callable[[int], Any]:
    """The context search's ``count(words)`` as a :class:`FidelityServer` answers it, without HTTP."""
    from tianping.fidelity.signals import _FILLER

    async def count(words: int) -> int | None:
        tokens = overhead + count_tokens(_FILLER * words, tokenizer)
        return tokens if truncate_at is None else min(tokens, truncate_at)

    return count
