"""Open-loop load sends on its schedule: request arrivals at a real server match ``arrival_offsets``.

The schedule is a pure function of the shape and its seed; these tests drive a real probe against the fake
streaming server (same event loop, so its arrival stamps and the client's clock are one clock) and check
each send, and each arrival the server saw, against it. Requests overlap (each takes longer than the gap
between arrivals), which is what makes the loop open.
"""

from __future__ import annotations

import asyncio
import statistics

import pytest

from fake_stream_server import FakeStreamServer
from tianping.serving.load import LoadShape, StageConfig, arrival_offsets, run_stage
from tianping.serving.probe import StreamingProbe

TICK_S = 0.015  # the typical send and arrival: within a scheduler tick of the schedule
LATE_S = 0.06  # the worst, on a loaded 2-core machine; a request held behind another would be >= 0.1 s late


@pytest.mark.parametrize(
    "shape",
    [
        LoadShape("constant", rate=40.0, concurrency=0),
        LoadShape("poisson", rate=40.0, concurrency=0, seed=7),
        LoadShape("gamma", rate=40.0, concurrency=0, burstiness=0.5, seed=3),
    ],
    ids=lambda s: s.kind,  # concurrency=0: no in-flight cap, a purely open loop
)
def test_sends_and_server_arrivals_follow_the_schedule(shape):
    n = 24
    expected = arrival_offsets(shape, max_requests=n, max_duration_s=60.0)

    async def go():
        # each request lasts ~0.2 s, several arrival gaps: many are in flight at once
        async with FakeStreamServer(ttft_s=0.1, itl_s=0.01, output_tokens=10, stamp_all=True) as server:
            probe = StreamingProbe(server.base_url, "m")
            try:
                cfg = StageConfig(shape, max_requests=n, prompt_words=4, max_tokens=10)
                result = await run_stage(probe, cfg)
            finally:
                await probe.aclose()
            return result, server.stamps, server.max_in_flight

    result, stamps, peak = asyncio.run(go())
    assert len(result.records) == n and all(t.record.ok for t in result.records)
    assert peak >= 3  # open loop: later requests did not wait for earlier ones
    sent = {t.index: t.sent_s for t in result.records}
    assert_follows([sent[i] for i in range(n)], expected)
    arrivals = sorted(stamp[0] for stamp in stamps.values())
    assert len(arrivals) == n
    # the server's clock has another origin: its arrivals are the schedule shifted by the median lag (not the first
    # request's, which alone opens a connection)
    shift = statistics.median(a - e for a, e in zip(arrivals, expected, strict=True))
    assert_follows([a - shift for a in arrivals], expected)


def assert_follows(times: list[float], schedule: list[float]) -> None:
    errors = [abs(t - s) for t, s in zip(times, schedule, strict=True)]
    assert statistics.median(errors) < TICK_S, errors
    assert max(errors) < LATE_S, errors
