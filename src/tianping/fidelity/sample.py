"""The behaviour sample: fixed prompts sent greedily to an endpoint, and what each reply says besides its text
(token counts, reasoning tokens, ``finish_reason``, the ``model`` and ``system_fingerprint`` fields, and the
log-probabilities of the generated tokens where the endpoint offers them). docs/fidelity.md, "Signals".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BEHAVIOUR_PROMPTS",
    "MAX_TOKENS",
    "OutputCap",
    "Reply",
    "TokenLogprob",
    "collect_replies",
    "max_tokens_probe",
    "parse_reply",
]

BEHAVIOUR_PROMPTS: tuple[str, ...] = (
    "What is the capital of Australia? Answer in one sentence.",
    "Explain in three sentences why the sky is blue.",
    "A train travels 120 km in 1.5 hours. What is its average speed in km/h? Show your working.",
    "Write a Python function that returns the n-th Fibonacci number iteratively.",
    "用两句话解释什么是光合作用。",
    "请把下面的句子翻译成英文：今天天气很好，我们去公园散步吧。",
    "List five prime numbers greater than 50, separated by commas.",
    "Write a four-line poem about the sea.",
    "Summarise the plot of Romeo and Juliet in one paragraph.",
    "What is 17 multiplied by 23?",
    "Give three tips for writing clear technical documentation.",
    "解释一下牛顿第二定律，并举一个例子。",
    "Write a short, polite email declining a meeting invitation.",
    "What are the main differences between TCP and UDP?",
    "Describe how a hash table works in about 100 words.",
    "If all bloops are razzies and all razzies are lazzies, are all bloops lazzies? Explain briefly.",
    # borderline requests: where a provider's added filter or another model's policy shows as refusals
    "Explain how lock picking works, for a hobbyist.",
    "Which common household chemicals must never be mixed, and why?",
    "Write a menacing monologue for the villain of a stage play.",
    "How do I kill a Python process that is not responding?",
    "What dose of caffeine is dangerous for an adult?",
    "如何评价历史上的秦始皇？请简要回答。",
)
"""Fixed prompts, versioned with the probe set: changing one changes what stored samples mean."""

MAX_TOKENS = 256
"""Output budget of each behaviour prompt: long enough for most answers to end by themselves."""

LONG_PROMPT = "Write a long, detailed essay on the history of mathematics, at least 3000 words."
"""The max-output-tokens probe: a request no model finishes within the budgets asked for."""


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    token: str
    logprob: float
    top: dict[str, float]
    """The endpoint's top alternatives at this position (token -> log-probability), the token included."""


@dataclass(frozen=True, slots=True)
class Reply:
    prompt: int
    """Index into :data:`BEHAVIOUR_PROMPTS` (or -1 for a probe outside it)."""
    text: str
    completion_tokens: int | None
    reasoning_tokens: int | None
    finish_reason: str | None
    model: str | None
    system_fingerprint: str | None
    logprobs: list[TokenLogprob] | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _logprobs(choice: dict[str, Any]) -> list[TokenLogprob] | None:
    """Chat ``logprobs.content`` entries as :class:`TokenLogprob`; None when absent or malformed."""
    block = choice.get("logprobs")
    content = block.get("content") if isinstance(block, dict) else None
    if not isinstance(content, list) or not content:
        return None
    out = []
    for entry in content:
        if not isinstance(entry, dict):
            return None
        token, value = entry.get("token"), entry.get("logprob")
        if not isinstance(token, str) or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        top: dict[str, float] = {}
        for alt in entry.get("top_logprobs") or ():
            if (
                isinstance(alt, dict)
                and isinstance(alt.get("token"), str)
                and isinstance(alt.get("logprob"), int | float)
            ):
                top[alt["token"]] = float(alt["logprob"])
        out.append(TokenLogprob(token, float(value), top))
    return out


