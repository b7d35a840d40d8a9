"""Is the client the bottleneck? CPU use and event-loop lag measured during a load run.

A load generator that saturates its own CPU or blocks its event loop measures itself, not the
server: timestamps are taken late, TTFT and ITL inflate, and the offered load falls short. The
self-check records the process's CPU time over the run (``time.process_time``, all threads, as a
percentage of one core) and the lateness of a ticker task that asks to wake every ``interval_s``;
the run is marked invalid, with the reason, when either passes its threshold.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

DEFAULT_MAX_CPU_PCT = 90.0
DEFAULT_MAX_LAG_P99_MS = 10.0
DEFAULT_INTERVAL_S = 0.010
MIN_WALL_FOR_CPU_S = 0.5
"""Runs shorter than this are not judged on CPU: start-up costs (the first connection, imports) dominate them."""


@dataclass
class SelfCheckResult:
    cpu_pct: float | None = None
    """CPU seconds used by this process / wall seconds, x100 (100 = one core busy)."""
    wall_s: float = 0.0
    loop_lag_p50_ms: float | None = None
    loop_lag_p99_ms: float | None = None
    loop_lag_max_ms: float | None = None
    ticks: int = 0
    valid: bool = True
    reason: str | None = None
    thresholds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge(
    cpu_pct: float | None,
    lag_p99_ms: float | None,
    *,
    max_cpu_pct: float = DEFAULT_MAX_CPU_PCT,
    max_lag_p99_ms: float = DEFAULT_MAX_LAG_P99_MS,
    wall_s: float | None = None,
) -> tuple[bool, str | None]:
    """(valid, reason): invalid when the client used more than ``max_cpu_pct`` of a core or lagged too much."""
    reasons = []
    judge_cpu = wall_s is None or wall_s >= MIN_WALL_FOR_CPU_S
    if judge_cpu and cpu_pct is not None and cpu_pct > max_cpu_pct:
        reasons.append(f"client CPU {cpu_pct:.0f}% of one core > {max_cpu_pct:.0f}%")
    if lag_p99_ms is not None and lag_p99_ms > max_lag_p99_ms:
        reasons.append(f"event-loop lag p99 {lag_p99_ms:.1f} ms > {max_lag_p99_ms:.1f} ms")
    return (not reasons, "; ".join(reasons) or None)


class SelfCheck:
    """``await start()`` inside the running loop, ``await stop()`` at the end for the result."""

    def __init__(
        self,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        max_cpu_pct: float = DEFAULT_MAX_CPU_PCT,
        max_lag_p99_ms: float = DEFAULT_MAX_LAG_P99_MS,
        max_ticks: int = 10_000_000,
    ) -> None:
        self.interval_s = interval_s
        self.max_cpu_pct = max_cpu_pct
        self.max_lag_p99_ms = max_lag_p99_ms
        self.max_ticks = max_ticks
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._cpu0 = 0.0
        self._wall0 = 0.0

    async def _tick(self) -> None:
        while len(self.lags) < self.max_ticks:
            due = time.perf_counter() + self.interval_s
            await asyncio.sleep(self.interval_s)
            self.lags.append(max(0.0, time.perf_counter() - due))

    async def start(self) -> None:
        self.lags = []
        self._cpu0 = time.process_time()
        self._wall0 = time.perf_counter()
        self._task = asyncio.create_task(self._tick())

    async def stop(self) -> SelfCheckResult:
        wall = time.perf_counter() - self._wall0
        cpu = time.process_time() - self._cpu0
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        cpu_pct = 100.0 * cpu / wall if wall > 0 else None
        p50 = p99 = mx = None
        if self.lags:
            arr = np.asarray(self.lags) * 1000.0
            p50, p99, mx = (float(x) for x in (np.percentile(arr, 50), np.percentile(arr, 99), arr.max()))
        valid, reason = judge(
            cpu_pct, p99, max_cpu_pct=self.max_cpu_pct, max_lag_p99_ms=self.max_lag_p99_ms, wall_s=wall
        )
        return SelfCheckResult(
            cpu_pct=None if cpu_pct is None else round(cpu_pct, 2),
            wall_s=round(wall, 4),
            loop_lag_p50_ms=None if p50 is None else round(p50, 3),
            loop_lag_p99_ms=None if p99 is None else round(p99, 3),
            loop_lag_max_ms=None if mx is None else round(mx, 3),
            ticks=len(self.lags),
            valid=valid,
            reason=reason,
            thresholds={
                "max_cpu_pct": self.max_cpu_pct,
                "max_loop_lag_p99_ms": self.max_lag_p99_ms,
                "min_wall_for_cpu_s": MIN_WALL_FOR_CPU_S,
            },
        )
