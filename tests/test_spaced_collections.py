"""A run collects garbage less often while it is in flight, still finds cycles, and gives the process its own
collector settings back when it ends (tianping.engine.collector)."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

from tianping.engine.collector import YOUNG_THRESHOLD, spaced_collections


@pytest.fixture(autouse=True)
def _default_collector():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> weakref.ref:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_threshold_raised_inside_and_restored_after() -> None:
    with spaced_collections():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
        assert gc.get_freeze_count() > 0  # the start-up heap is out of the collector's way
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_restored_when_the_run_fails() -> None:
    with pytest.raises(RuntimeError), spaced_collections():
        raise RuntimeError("run failed")
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_cycles_made_during_a_run_are_still_collected() -> None:
    with spaced_collections():
        ref = _cycle()
        kept = []  # the collector counts allocations net of frees: these must live for one to come due
        for _ in range(3 * YOUNG_THRESHOLD):
            kept.append(_Node())
            if ref() is None:
                break
        assert ref() is None
        assert len(kept) > 700  # and not as soon as at the default threshold


def test_a_higher_threshold_the_program_set_is_kept() -> None:
    gc.set_threshold(50_000, 20, 30)
    with spaced_collections():
        assert gc.get_threshold() == (50_000, 20, 30)
    assert gc.get_threshold() == (50_000, 20, 30)


def test_a_disabled_collector_is_left_disabled() -> None:
    gc.disable()
    try:
        with spaced_collections():
            assert not gc.isenabled()
            assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.enable()


def test_overlapping_runs_restore_only_when_the_last_ends() -> None:
    """Two runs in one process (a server, two threads) whose blocks overlap without nesting."""
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[tuple[int, int, int]] = []

    def first() -> None:
        with spaced_collections():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with spaced_collections():
            second_in.set()
            first_out.wait(5)
            seen.append(gc.get_threshold())  # the first has left; this run still has the spaced settings

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == [(YOUNG_THRESHOLD, 10, 10)]
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0
