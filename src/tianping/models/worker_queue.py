"""The plumbing local backends share: requests from many tasks queued on the event loop, answered in batches
by one worker thread that owns the model.

``generate`` calls ``_submit``, which puts the work on a queue and awaits its future; the backend's own
``_dispatch`` (started with the first request) drains the queue into batches and runs them on the executor.
``_close_worker`` stops the dispatcher and fails whatever is still queued, so no caller waits forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tianping.core import Request, Response
from tianping.models.errors import ModelError

Queued = tuple[Request | str, asyncio.Future[Any], float]
"""A queued work item (a request, or a text for rolling log-likelihood), its future and when it arrived."""


class WorkerQueue:
    model_id: str

    def _start_worker(self, thread_name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._queue: asyncio.Queue[Queued] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._closed = False

    async def _dispatch(self) -> None:
        raise NotImplementedError

    async def _submit(self, work: Request | str) -> Any:
        if self._closed:
            raise ModelError(f"{self.model_id}: backend is closed")
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._dispatcher = asyncio.create_task(self._dispatch(), name=f"{self.model_id} dispatcher")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._queue.put((work, future, time.perf_counter()))
        return await future

    async def _close_worker(self) -> None:
        self._closed = True
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        if self._queue is not None:
            while not self._queue.empty():
                _, fut, _ = self._queue.get_nowait()
                if not fut.done():
                    fut.set_exception(ModelError(f"{self.model_id}: backend closed before the request ran"))
        self._executor.shutdown(wait=True)


def response_builder(**fields: Any) -> Callable[[float], Response]:
    """The Response is finished on the event loop, where the caller's latency is known."""
    fields.setdefault("completions", ())
    return lambda latency: Response(latency_s=latency, **fields)
