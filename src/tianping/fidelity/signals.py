"""Signals beyond accuracy that tell whether an endpoint serves the model it claims (docs/fidelity.md).

* Tokenizer fingerprint: the ``usage.prompt_tokens`` an endpoint reports for fixed probe strings. The chat
  template adds a constant, so the fingerprint is each probe's count minus the count of the shortest probe;
  one tokenizer gives the same numbers on every honest deployment, while another family splits the English,
  Chinese, code and digit probes differently.
* Context limit honoured: a binary search on prompt length (filler words) for the longest prompt the endpoint
  accepts *and counts in full*. An endpoint that silently truncates reports fewer prompt tokens than the
  prompt's length in the tokenizer (measured on short prompts, where nothing is cut), one that refuses answers
  an error; either way the search finds where it stops.

Both probes are deterministic (a tokenizer has no sampling noise), so their thresholds only absorb the known
slack of a template and a probe's granularity; the tests run 100 seeded fake endpoints of each kind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "PROBES",
    "ContextProbe",
    "TokenizerMatch",
    "compare_fingerprints",
    "context_limit",
    "search_context",
    "tokenizer_fingerprint",
]

PROBES: tuple[str, ...] = (
    "Hi",
    "The quick brown fox jumps over the lazy dog near the riverbank.",
    "天平是一种测量物体质量的工具，古代商人用它来称量货物。",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
    "3.14159265358979 2718281828 1234567890 0000 9999",
    "Pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism",
    "🙂🚀✨ naïve café façade über Straße",
    "https://example.com/path?query=value&other=123#fragment",
)
"""The fixed probe strings, versioned with the pack: changing one changes every stored fingerprint."""

MAX_MISMATCHED = 1
"""A fingerprint differing from the reference's on more probes than this is another tokenizer. Same-tokenizer
endpoints agree exactly; one mismatch is allowed for a deployment that strips or normalises one probe (a
trailing newline, an emoji) without changing the tokenizer."""

CONTEXT_SLACK = 0.02
"""A limit found within 2% below the claimed one is honoured: room for the template and for the filler's
granularity (the search steps in whole filler words)."""


@dataclass(frozen=True, slots=True)
class TokenizerMatch:
    same: bool
    mismatched: list[int]
    """Indexes into :data:`PROBES` where the relative counts differ."""
    evidence: str


@dataclass(frozen=True, slots=True)
class ContextProbe:
    claimed: int
    honoured: int
    """Longest prompt (tokens, as the endpoint counts short prompts) accepted and counted in full."""
    truncates: bool
    evidence: str


async def _prompt_tokens(session: Any, base_url: str, model: str, text: str) -> int | None:
    """``usage.prompt_tokens`` of a one-message chat with ``text``; None when the endpoint refuses it."""
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 1, "temperature": 0}
    async with session.post(f"{base_url.rstrip('/')}/chat/completions", json=body) as resp:
        if resp.status >= 400:
            return None
        data = await resp.json(content_type=None)
    usage = data.get("usage") if isinstance(data, dict) else None
    count = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    if not isinstance(count, int):
        raise ValueError(f"{base_url}: the reply has no usage.prompt_tokens; a tokenizer cannot be fingerprinted")
    return count


async def tokenizer_fingerprint(base_url: str, model: str, headers: dict[str, str] | None = None) -> list[int]:
    """Each probe's prompt-token count minus the first (shortest) probe's: the template's constant removed."""
    import aiohttp

    async with aiohttp.ClientSession(headers=headers) as session:
        counts = []
        for probe in PROBES:
            count = await _prompt_tokens(session, base_url, model, probe)
            if count is None:
                raise ValueError(f"{base_url}: the endpoint refused a tokenizer probe")
            counts.append(count)
    return [c - counts[0] for c in counts]


def compare_fingerprints(reference: list[int], candidate: list[int]) -> TokenizerMatch:
    """Same tokenizer when at most :data:`MAX_MISMATCHED` probes differ in relative count."""
    if len(reference) != len(candidate):
        raise ValueError(f"fingerprints of {len(reference)} and {len(candidate)} probes cannot be compared")
    mismatched = [i for i, (a, b) in enumerate(zip(reference, candidate, strict=True)) if a != b]
    same = len(mismatched) <= MAX_MISMATCHED
    detail = "; ".join(f"probe {i}: {reference[i]} vs {candidate[i]}" for i in mismatched) or "all probes equal"
    verdict = "same tokenizer" if same else "another tokenizer"
    return TokenizerMatch(
        same=same,
        mismatched=mismatched,
        evidence=f"{verdict}: {len(mismatched)} of {len(reference)} probes differ ({detail})",
    )


_FILLER = "alpha "


async def context_limit(base_url: str, model: str, claimed: int, headers: dict[str, str] | None = None) -> ContextProbe:
    """Binary search for the longest filler prompt the endpoint accepts and counts in full, up to ``claimed``
    tokens (about log2(claimed) requests)."""
    import aiohttp

    if claimed < 16:
        raise ValueError(f"claimed context must be at least 16 tokens, got {claimed}")
    async with aiohttp.ClientSession(headers=headers) as session:

        async def count(words: int) -> int | None:
            return await _prompt_tokens(session, base_url, model, _FILLER * words)

        return await search_context(count, claimed, where=base_url)


async def search_context(
    count: Callable[[int], Awaitable[int | None]], claimed: int, *, where: str = "the endpoint"
) -> ContextProbe:
    """The search of :func:`context_limit` over ``count(words)``: the prompt tokens an endpoint reports for a
    prompt of ``words`` filler words, None when it refuses it. Apart so that simulations can run it in-process."""
    # tokens per filler word and the template's constant, from two short prompts nothing can cut
    small, large = await count(4), await count(8)
    if small is None or large is None:
        raise ValueError(f"{where}: the endpoint refused a short prompt")
    per_word = (large - small) / 4
    if per_word <= 0:
        raise ValueError(f"{where}: prompt_tokens does not grow with the prompt ({small}, {large})")
    overhead = small - 4 * per_word

    def full(words: int, got: int | None) -> bool:
        return got is not None and got >= overhead + words * per_word - 0.5

    low, high = 8, max(9, int((claimed - overhead) / per_word))
    top = await count(high)
    if full(high, top):
        low = high
    while high - low > 1:
        mid = (low + high) // 2
        if full(mid, await count(mid)):
            low = mid
        else:
            high = mid
    honoured = int(overhead + low * per_word)
    truncates = honoured < claimed * (1.0 - CONTEXT_SLACK)
    how = "cuts or refuses" if truncates else "honours"
    return ContextProbe(
        claimed=claimed,
        honoured=honoured,
        truncates=truncates,
        evidence=f"{how} the claimed {claimed}-token context: the longest prompt counted in full is about "
        f"{honoured} tokens ({per_word:g} tokens per filler word, template {overhead:g})",
    )
