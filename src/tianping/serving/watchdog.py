"""The deadlines of one streamed probe (TTFT, idle, total): a timer that cancels the probe's task."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class TimedStream(Protocol):
    """What the watchdog reads of a stream: when its first token and its last data event came."""

    first_t: float | None
    last_data_t: float


class Watchdog:
    """Cancels a probe's task when its TTFT, idle or total deadline passes.

    Lazy: a chunk only moves ``stream.last_data_t``; the timer, when it fires, compares the clock with the
    deadline that holds now and sleeps again if data came meanwhile. Rescheduling a timer on every chunk
    cost a heap operation per token, the largest single item of the probe's per-token work at a thousand
    streams. Lazy checking only works for deadlines that move later; the one move earlier, from the TTFT
    deadline to ``idle_s`` after the first token, re-arms the timer (``first_token``, once per stream).
    """

    __slots__ = ("task", "stream", "total_deadline", "ttft_deadline", "idle_s", "fired", "_handle", "_loop", "_offset")

    def __init__(
        self, task: asyncio.Task, stream: TimedStream, *, total_deadline: float, ttft_deadline: float, idle_s: float
    ):
        self.task = task
        self.stream = stream
        self.total_deadline = total_deadline
        self.ttft_deadline = ttft_deadline
        self.idle_s = idle_s
        self.fired = False
        self._handle: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        # deadlines are on the perf_counter clock; the loop's timers run on its own clock
        self._offset = self._loop.time() - time.perf_counter()

    def token_deadline(self) -> float:
        if self.stream.first_t is None:
            return self.ttft_deadline
        return self.stream.last_data_t + self.idle_s

    def due(self) -> float:
        return min(self.total_deadline, self.token_deadline())

    def arm(self) -> None:
        self._handle = self._loop.call_at(self.due() + self._offset, self._check)

    def _check(self) -> None:
        due = self.due()
        if time.perf_counter() >= due:
            self.fired = True
            self._handle = None
            self.task.cancel()
        else:
            self._handle = self._loop.call_at(due + self._offset, self._check)

    def first_token(self) -> None:
        if self._handle is not None and not self.fired:
            self._handle.cancel()
            self.arm()

    def disarm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
