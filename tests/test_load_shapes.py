"""Load shapes (computed schedules, no real sleeping), stage summaries on synthetic records, and the self-check."""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import time

import pytest

from tianping.scoring.stats import wilson_interval
from tianping.serving.load import (
    WORDS,
    LoadShape,
    PromptFactory,
    StageConfig,
    TimedRecord,
    arrival_offsets,
    assign_phases,
    concurrency_at,
    expected_cv,
    run_stage,
    synthetic_prompt,
)
from tianping.serving.records import ProbeRecord
from tianping.serving.selfcheck import SelfCheck, judge
from tianping.serving.summary import distribution, error_breakdown, meets_slo, summarize, summarize_stage


def _gaps(offsets: list[float]) -> list[float]:
    return [b - a for a, b in zip(offsets, offsets[1:], strict=False)]


def _cv(xs: list[float]) -> float:
    return statistics.pstdev(xs) / statistics.fmean(xs)


# ---------------------------------------------------------------------------------------------- schedules


def test_constant_rate_is_evenly_spaced_and_bounded():
    offs = arrival_offsets(LoadShape("constant", rate=4.0), max_requests=100, max_duration_s=1000)
    assert len(offs) == 100
    assert offs[0] == 0.0
    assert all(g == pytest.approx(0.25) for g in _gaps(offs))
    # bounded by time as well as by count
    offs = arrival_offsets(LoadShape("constant", rate=4.0), max_requests=10**6, max_duration_s=2.0)
    assert len(offs) == 9 and offs[-1] == pytest.approx(2.0)


def test_poisson_mean_and_cv_and_seed():
    shape = LoadShape("poisson", rate=10.0, seed=7)
    offs = arrival_offsets(shape, max_requests=20000, max_duration_s=1e9)
    gaps = _gaps(offs)
    assert statistics.fmean(gaps) == pytest.approx(0.1, rel=0.03)
    assert _cv(gaps) == pytest.approx(1.0, abs=0.03) == pytest.approx(expected_cv(shape), abs=0.03)
    assert offs == arrival_offsets(shape, max_requests=20000, max_duration_s=1e9)  # seeded: reproducible
    assert offs != arrival_offsets(LoadShape("poisson", rate=10.0, seed=8), max_requests=20000, max_duration_s=1e9)


@pytest.mark.parametrize("k", [0.25, 1.0, 4.0])
def test_gamma_burstiness_sets_cv_and_keeps_mean(k):
    shape = LoadShape("gamma", rate=5.0, burstiness=k, seed=3)
    gaps = _gaps(arrival_offsets(shape, max_requests=30000, max_duration_s=1e9))
    assert statistics.fmean(gaps) == pytest.approx(0.2, rel=0.05)  # mean = 1/rate whatever the burstiness
    assert _cv(gaps) == pytest.approx(1 / math.sqrt(k), rel=0.06)


def test_rate_ramp_increases_linearly_then_holds():
    shape = LoadShape("constant", rate=2.0, ramp_to=20.0, ramp_s=10.0)
    offs = arrival_offsets(shape, max_requests=10**6, max_duration_s=15.0)
    # expected count: area under the rate curve = (2+20)/2*10 + 20*5 = 210 (plus the arrival at t=0)
    assert len(offs) == pytest.approx(211, abs=2)
    first_s = sum(1 for t in offs if t < 1.0)
    ninth_s = sum(1 for t in offs if 9.0 <= t < 10.0)
    after = sum(1 for t in offs if 11.0 <= t < 12.0)
    assert first_s < ninth_s <= after
    assert ninth_s == pytest.approx(2 + 18 * 0.95, abs=1.5)
    assert after == pytest.approx(20, abs=1)
    gaps = _gaps(offs)
    assert all(b <= a + 1e-9 for a, b in zip(gaps, gaps[1:], strict=False))  # gaps shrink monotonically


def test_concurrency_ramp():
    shape = LoadShape("concurrency", concurrency=2, ramp_to=10, ramp_s=8.0)
    assert [concurrency_at(shape, t) for t in (0, 2, 4, 8, 100)] == [2, 4, 6, 10, 10]
    assert concurrency_at(LoadShape("concurrency", concurrency=3), 50) == 3


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError):
        LoadShape("poisson")
    with pytest.raises(ValueError):
        LoadShape("weird", rate=1)
    with pytest.raises(ValueError):
        LoadShape("concurrency", concurrency=0)
    with pytest.raises(ValueError):
        LoadShape("constant", rate=1, ramp_to=5)  # a ramp needs a length
    with pytest.raises(ValueError):
        arrival_offsets(LoadShape("concurrency", concurrency=2), max_requests=1, max_duration_s=1)


# ---------------------------------------------------------------------------------------------- prompts


