"""Running a coroutine from a command: uvloop's event loop where it is installed, asyncio's otherwise.

SIGINT and SIGTERM both cancel the coroutine, so that it can record how it ended (a run marks itself
interrupted and writes its partial aggregates) before ``KeyboardInterrupt`` reaches the command. A second
signal while it does so is not waited for: the default handlers are back by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:  # uvloop is optional (not on Windows)
        factory = None
    else:
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(_interruptible(coro))


async def _interruptible(coro: Coroutine[Any, Any, T]) -> T:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        for sig in _SIGNALS:  # a second signal ends the process the default way
            _remove(loop, sig)
        task.cancel()

    installed = []
    for sig in _SIGNALS:
        try:
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or not supported here
            pass
    try:
        return await coro
    except asyncio.CancelledError:
        if received:
            raise KeyboardInterrupt from None
        raise
    finally:
        for sig in installed:
            _remove(loop, sig)


def _remove(loop: asyncio.AbstractEventLoop, sig: int) -> None:
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.remove_signal_handler(sig)
