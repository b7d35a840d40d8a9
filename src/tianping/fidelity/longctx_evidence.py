"""Evidence of a cut context window from a fidelity run's ``tp_longctx`` items, by length bucket.

A provider that serves a shorter window than the model's loses the items whose documents no longer fit, and only
those: its accuracy matches the reference's on the short buckets and drops from some bucket on. A quantized one
loses a little everywhere. The rule (``alpha`` 0.05 by default):

* for each split point ``b`` (16k... every bucket but the shortest), the items of the buckets from ``b`` on are
  paired with the reference's and tested with the exact McNemar test at ``alpha / splits`` (Bonferroni over the
  split points tried), and must be significantly *lower*;
* the buckets below ``b``, pooled, must not be significantly lower (McNemar at ``alpha``), every bucket from
  ``b`` on must be lower than the reference on its own (no long bucket where the provider kept up), and of the
  items the reference got right, the provider must lose a significantly larger share from ``b`` on than below
  (one-sided Fisher exact test at ``alpha``): a loss *confined* to long prompts, not a uniform one that the
  short buckets are too few to show;
* of the split points that pass, the one with the smallest Fisher p (the sharpest boundary between kept and
  lost answers) is where the cut shows: the window is below that bucket's documents.

Under "same model" a long-bucket drop this large happens with probability at most ``alpha`` (the Bonferroni
bound). A provider degraded uniformly fails the Fisher condition; one that copes worse with long prompts only
(a quantized model can) looks like a cut here -- the evidence lists every bucket, and ``tianping fidelity probe
--claimed-context`` measures the window directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from tianping.benchmarks.longctx import BUCKETS, bucket_of
from tianping.fidelity.stats import mcnemar_exact

__all__ = ["BucketRow", "ContextEvidence", "context_evidence"]


@dataclass(frozen=True, slots=True)
class BucketRow:
    bucket: str
    n: int
    reference_acc: float
    provider_acc: float
    reference_better: int
    provider_better: int
    p_value: float


@dataclass(frozen=True, slots=True)
class ContextEvidence:
    rows: tuple[BucketRow, ...]
    cut_from: str | None
    """The shortest bucket from which the provider is significantly lower (None: no sign of a cut)."""
    evidence: str


def _row(bucket: str, pairs: list[tuple[float, float]]) -> BucketRow:
    ref_only = sum(1 for r, p in pairs if r and not p)
    prov_only = sum(1 for r, p in pairs if p and not r)
    n = len(pairs)
    return BucketRow(
        bucket=bucket,
        n=n,
        reference_acc=sum(r for r, _ in pairs) / n,
        provider_acc=sum(p for _, p in pairs) / n,
        reference_better=ref_only,
        provider_better=prov_only,
        p_value=mcnemar_exact(ref_only, prov_only),
    )


def _contrast(short: list[tuple[float, float]], long: list[tuple[float, float]]) -> float:
    """One-sided Fisher p that the provider loses a larger share of the reference's right answers on ``long``."""
    from scipy.stats import fisher_exact

    kept_s = sum(1 for r, p in short if r and p)
    lost_s = sum(1 for r, p in short if r and not p)
    kept_l = sum(1 for r, p in long if r and p)
    lost_l = sum(1 for r, p in long if r and not p)
    if lost_l + kept_l == 0 or lost_s + kept_s == 0:
        return 1.0
    return float(fisher_exact([[lost_l, kept_l], [lost_s, kept_s]], alternative="greater")[1])


def _lower(pairs: list[tuple[float, float]], alpha: float) -> bool:
    ref_only = sum(1 for r, p in pairs if r and not p)
    prov_only = sum(1 for r, p in pairs if p and not r)
    return ref_only > prov_only and mcnemar_exact(ref_only, prov_only) < alpha


def context_evidence(
    reference: dict[str, float], provider: dict[str, float], *, alpha: float = 0.05
) -> ContextEvidence | None:
    """Per-bucket paired accuracy of the ``tp_longctx`` items both scored right/wrong (sample id -> score), and
    the bucket a cut window shows from; None when fewer than two buckets have items."""
    by_bucket: dict[str, list[tuple[float, float]]] = {}
    for sample_id in sorted(set(reference) & set(provider)):
        bucket = bucket_of(sample_id)
        r, p = reference[sample_id], provider[sample_id]
        if bucket is None or r not in (0.0, 1.0) or p not in (0.0, 1.0):
            continue
        by_bucket.setdefault(bucket, []).append((r, p))
    order = [b for b in BUCKETS if b in by_bucket]
    if len(order) < 2:
        return None
    rows = tuple(_row(b, by_bucket[b]) for b in order)
    splits = len(order) - 1
    cut_from, best = None, alpha
    for i in range(1, len(order)):
        short = [pair for b in order[:i] for pair in by_bucket[b]]
        long = [pair for b in order[i:] for pair in by_bucket[b]]
        each_lower = all(row.provider_acc < row.reference_acc for row in rows[i:])
        contrast = _contrast(short, long)
        if each_lower and _lower(long, alpha / splits) and not _lower(short, alpha) and contrast < best:
            cut_from, best = order[i], contrast  # the split that separates kept from lost answers best
    shown = "; ".join(
        f"{r.bucket}: {100 * r.provider_acc:.0f}% vs {100 * r.reference_acc:.0f}% (n={r.n}, p={r.p_value:.2g})"
        for r in rows
    )
    if cut_from is None:
        why = "no loss confined to the long buckets"
    else:
        short_names = ", ".join(order[: order.index(cut_from)])
        why = (
            f"accuracy drops from the {cut_from} bucket on (McNemar p < {alpha / splits:.3g} there) and holds on "
            f"{short_names}: the context window served is shorter than the {cut_from} documents"
        )
    return ContextEvidence(rows=rows, cut_from=cut_from, evidence=f"tp_longctx by length: {shown}; {why}")
