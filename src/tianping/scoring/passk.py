"""The unbiased pass@k estimator of Chen et al. (2021), "Evaluating Large Language Models Trained on Code".

With ``n`` samples drawn for a task of which ``c`` pass, the probability that at least one of ``k``
samples drawn without replacement passes is ``1 - C(n - c, k) / C(n, k)``. The binomials overflow a
float for large ``n``; the ratio is computed as the product ``prod_{i = n-c+1}^{n} (1 - k / i)``,
which stays in [0, 1] at every step.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["pass_at_k", "mean_pass_at_k"]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of pass@k for one task with ``c`` of ``n`` samples correct."""
    if n < 1 or k < 1 or c < 0:
        raise ValueError(f"pass@k needs n >= 1, k >= 1 and c >= 0 (got n={n}, c={c}, k={k})")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per task, got n={n}")
    if c > n:
        raise ValueError(f"c={c} correct samples is more than n={n} samples")
    if n - c < k:  # every draw of k samples contains a correct one
        return 1.0
    ratio = 1.0  # C(n - c, k) / C(n, k)
    for i in range(n - c + 1, n + 1):
        ratio *= 1.0 - k / i
    return 1.0 - ratio


def mean_pass_at_k(counts: Sequence[tuple[int, int]], k: int) -> float:
    """The mean of ``pass_at_k`` over tasks given as ``(n, c)`` pairs (tasks may differ in ``n``)."""
    if not counts:
        raise ValueError("mean_pass_at_k needs at least one task")
    return sum(pass_at_k(n, c, k) for n, c in counts) / len(counts)
