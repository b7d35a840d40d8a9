"""Behaviour signals: the replies of an endpoint to the fixed prompts (:mod:`tianping.fidelity.sample`) against a
reference's replies to the same prompts. Each signal is a test with a stated false-positive rate
(docs/fidelity.md):

* output length: paired log-lengths, a seeded sign-flip randomisation test of their mean difference;
* refusal rate and truncation (``finish_reason: length``): paired flags, exact McNemar test;
* reasoning tokens: absent where the reference has them, else the sign-flip test on log(1 + count);
* ``finish_reason`` profile and the ``model`` / ``system_fingerprint`` fields: reported as they are; a ``model``
  field naming another family than the claimed one is flagged (a string, no noise).

Greedy replies of two faithful deployments are mostly identical, and where they part (ties broken by kernel
noise) neither side is favoured: the paired differences are symmetric around zero, which is what the sign-flip
and McNemar tests assume, so their false-positive rate holds without a noise model;
tests/test_fidelity_profile.py checks it by simulation.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tianping.fidelity.families import family_of
from tianping.fidelity.sample import OutputCap, Reply
from tianping.fidelity.stats import mcnemar_exact

__all__ = [
    "ALPHA",
    "SignalResult",
    "behaviour_signals",
    "is_refusal",
    "sign_flip_p",
]

ALPHA = 0.01
"""Significance level of each behaviour test: several run together, so each is stricter than 0.05."""

_REFUSAL = re.compile(
    r"\b(?:I'?m sorry|I am sorry|I apologi[sz]e|I can(?:no|')t (?:help|assist|provide|comply|do that)|"
    r"I (?:won'?t|will not) (?:help|provide|assist)|I(?:'m| am) (?:not able|unable) to|As an AI\b)|"
    r"抱歉|对不起|我无法|我不能|无法提供|不能提供|不便回答",
    re.IGNORECASE,
)


def is_refusal(text: str) -> bool:
    """A refusal phrase in the first 200 characters (where a refusal starts, not a caveat at the end)."""
    return bool(_REFUSAL.search(text[:200]))


def sign_flip_p(diffs: Sequence[float], sims: int = 10000, seed: int = 0) -> float:
    """Two-sided p of the mean of paired differences under random signs (seeded; 1.0 when all are zero)."""
    values = np.asarray([d for d in diffs if d != 0.0], dtype=float)
    if values.size == 0:
        return 1.0
    observed = abs(values.mean())
    signs = np.random.default_rng(seed).choice((-1.0, 1.0), size=(sims, values.size))
    extreme = int((np.abs((signs * values).mean(axis=1)) >= observed - 1e-12).sum())
    return (1 + extreme) / (1 + sims)


@dataclass(frozen=True, slots=True)
class SignalResult:
    name: str
    flagged: bool | None
    """True: differs from the reference beyond the test's threshold; None: no evidence either way."""
    statistic: float | None
    evidence: str


def _paired(reference: Sequence[Reply], candidate: Sequence[Reply]) -> list[tuple[Reply, Reply]]:
    by_prompt = {r.prompt: r for r in candidate if r.error is None}
    return [(r, by_prompt[r.prompt]) for r in reference if r.error is None and r.prompt in by_prompt]


def _length(pairs: list[tuple[Reply, Reply]], alpha: float) -> SignalResult:
    counted = [
        (a.completion_tokens, b.completion_tokens)
        for a, b in pairs
        if a.completion_tokens is not None and b.completion_tokens is not None
    ]
    if len(counted) < 5:
        return SignalResult("length", None, None, f"token counts on only {len(counted)} paired prompts")
    diffs = [math.log1p(b) - math.log1p(a) for a, b in counted]
    p = sign_flip_p(diffs)
    ratio = math.exp(sum(diffs) / len(diffs))
    med_a = float(np.median([a for a, _ in counted]))
    med_b = float(np.median([b for _, b in counted]))
    flagged = p < alpha
    word = "differs" if flagged else "no significant difference"
    return SignalResult(
        "length", flagged, ratio,
        f"{word}: median {med_b:g} vs reference {med_a:g} completion tokens over {len(counted)} prompts, "
        f"geometric mean ratio {ratio:.3f}, sign-flip p = {p:.3g} (alpha {alpha:g})",
    )  # fmt: skip