def test_synthetic_prompts_length_seed_and_nonce():
    text = synthetic_prompt(50, random.Random(1))
    assert len(text.split()) == 50 and set(text.split()) <= set(WORDS)
    assert text == synthetic_prompt(50, random.Random(1))
    a, b = PromptFactory(20, nonce=True, seed=5), PromptFactory(20, nonce=True, seed=5)
    pa = [a.next() for _ in range(5)]
    assert pa == [b.next() for _ in range(5)]
    assert len({p.split()[0] for p in pa}) == 5  # each starts with its own nonce
    assert all(p.startswith("[req-") and len(p.split()) == 21 for p in pa)
    plain = PromptFactory(20, nonce=False).next()
    assert not plain.startswith("[") and len(plain.split()) == 20


# ---------------------------------------------------------------------------------------------- running a stage


class FakeProber:
    """Answers after ``delay`` seconds; every ``fail_every``-th call fails; tracks peak concurrency."""

    def __init__(self, delay: float = 0.005, fail_every: int = 0):
        self.delay, self.fail_every = delay, fail_every
        self.calls = self.in_flight = self.peak = 0
        self.prompts: list[str] = []

    async def probe(self, messages, *, max_tokens=None, temperature=0.0, extra=None):
        self.calls += 1
        n = self.calls
        self.prompts.append(messages[0]["content"])
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(self.delay)
        self.in_flight -= 1
        if self.fail_every and n % self.fail_every == 0:
            return ProbeRecord("e", "m", started_at=time.time(), ok=False, failure="server_error", http_status=500)
        return _ok(ttft=0.001, tpot=0.001, tokens=4)


def test_closed_loop_stage_respects_concurrency_and_count():
    prober = FakeProber(fail_every=5)
    cfg = StageConfig(LoadShape("concurrency", concurrency=4), max_requests=30, prompt_words=8)
    result = asyncio.run(run_stage(prober, cfg))
    assert prober.calls == 30 and prober.peak == 4
    assert [t.index for t in result.records] == list(range(30))
    assert len(set(prober.prompts)) == 30  # nonces make every prompt unique
    s = summarize_stage(result)
    assert s["counts"] == {"attempted": 30, "succeeded": 24, "failed": 6}
    assert s["errors"] == {"server_error": 6}


def test_open_loop_stage_is_bounded_by_duration():
    prober = FakeProber()
    cfg = StageConfig(LoadShape("constant", rate=200.0), max_requests=10**6, duration_s=0.1)
    result = asyncio.run(run_stage(prober, cfg))
    assert 19 <= prober.calls <= 21
    assert result.wall_s < 2.0


def test_closed_loop_concurrency_ramp_adds_workers():
    prober = FakeProber(delay=0.01)
    cfg = StageConfig(LoadShape("concurrency", concurrency=1, ramp_to=4, ramp_s=0.2), duration_s=0.3)
    result = asyncio.run(run_stage(prober, cfg))
    assert prober.peak == 4
    early = sum(1 for t in result.records if t.sent_s < 0.05)
    late = sum(1 for t in result.records if 0.25 <= t.sent_s < 0.30)
    assert late > 2 * early
    assert result.send_window_s == 0.3


def test_warmup_and_cooldown_records_are_kept_but_not_counted():
    recs = [TimedRecord(_ok(ttft=1.0 if i < 3 else 0.1), i, sent_s=float(i)) for i in range(10)]
    assign_phases(recs, send_window_s=9.0, warmup_s=2.5, cooldown_s=2.0)
    assert [t.phase for t in recs] == ["warmup"] * 3 + ["measure"] * 5 + ["cooldown"] * 2


# ---------------------------------------------------------------------------------------------- summary maths


def _ok(ttft=0.1, tpot=0.01, tokens=11, e2e=None, itl=None, started=1000.0) -> ProbeRecord:
    e2e = e2e if e2e is not None else ttft + tpot * (tokens - 1)
    return ProbeRecord(
        "e",
        "m",
        started_at=started,
        ok=True,
        ttft_s=ttft,
        ttfat_s=ttft,
        e2e_s=e2e,
        itl_s=itl if itl is not None else [tpot] * (tokens - 1),
        tpot_s=tpot,
        output_tokens=tokens,
        output_tps=tokens / (tpot * (tokens - 1)) if tokens > 1 else None,
    )


def test_distribution_percentiles():
    d = distribution(list(range(1, 101)) + [None])
    assert d["n"] == 100 and d["mean"] == 50.5
    assert d["p50"] == pytest.approx(50.5) and d["p90"] == pytest.approx(90.1) and d["p99"] == pytest.approx(99.01)
    assert d["min"] == 1 and d["max"] == 100
    assert distribution([])["p50"] is None


