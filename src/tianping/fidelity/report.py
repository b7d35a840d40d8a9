"""The fidelity report of a finished plan run: every provider of one model against a reference provider.

The items are paired across all benchmarks of the run (the pack is judged as one set: a provider that lost a
few points on each benchmark has lost them overall, and one test over all items has the power the pack was
sized for); the per-benchmark differences are shown beside it as evidence of where a loss is.
"""

from __future__ import annotations

from dataclasses import dataclass

from tianping.fidelity.longctx_evidence import ContextEvidence, context_evidence
from tianping.fidelity.stats import FidelityResult, fidelity_compare
from tianping.report.compare import sample_scores
from tianping.store import Store

__all__ = ["ProviderFidelity", "fidelity_report"]


@dataclass(frozen=True)
class ProviderFidelity:
    model: str
    overall: FidelityResult
    by_benchmark: dict[str, tuple[int, float]]
    """benchmark -> (paired items, provider - reference accuracy on them)."""
    skipped: list[str]
    """Benchmarks left out of the pairing, each with why (not scored 0/1, or no items in common)."""
    context: ContextEvidence | None = None
    """``tp_longctx`` accuracy by length bucket, where the run has it."""

    @property
    def verdict(self) -> str:
        """``context cut`` where the long-context buckets show a cut window, else the accuracy verdict."""
        return "context cut" if self.context is not None and self.context.cut_from else self.overall.verdict

    @property
    def evidence(self) -> str:
        if self.context is None:
            return self.overall.evidence
        return f"{self.overall.evidence}; {self.context.evidence}"


def fidelity_report(
    store: Store, run_id: str, reference: str, *, alpha: float = 0.05, tolerance: float = 0.03
) -> list[ProviderFidelity]:
    """One entry per model of the run other than ``reference``, paired with it item by item.

    Raises:
        ValueError: when the run has no such reference model, or no other model.
    """
    scores = sample_scores(store, run_id)
    models = sorted({m for m, _ in scores})
    if reference not in models:
        raise ValueError(
            f"run {run_id} has no scored samples of reference '{reference}' (it has: {', '.join(models) or 'none'})"
        )
    providers = [m for m in models if m != reference]
    if not providers:
        raise ValueError(f"run {run_id} has only the reference model '{reference}': nothing to compare")
    benchmarks = sorted({b for m, b in scores if m == reference})
    out = []
    for model in providers:
        ref_all: list[float] = []
        prov_all: list[float] = []
        by_benchmark: dict[str, tuple[int, float]] = {}
        skipped: list[str] = []
        for bench in benchmarks:
            ref, prov = scores.get((reference, bench), {}), scores.get((model, bench), {})
            common = sorted(set(ref) & set(prov))
            if not common:
                skipped.append(f"{bench}: no items scored by both")
                continue
            pairs = [(ref[i], prov[i]) for i in common]
            if any(v not in (0.0, 1.0) for pair in pairs for v in pair):
                skipped.append(f"{bench}: partial-credit scores, not right/wrong")
                continue
            ref_all.extend(r for r, _ in pairs)
            prov_all.extend(p for _, p in pairs)
            by_benchmark[bench] = (len(pairs), sum(p - r for r, p in pairs) / len(pairs))
        if not ref_all:
            raise ValueError(f"run {run_id}: '{model}' and '{reference}' share no right/wrong-scored items")
        result = fidelity_compare(ref_all, prov_all, alpha=alpha, tolerance=tolerance)
        longctx = (scores.get((reference, "tp_longctx"), {}), scores.get((model, "tp_longctx"), {}))
        context = context_evidence(*longctx, alpha=alpha) if "tp_longctx" in by_benchmark else None
        out.append(
            ProviderFidelity(model=model, overall=result, by_benchmark=by_benchmark, skipped=skipped, context=context)
        )
    return out
