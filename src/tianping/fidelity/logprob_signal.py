"""Log-probability agreement: does the endpoint give the reference's greedy tokens the reference's
log-probabilities? Quantization and other weight changes shift them; two faithful deployments differ only by
floating-point noise (batching, kernels).

Test (docs/fidelity.md): the replies to the fixed prompts are aligned token by token over the prefix where both
endpoints generated the same tokens (after the first difference the contexts differ and nothing is paired).
The statistic is the mean absolute difference of the aligned tokens' log-probabilities, ``T = mean |Δ|``
(nats). Under "same model" each ``Δ`` is noise with standard deviation ``s``; the threshold is the ``1 - fpr``
quantile of ``T`` over ``n`` aligned tokens in a seeded simulation of that noise (:func:`null_threshold`).
``s`` is measured when the reference is asked twice (the root mean square of its own differences) and never
taken below :data:`NOISE_FLOOR`, so a bit-exact reference does not make any other hardware look degraded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tianping.fidelity.sample import Reply, TokenLogprob

__all__ = [
    "FPR",
    "MIN_ALIGNED",
    "NOISE_FLOOR",
    "LogprobAgreement",
    "aligned_deltas",
    "compare_logprobs",
    "null_threshold",
]

NOISE_FLOOR = 0.02
"""Smallest per-token noise sd (nats) assumed between faithful deployments. An assumption, not a measurement
made here: it sits above the 1e-3 to 1e-2 nat differences that batch-size and kernel nondeterminism of bf16
serving commonly shows, and below the shifts that 4-bit weights cause (docs/fidelity.md)."""

FPR = 0.01
"""False-positive rate the threshold is set for: a faithful endpoint is flagged in 1% of probes."""

MIN_ALIGNED = 20
"""Fewer aligned tokens than this is no evidence either way (the endpoints part at once, or give no logprobs)."""

_SIMS = 10_000
_SEED = 20261206


_GRID: tuple[int, ...] = (1, 2, 3, 5, 8, 12, 16, 20, 25, 30, 40, 50, 60, 80, 100, 125, 150, 200, 250, 300, 400)
_GRID += (500, 600, 800, 1000, 1250, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 8000, 10000)
"""Token counts the null is simulated at; a count between two is judged at the smaller one, whose threshold is
higher (fewer tokens, more spread), so the rate stays at or below the nominal one."""


@lru_cache(maxsize=256)
def _unit_quantile(n: int, fpr: float) -> float:
    """The ``1 - fpr`` quantile of mean |Z| over ``n`` standard normal draws, from a seeded simulation."""
    rng = np.random.default_rng(_SEED + n)
    rows = max(1, 2_000_000 // n)  # in blocks: 10,000 runs of a long reply would not fit in memory at once
    sims = np.concatenate(
        [np.abs(rng.standard_normal((min(rows, _SIMS - k), n))).mean(axis=1) for k in range(0, _SIMS, rows)]
    )
    return float(np.quantile(sims, 1.0 - fpr))


def null_threshold(n: int, noise_sd: float, fpr: float = FPR) -> float:
    """Largest ``mean |Δ|`` over ``n`` aligned tokens that faithful noise of sd ``noise_sd`` reaches in all but
    ``fpr`` of seeded simulations (T scales with the sd, so one simulation per grid point serves every sd)."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not 0.0 < fpr < 1.0:
        raise ValueError(f"fpr must be in (0, 1), got {fpr}")
    grid_n = max(g for g in _GRID if g <= n)
    return noise_sd * _unit_quantile(grid_n, fpr)


def aligned_deltas(
    reference: Sequence[TokenLogprob], candidate: Sequence[TokenLogprob]
) -> tuple[list[float], list[float]]:
    """(candidate - reference log-probability, Jaccard overlap of the top alternatives) at each position of the
    common prefix of the two generations."""
    deltas, overlaps = [], []
    for ref, cand in zip(reference, candidate, strict=False):
        if ref.token != cand.token:
            break
        deltas.append(cand.logprob - ref.logprob)
        if ref.top and cand.top:
            a, b = set(ref.top), set(cand.top)
            overlaps.append(len(a & b) / len(a | b))
    return deltas, overlaps


@dataclass(frozen=True, slots=True)
class LogprobAgreement:
    available: bool
    prompts: int
    """Prompts with log-probabilities from both endpoints."""
    aligned: int
    mean_abs_diff: float | None
    threshold: float | None
    noise_sd: float
    noise_source: str
    topk_overlap: float | None
    flagged: bool | None
    """True: shifted beyond faithful noise; False: within it; None: no evidence (too few tokens)."""
    evidence: str


def _pairs(a: Sequence[Reply], b: Sequence[Reply]) -> list[tuple[list[TokenLogprob], list[TokenLogprob]]]:
    by_prompt = {r.prompt: r for r in b if r.logprobs}
    return [(r.logprobs, by_prompt[r.prompt].logprobs) for r in a if r.logprobs and r.prompt in by_prompt]  # type: ignore[misc]


def compare_logprobs(
    reference: Sequence[Reply],
    candidate: Sequence[Reply],
    reference_repeat: Sequence[Reply] | None = None,
    *,
    fpr: float = FPR,
) -> LogprobAgreement:
    """The agreement test of the module docstring on replies to the same prompts."""
    noise, source = NOISE_FLOOR, f"assumed floor {NOISE_FLOOR:g} nats"
    if reference_repeat is not None:
        own = [d for ref, rep in _pairs(reference, reference_repeat) for d in aligned_deltas(ref, rep)[0]]
        if own:
            measured = math.sqrt(sum(d * d for d in own) / len(own))
            noise = max(NOISE_FLOOR, measured)
            source = f"reference asked twice: {measured:.4f} nats over {len(own)} tokens, floor {NOISE_FLOOR:g}"
    pairs = _pairs(reference, candidate)
    if not pairs:
        return LogprobAgreement(
            False, 0, 0, None, None, noise, source, None, None, "no log-probabilities from one of the endpoints"
        )
    deltas: list[float] = []
    overlaps: list[float] = []
    for ref, cand in pairs:
        d, o = aligned_deltas(ref, cand)
        deltas.extend(d)
        overlaps.extend(o)
    topk = sum(overlaps) / len(overlaps) if overlaps else None
    topk_text = f"top-k overlap {topk:.3f}" if topk is not None else "no top-k alternatives"
    if len(deltas) < MIN_ALIGNED:
        return LogprobAgreement(
            True, len(pairs), len(deltas), None, None, noise, source, topk, None,
            f"only {len(deltas)} aligned tokens over {len(pairs)} prompts (< {MIN_ALIGNED}): no evidence",
        )  # fmt: skip
    stat = sum(abs(d) for d in deltas) / len(deltas)
    limit = null_threshold(len(deltas), noise, fpr)
    flagged = stat > limit
    verdict = "shifted beyond faithful noise" if flagged else "within faithful noise"
    evidence = (
        f"{verdict}: mean |Δ logprob| {stat:.4f} nats over {len(deltas)} aligned tokens of {len(pairs)} prompts, "
        f"threshold {limit:.4f} (FPR {fpr:g}, noise sd {noise:.4f}: {source}); {topk_text}"
    )
    return LogprobAgreement(True, len(pairs), len(deltas), stat, limit, noise, source, topk, flagged, evidence)
