"""Pure functions from probe records to the statistics of one load stage (see docs/loadtest-json.md).

Every attempted call is in the success-rate denominator. Latency distributions are taken over the
calls that succeeded (a failed call has no meaningful TPOT); ``itl_s`` pools the gaps of all
successful calls. Throughput and goodput rates divide by the measurement window.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from tianping.scoring.stats import wilson_interval
from tianping.serving.records import FAILURE_CLASSES, ProbeRecord

PERCENTILES = (50, 90, 95, 99)
LATENCY_FIELDS = ("ttft_s", "ttfat_s", "e2e_s", "itl_s", "tpot_s", "output_tps")


def distribution(values: Iterable[float | None]) -> dict[str, float | int | None]:
    """n, mean, p50/p90/p95/p99 (linear interpolation), min and max; None entries are skipped."""
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    out: dict[str, float | int | None] = {"n": int(arr.size)}
    if arr.size == 0:
        out.update({"mean": None, **{f"p{p}": None for p in PERCENTILES}, "min": None, "max": None})
        return out
    out["mean"] = float(arr.mean())
    for p, v in zip(PERCENTILES, np.percentile(arr, PERCENTILES), strict=True):
        out[f"p{p}"] = float(v)
    out["min"] = float(arr.min())
    out["max"] = float(arr.max())
    return out


def error_breakdown(records: Sequence[ProbeRecord]) -> dict[str, int]:
    """Failed calls per failure class (classes with no failures left out; unknown classes as ``other``)."""
    counts: Counter[str] = Counter(_failure_class(r) for r in records if not r.ok)
    order = {c: i for i, c in enumerate((*FAILURE_CLASSES, "other"))}
    return dict(sorted(counts.items(), key=lambda kv: order[kv[0]]))


def error_examples(records: Sequence[ProbeRecord]) -> dict[str, str]:
    """The first failed call's error text per failure class (as ``error_breakdown`` names them): what to read
    before the per-call records. One short text per class, so bounded whatever the stage's size."""
    examples: dict[str, str] = {}
    for r in records:
        if not r.ok:
            examples.setdefault(_failure_class(r), r.error or "")
    return examples


def _failure_class(r: ProbeRecord) -> str:
    return r.failure if r.failure in FAILURE_CLASSES else "other"


def meets_slo(r: ProbeRecord, slo_ttft_s: float | None, slo_tpot_s: float | None) -> bool:
    """Succeeded and within both SLOs. A call with a single token has no TPOT and passes that SLO."""
    if not r.ok:
        return False
    if slo_ttft_s is not None and (r.ttft_s is None or r.ttft_s > slo_ttft_s):
        return False
    return not (slo_tpot_s is not None and r.tpot_s is not None and r.tpot_s > slo_tpot_s)


def window_of(records: Sequence[ProbeRecord]) -> float:
    """First send to last completion (unix times), for when the caller gives no window."""
    spans = [(r.started_at, r.started_at + (r.e2e_s or 0.0)) for r in records]
    if not spans:
        return 0.0
    return max(end for _, end in spans) - min(start for start, _ in spans)


def summarize(
    records: Sequence[ProbeRecord],
    *,
    window_s: float | None = None,
    slo_ttft_s: float | None = None,
    slo_tpot_s: float | None = None,
) -> dict[str, Any]:
    """counts, success_rate (Wilson 95%), errors, latency, throughput and goodput of ``records``."""
    n = len(records)
    ok = [r for r in records if r.ok]
    window = window_of(records) if window_s is None else window_s
    low, high = wilson_interval(len(ok), n)
    out_tokens = sum(r.output_tokens or 0 for r in ok)
    good = sum(meets_slo(r, slo_ttft_s, slo_tpot_s) for r in records)
    # prompt caching, from the calls whose server reported both counts (others say nothing either way)
    cache = [r for r in ok if r.prompt_tokens is not None and r.cached_prompt_tokens is not None]
    prompt_total = sum(r.prompt_tokens or 0 for r in cache)
    cached_total = sum(r.cached_prompt_tokens or 0 for r in cache)
    latency = {
        "ttft_s": distribution(r.ttft_s for r in ok),
        "ttfat_s": distribution(r.ttfat_s for r in ok),
        "e2e_s": distribution(r.e2e_s for r in ok),
        "itl_s": distribution(g for r in ok for g in r.itl_s),
        "tpot_s": distribution(r.tpot_s for r in ok),
        "output_tps": distribution(r.output_tps for r in ok),
    }
    return {
        "counts": {"attempted": n, "succeeded": len(ok), "failed": n - len(ok)},
        "success_rate": {"value": len(ok) / n if n else None, "ci_low": low, "ci_high": high, "confidence": 0.95},
        "errors": error_breakdown(records),
        "error_examples": error_examples(records),
        "latency": latency,
        "throughput": {
            "window_s": window,
            "requests_per_s": len(ok) / window if window > 0 else None,
            "output_tokens_per_s": out_tokens / window if window > 0 else None,
            "output_tokens": out_tokens,
        },
        "prompt_cache": {
            "calls": len(cache),
            "prompt_tokens": prompt_total,
            "cached_prompt_tokens": cached_total,
            "cached_fraction": cached_total / prompt_total if prompt_total else None,
        },
        "goodput": {
            "slo_ttft_s": slo_ttft_s,
            "slo_tpot_s": slo_tpot_s,
            "good": good,
            "fraction": good / n if n else None,
            "requests_per_s": good / window if window > 0 else None,
        },
    }


def summarize_stage(result: Any, *, slo_ttft_s: float | None = None, slo_tpot_s: float | None = None) -> dict:
    """The stage summary of a :class:`tianping.serving.load.StageResult`: config, window, stats, self-check."""
    start, end = result.measure_window()
    measured = result.measured()
    phases = Counter(t.phase for t in result.records)
    window = window_of(measured)
    summary = summarize(measured, window_s=window, slo_ttft_s=slo_ttft_s, slo_tpot_s=slo_tpot_s)
    return {
        "config": result.config.to_dict(),
        "window": {
            "wall_s": result.wall_s,
            "send_window_s": result.send_window_s,
            "measure_from_s": start,
            "measure_to_s": end,
            "records": {p: phases.get(p, 0) for p in ("warmup", "measure", "cooldown")},
            "stopped_early": result.stopped_early,
        },
        **summary,
        "self_check": result.self_check.to_dict(),
    }
