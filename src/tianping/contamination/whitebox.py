"""White-box contamination scores: every item's text scored by the model (and a reference model).

Methods (``scores`` explains each): ``loss``, ``zlib``, ``min_k``, ``min_k_pp`` (local models only: it needs
the whole next-token distribution), and with a reference model ``ref_ratio`` and ``ref_min_k``.
"""

from __future__ import annotations

from collections.abc import Sequence

from tianping.contamination import scores as sc
from tianping.contamination.items import Item
from tianping.contamination.logprobs import TokenSource, TokenStats
from tianping.contamination.results import ItemResult

SINGLE_MODEL = ("loss", "zlib", "min_k", "min_k_pp")
WITH_REFERENCE = ("ref_ratio", "ref_min_k")
METHODS = SINGLE_MODEL + WITH_REFERENCE


def methods_for(target: TokenSource, reference: TokenSource | None) -> tuple[str, ...]:
    """The methods these sources can compute."""
    chosen = [m for m in SINGLE_MODEL if m != "min_k_pp" or target.has_distribution]
    if reference is not None:
        chosen.append("ref_ratio")
        chosen.append("ref_min_k")
    return tuple(chosen)


def item_scores(
    text: str, mine: TokenStats, ref: TokenStats | None, k: float = sc.DEFAULT_K
) -> tuple[dict[str, float | None], dict[str, float | int]]:
    """Scores and raw values of one item from its token statistics."""
    lp = mine.logprobs
    scores: dict[str, float | None] = {
        "loss": sc.loss_score(lp),
        "zlib": sc.zlib_score(lp, text),
        "min_k": sc.min_k_score(lp, k),
    }
    if mine.mean is not None and mine.std is not None:
        scores["min_k_pp"] = sc.min_k_plus_plus_score(lp, mine.mean, mine.std, k)
    values: dict[str, float | int] = {
        "tokens": len(lp),
        "loss": sc.loss(lp),
        "perplexity": sc.perplexity(lp),
        "zlib_bytes": sc.zlib_size(text),
    }
    if mine.truncated:
        values["truncated_tokens"] = mine.truncated
    if ref is not None:
        scores["ref_ratio"] = sc.reference_ratio_score(lp, ref.logprobs, text)
        # a token-level comparison needs the same tokens: models with different tokenizers get none
        scores["ref_min_k"] = sc.reference_min_k_score(lp, ref.logprobs, k) if len(ref.logprobs) == len(lp) else None
        values["reference_loss"] = sc.loss(ref.logprobs)
    return scores, values


async def white_box(
    items: Sequence[Item],
    target: TokenSource,
    reference: TokenSource | None = None,
    *,
    k: float = sc.DEFAULT_K,
    chunk: int = 512,
    progress: object | None = None,
) -> list[ItemResult]:
    """Score every item; ``progress`` (optional) is called with the number of items done so far."""
    results: list[ItemResult] = []
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]
        texts = [i.text for i in part]
        mine = await target.token_stats(texts, distribution=target.has_distribution)
        theirs = await reference.token_stats(texts) if reference is not None else [None] * len(part)
        for item, m, r in zip(part, mine, theirs, strict=True):
            if not len(m.logprobs) or (r is not None and not len(r.logprobs)):
                results.append(ItemResult(item, {}, {"tokens": len(m.logprobs)}))
                continue
            scores, values = item_scores(item.text, m, r, k)
            results.append(ItemResult(item, dict(scores), dict(values)))
        if callable(progress):
            progress(len(results))
    return results
