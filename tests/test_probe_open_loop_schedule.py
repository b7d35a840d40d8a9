"""Open-loop load sends on its schedule: request arrivals at a real server match ``arrival_offsets``.

The schedule is a pure function of the shape and its seed; these tests drive a real probe against the fake
streaming server (same event loop, so its arrival stamps and the client's clock are one clock) and check
each send, and each arrival the server saw, against it. Requests overlap (each takes longer than the gap
between arrivals), which is what makes the loop open.
"""

from __future__ import annotations

import asyncio

import pytest

from fake_stream_server import FakeStreamServer
from tianping.serving.load import LoadShape, StageConfig, arrival_offsets, run_stage
from tianping.serving.probe import StreamingProbe

TOLERANCE_S = 0.015  # one scheduler tick plus a loaded 2-core CI machine


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
    for i, offset in enumerate(expected):
        assert abs(sent[i] - offset) < TOLERANCE_S, (i, sent[i], offset)
    arrivals = sorted(stamp[0] for stamp in stamps.values())
    assert len(arrivals) == n
    for k, offset in enumerate(expected):
        assert abs((arrivals[k] - arrivals[0]) - (offset - expected[0])) < TOLERANCE_S, (k, arrivals[k], offset)
