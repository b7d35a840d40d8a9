"""Fewer garbage collections while a run is in flight.

CPython collects its youngest generation every 700 container allocations. An API run allocates a few hundred
per answer (the HTTP exchange, the parsed reply, the score, the stored row), so at the default it collects
every 20-30 answers, and each young collection also walks what the start-up left behind (modules, the dataset,
the prompts): 18-37 µs of collector per answer at 1,319 GSM8K answers, C=32 (docs/benchmarks.md). Freezing the
start-up heap and collecting the young generation every ~10,000 allocations brings it to 3-4 µs. Cycles are
still found, only later; the previous settings come back when the run ends, so a program that runs tianping
from Python keeps its own.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 10_000
"""Allocations between collections of the youngest generation during a run (CPython's default is 700)."""

_lock = threading.Lock()
_depth = 0  # runs inside the block now (several may share one process: a server, threads, nested loops)
_saved: tuple[int, ...] | None = None  # the settings before the first of them, restored after the last


@contextmanager
def spaced_collections() -> Iterator[None]:
    """Within the block: what exists now is frozen out of collection (``gc.freeze``: it is start-up state that
    lives as long as the run), and the youngest generation is collected every ``YOUNG_THRESHOLD``
    allocations. Both are undone when the last run in the process leaves; a collector that was disabled when
    the first entered is left alone."""
    global _depth, _saved
    with _lock:
        _depth += 1
        if _depth == 1 and gc.isenabled():
            _saved = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(max(_saved[0], YOUNG_THRESHOLD), *_saved[1:])
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                gc.unfreeze()
                _saved = None
