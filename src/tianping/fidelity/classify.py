"""One verdict per provider from every fidelity signal there is for it, with the reasons behind it.

Order of the labels: a tokenizer that is not the reference's says another model is answering, whatever else
holds (``another tokenizer``); a context cut below the claim is a deployment limit worth its own name
(``context cut``); any other signal beyond its threshold, or accuracy significantly lower, is ``degraded``;
``faithful`` needs at least one signal that could have failed and did not, and no accuracy verdict other than
consistent; anything else is ``inconclusive``.

The false-positive rate of ``degraded`` on a faithful provider is at most the sum of the rates of the tests
that ran (accuracy's lower tail, 0.025 at alpha 0.05; log-probabilities 0.01; each behaviour test 0.01);
tests/test_fidelity_classify.py measures it by simulation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tianping.fidelity.logprob_signal import LogprobAgreement
from tianping.fidelity.profile import SignalResult
from tianping.fidelity.signals import ContextProbe, TokenizerMatch
from tianping.fidelity.stats import FidelityResult

__all__ = ["LABELS", "ProviderVerdict", "classify"]

LABELS = ("faithful", "degraded", "context cut", "another tokenizer", "inconclusive")


@dataclass(frozen=True, slots=True)
class ProviderVerdict:
    label: str
    reasons: list[str]


def classify(
    *,
    accuracy: FidelityResult | None = None,
    logprobs: LogprobAgreement | None = None,
    tokenizer: TokenizerMatch | None = None,
    context: ContextProbe | None = None,
    signals: Sequence[SignalResult] = (),
) -> ProviderVerdict:
    """The label of the module docstring; ``reasons`` names each signal that decided it, with its evidence."""
    if tokenizer is not None and not tokenizer.same:
        return ProviderVerdict("another tokenizer", [f"tokenizer: {tokenizer.evidence}"])
    if context is not None and context.truncates:
        return ProviderVerdict("context cut", [f"context: {context.evidence}"])
    bad = []
    if accuracy is not None and accuracy.verdict == "degraded":
        bad.append(f"accuracy: {accuracy.evidence}")
    if logprobs is not None and logprobs.flagged:
        bad.append(f"logprobs: {logprobs.evidence}")
    bad.extend(f"{s.name}: {s.evidence}" for s in signals if s.flagged)
    if bad:
        return ProviderVerdict("degraded", bad)
    passed = []
    if tokenizer is not None:
        passed.append(f"tokenizer: {tokenizer.evidence}")
    if context is not None:
        passed.append(f"context: {context.evidence}")
    if logprobs is not None and logprobs.flagged is False:
        passed.append(f"logprobs: {logprobs.evidence}")
    passed.extend(f"{s.name}: {s.evidence}" for s in signals if s.flagged is False)
    if accuracy is not None:
        if accuracy.verdict != "consistent":
            return ProviderVerdict("inconclusive", [f"accuracy: {accuracy.evidence}", *passed])
        passed.insert(0, f"accuracy: {accuracy.evidence}")
    if not passed:
        return ProviderVerdict("inconclusive", ["no signal gave evidence either way"])
    return ProviderVerdict("faithful", passed)