def _paired_flags(name: str, what: str, pairs: list[tuple[bool, bool]], alpha: float) -> SignalResult:
    ref_only = sum(1 for a, b in pairs if a and not b)
    cand_only = sum(1 for a, b in pairs if b and not a)
    p = mcnemar_exact(ref_only, cand_only)
    n = len(pairs)
    rate_a, rate_b = sum(a for a, _ in pairs), sum(b for _, b in pairs)
    flagged = p < alpha
    word = "differs" if flagged else "no significant difference"
    return SignalResult(
        name, flagged, rate_b / n if n else None,
        f"{word}: {what} on {rate_b} of {n} prompts vs reference {rate_a} (only here {cand_only}, only at the "
        f"reference {ref_only}; exact McNemar p = {p:.3g}, alpha {alpha:g})",
    )  # fmt: skip


def _reasoning(pairs: list[tuple[Reply, Reply]], alpha: float) -> SignalResult:
    ref = [a.reasoning_tokens or 0 for a, _ in pairs]
    cand = [b.reasoning_tokens or 0 for _, b in pairs]
    with_ref, with_cand = sum(1 for r in ref if r > 0), sum(1 for c in cand if c > 0)
    if with_ref == 0 and with_cand == 0:
        return SignalResult("reasoning_tokens", None, 0.0, "no reasoning tokens reported by either endpoint")
    mean_cand = sum(cand) / len(cand)
    counts = f"reasoning tokens on {with_cand} of {len(pairs)} prompts (mean {mean_cand:.1f}) vs reference "
    counts += f"{with_ref} (mean {sum(ref) / len(ref):.1f})"
    if with_ref >= len(pairs) / 2 and with_cand == 0:
        return SignalResult("reasoning_tokens", True, mean_cand, f"reasoning absent: {counts}")
    if with_cand >= len(pairs) / 2 and with_ref == 0:
        return SignalResult("reasoning_tokens", True, mean_cand, f"reasoning the reference does not do: {counts}")
    p = sign_flip_p([math.log1p(c) - math.log1p(r) for r, c in zip(ref, cand, strict=True)])
    flagged = p < alpha
    word = "differs" if flagged else "no significant difference"
    return SignalResult("reasoning_tokens", flagged, mean_cand, f"{word}: {counts}; sign-flip p = {p:.3g}")


def _fields(candidate: Sequence[Reply], claimed: str) -> SignalResult:
    models = Counter(r.model for r in candidate if r.model)
    prints = Counter(r.system_fingerprint for r in candidate if r.system_fingerprint)
    shown = ", ".join(f"{m!r} x{c}" for m, c in models.most_common()) or "none"
    fps = ", ".join(f"{f!r} x{c}" for f, c in prints.most_common(3)) or "none"
    claimed_family = family_of(claimed)
    others = sorted({f for m in models if (f := family_of(m)) and f != claimed_family}) if claimed_family else []
    text = f"model field {shown}; system_fingerprint {fps}"
    if others:
        return SignalResult("fields", True, None, f"the reply names another family ({', '.join(others)}): {text}")
    return SignalResult("fields", False if models else None, None, text)


def _caps(caps: Sequence[OutputCap]) -> SignalResult:
    if not caps:
        return SignalResult("max_tokens", None, None, "not probed")
    known = [c for c in caps if c.honoured is not None]
    flagged = any(not c.honoured for c in known) if known else None
    return SignalResult("max_tokens", flagged, None, "; ".join(c.evidence for c in caps))


def behaviour_signals(
    reference: Sequence[Reply],
    candidate: Sequence[Reply],
    *,
    claimed: str,
    caps: Sequence[OutputCap] = (),
    alpha: float = ALPHA,
) -> list[SignalResult]:
    """Every behaviour signal of the candidate against the reference, each with its evidence."""
    pairs = _paired(reference, candidate)
    errors = sum(1 for r in candidate if r.error is not None)
    out = [_length(pairs, alpha)]
    if pairs:
        out.append(
            _paired_flags("refusal", "refused", [(is_refusal(a.text), is_refusal(b.text)) for a, b in pairs], alpha)
        )
        cut = [(a.finish_reason == "length", b.finish_reason == "length") for a, b in pairs]
        out.append(_paired_flags("truncation", "cut at the token budget", cut, alpha))
        out.append(_reasoning(pairs, alpha))
    profile = Counter(str(r.finish_reason) for r in candidate if r.error is None)
    ref_profile = Counter(str(r.finish_reason) for r in reference if r.error is None)
    out.append(
        SignalResult(
            "finish_reason",
            None,
            None,
            f"{dict(profile)} vs reference {dict(ref_profile)}; {errors} of {len(candidate)} requests failed",
        )  # fmt: skip
    )
    out.append(_fields(candidate, claimed))
    out.append(_caps(caps))
    return out
