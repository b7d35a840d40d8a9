"""Arrival stamps: when each run of response-body bytes came off the socket.

A probe's task reads the body some time after the bytes arrive: the event loop runs other callbacks first,
and under load (a thousand streams on one core) that wait is milliseconds. Stamping when the task reads
would add the wait to every token time. The protocol's ``data_received`` runs as soon as the socket is
read, so a protocol that stamps there gives the arrival time; the task then maps each SSE event to the
stamp of the bytes that completed it, however late it parses.

This hooks aiohttp's connector through its protocol factory (``TCPConnector._factory``, stable across
aiohttp 3.x but not public API); where that attribute is missing the probe falls back to stamping when it
reads, and says so in ``ProbeRecord.stamp_source``.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler


class StampingHandler(ResponseHandler):
    """aiohttp's response protocol, recording ``(body bytes received so far, time)`` after each socket read."""

    def __init__(self, loop: Any) -> None:
        super().__init__(loop=loop)
        self.stamps: list[tuple[int, float]] = []
        self.stamped_payload: Any = None

    def data_received(self, data: bytes) -> None:
        t = time.perf_counter()
        before = self._payload
        super().data_received(data)
        payload = self._payload or before
        if payload is None:
            return
        if payload is not self.stamped_payload:  # a new response on this (kept-alive) connection
            self.stamped_payload = payload
            self.stamps = []
        self.stamps.append((payload.total_bytes, t))


def stamping_connector(**kwargs: Any) -> tuple[aiohttp.TCPConnector, bool]:
    """A TCP connector whose connections stamp arrivals, and whether the hook could be installed."""
    connector = aiohttp.TCPConnector(**kwargs)
    factory = getattr(connector, "_factory", None)
    if not isinstance(factory, functools.partial) or factory.func is not ResponseHandler:
        return connector, False
    connector._factory = functools.partial(StampingHandler, *factory.args, **factory.keywords)
    return connector, True


class ArrivalClock:
    """Maps an offset in one response's body to the time the byte at that offset arrived."""

    __slots__ = ("_stamps", "_i", "_fallback")

    def __init__(self, resp: aiohttp.ClientResponse):
        protocol = resp.connection.protocol if resp.connection is not None else None
        self._stamps: list[tuple[int, float]] | None = None
        if isinstance(protocol, StampingHandler) and protocol.stamped_payload is resp.content:
            self._stamps = protocol.stamps
        self._i = 0
        self._fallback = time.perf_counter

    @property
    def stamped(self) -> bool:
        return self._stamps is not None

    def at(self, offset: int, read_t: float) -> float:
        """Arrival time of the byte just before ``offset``; ``read_t`` when no stamp covers it."""
        stamps = self._stamps
        if stamps is None:
            return read_t
        i, n = self._i, len(stamps)
        while i < n and stamps[i][0] < offset:
            i += 1
        self._i = i
        return stamps[i][1] if i < n else read_t