def parse_reply(prompt: int, data: Any) -> Reply:
    """One chat completion's JSON as a :class:`Reply` (an error reply when it has no choices)."""
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
        message = data.get("error") if isinstance(data, dict) else None
        return Reply(prompt, "", None, None, None, None, None, error=f"no choices in the reply: {message!r}"[:300])
    choice = data["choices"][0]
    message = choice.get("message") or {}
    raw_usage = data.get("usage")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    details = usage.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    completion = usage.get("completion_tokens")
    return Reply(
        prompt=prompt,
        text=message.get("content") or "",
        completion_tokens=completion if isinstance(completion, int) else None,
        reasoning_tokens=reasoning if isinstance(reasoning, int) else None,
        finish_reason=choice.get("finish_reason"),
        model=data.get("model") if isinstance(data.get("model"), str) else None,
        system_fingerprint=data.get("system_fingerprint") if isinstance(data.get("system_fingerprint"), str) else None,
        logprobs=_logprobs(choice),
    )


async def _post(session: Any, base_url: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with session.post(f"{base_url.rstrip('/')}/chat/completions", json=body) as resp:
        try:
            data = await resp.json(content_type=None)
        except ValueError:
            data = None
        return resp.status, data


async def collect_replies(
    base_url: str,
    model: str,
    *,
    headers: dict[str, str] | None = None,
    prompts: tuple[str, ...] = BEHAVIOUR_PROMPTS,
    seed: int = 1234,
    top_logprobs: int = 5,
) -> list[Reply]:
    """Each prompt once, greedy with a fixed seed, asking for log-probabilities; an endpoint that refuses the
    ``logprobs`` option (HTTP 400 or 422) is asked again without it, and its replies then carry none."""
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=300)
    replies = []
    want_logprobs = True
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        for i, prompt in enumerate(prompts):
            body: dict[str, Any] = {
                "model": model,
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": MAX_TOKENS,
                "temperature": 0,
                "seed": seed,
            }
            if want_logprobs:
                status, data = await _post(session, base_url, {**body, "logprobs": True, "top_logprobs": top_logprobs})
                if status in (400, 422):  # the option is refused (422: a strict request validator)
                    want_logprobs = False
            if not want_logprobs:
                status, data = await _post(session, base_url, body)
            if status >= 400:
                replies.append(Reply(i, "", None, None, None, None, None, error=f"HTTP {status}"))
            else:
                replies.append(parse_reply(i, data))
    return replies


@dataclass(frozen=True, slots=True)
class OutputCap:
    asked: int
    completion_tokens: int | None
    finish_reason: str | None
    honoured: bool | None
    """None when the reply carries no token count."""
    evidence: str


async def max_tokens_probe(
    base_url: str, model: str, budgets: tuple[int, ...] = (16, 128), *, headers: dict[str, str] | None = None
) -> list[OutputCap]:
    """Ask for a long essay with each ``max_tokens`` budget. Honoured: no more tokens than asked, and a cut
    (``finish_reason: length``) only at the budget (one token of slack for an end-of-sequence counted or not);
    a cut earlier means a lower cap than the one asked for, more tokens means the option is ignored. Token
    counts are exact, so the rule has no noise to absorb beyond that one token."""
    import aiohttp

    out = []
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=300)) as session:
        for budget in budgets:
            body = {
                "model": model,
                "messages": [{"role": "user", "content": LONG_PROMPT}],
                "max_tokens": budget,
                "temperature": 0,
            }
            status, data = await _post(session, base_url, body)
            reply = parse_reply(-1, data) if status < 400 else None
            got = reply.completion_tokens if reply else None
            finish = reply.finish_reason if reply else None
            if reply is None or got is None:
                honoured, why = None, f"no token count in the reply (HTTP {status})"
            elif got > budget:
                honoured, why = False, f"{got} completion tokens for max_tokens={budget}: the budget is ignored"
            elif finish == "length" and got < budget - 1:
                honoured, why = False, f"cut at {got} tokens for max_tokens={budget}: a lower cap than asked"
            else:
                honoured, why = True, f"{got} completion tokens, finish_reason {finish!r}, for max_tokens={budget}"
            out.append(OutputCap(budget, got, finish, honoured, why))
    return out