def test_summarize_counts_wilson_errors_goodput_throughput():
    recs = [_ok(ttft=0.1 * (i + 1), tpot=0.01 if i % 2 == 0 else 0.05, started=1000.0 + i) for i in range(8)]
    recs += [
        ProbeRecord("e", "m", started_at=1001.0, ok=False, failure="rate_limited", http_status=429),
        ProbeRecord("e", "m", started_at=1002.0, ok=False, failure="rate_limited", http_status=429),
        ProbeRecord("e", "m", started_at=1003.0, ok=False, failure="ttft_timeout"),
        ProbeRecord("e", "m", started_at=1003.0, ok=False, failure="mystery"),
    ]
    s = summarize(recs, window_s=10.0, slo_ttft_s=0.45, slo_tpot_s=0.02)
    assert s["counts"] == {"attempted": 12, "succeeded": 8, "failed": 4}
    assert s["success_rate"]["value"] == pytest.approx(8 / 12)
    assert (s["success_rate"]["ci_low"], s["success_rate"]["ci_high"]) == wilson_interval(8, 12)
    assert s["errors"] == {"rate_limited": 2, "ttft_timeout": 1, "other": 1}
    # ttft <= 0.45: i in 0..3; of those tpot ok for i even: 0, 2 -> 2 good of 12 attempted
    assert s["goodput"]["good"] == 2
    assert s["goodput"]["fraction"] == pytest.approx(2 / 12)
    assert s["goodput"]["requests_per_s"] == pytest.approx(0.2)
    assert s["throughput"]["requests_per_s"] == pytest.approx(0.8)
    assert s["throughput"]["output_tokens_per_s"] == pytest.approx(8 * 11 / 10)
    assert s["latency"]["ttft_s"]["n"] == 8  # failures have no latency
    assert s["latency"]["ttft_s"]["p50"] == pytest.approx(0.45)
    assert s["latency"]["itl_s"]["n"] == 80
    assert s["latency"]["tpot_s"]["mean"] == pytest.approx(0.03)


def test_summarize_empty_and_window_default():
    s = summarize([])
    assert s["counts"]["attempted"] == 0 and s["success_rate"]["value"] is None
    assert s["throughput"]["requests_per_s"] is None
    recs = [_ok(e2e=2.0, started=100.0), _ok(e2e=1.0, started=103.0)]
    assert summarize(recs)["throughput"]["window_s"] == pytest.approx(4.0)


def test_meets_slo_and_error_breakdown_order():
    assert meets_slo(_ok(ttft=0.1, tpot=0.01), 0.2, 0.02)
    assert not meets_slo(_ok(ttft=0.3, tpot=0.01), 0.2, 0.02)
    assert not meets_slo(_ok(ttft=0.1, tpot=0.03), 0.2, 0.02)
    assert meets_slo(_ok(ttft=0.1, tpot=0.03), None, None)
    single = _ok(tokens=1)
    single.tpot_s = None
    assert meets_slo(single, 0.2, 0.02)  # one token has no TPOT
    assert not meets_slo(ProbeRecord("e", "m", ok=False, failure="auth"), None, None)
    fails = [ProbeRecord("e", "m", ok=False, failure=f) for f in ("truncated", "rate_limited", "truncated")]
    assert list(error_breakdown(fails).items()) == [("rate_limited", 1), ("truncated", 2)]


# ---------------------------------------------------------------------------------------------- self-check


def test_judge_thresholds():
    assert judge(50.0, 2.0) == (True, None)
    valid, reason = judge(95.0, 2.0)
    assert not valid and "CPU" in reason
    valid, reason = judge(10.0, 30.0)
    assert not valid and "lag" in reason
    assert judge(150.0, 1.0, wall_s=0.01) == (True, None)  # too short to judge CPU
    assert not judge(150.0, 1.0, wall_s=5.0)[0]


def test_self_check_flags_a_blocked_event_loop():
    async def blocked() -> object:
        check = SelfCheck(interval_s=0.005)
        await check.start()
        for _ in range(6):
            time.sleep(0.05)  # blocks the loop: the ticker wakes ~50 ms late
            await asyncio.sleep(0.006)
        return await check.stop()

    result = asyncio.run(blocked())
    assert not result.valid
    assert result.loop_lag_p99_ms > 30
    assert "lag" in result.reason
    assert result.cpu_pct is not None


def test_self_check_passes_an_idle_loop():
    async def idle() -> object:
        check = SelfCheck(interval_s=0.005, max_cpu_pct=101.0, max_lag_p99_ms=40.0)
        await check.start()
        await asyncio.sleep(0.15)
        return await check.stop()

    result = asyncio.run(idle())
    assert result.valid, result.reason
    assert result.ticks >= 10
    assert result.cpu_pct < 50
