"""Local models through transformers: ``hf/<path>`` and ``ref/<name>`` (a bundled reference model).

The engine calls ``generate`` once per sample from many concurrent tasks. Each call only puts its
request on an asyncio queue and awaits a future; one dispatcher task drains the queue into batches and
hands each batch to a single worker thread, which owns the model and runs all torch work. While a batch
runs, new requests queue up and form the next batch, so batches grow with the load and the event loop
is never blocked by the model.

Padding: a tokenizer without a pad token is not changed (no token is added and the embeddings are not
resized). Inputs are padded by this module itself, where any valid token id serves because padded
positions are either masked (generation) or after every scored position (scoring); the id used is the
tokenizer's pad token, else EOS, else 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tianping.core import LogLikelihood, Request, Response
from tianping.core.task import GENERATE, LOGLIKELIHOOD
from tianping.models.errors import BadRequest, ModelError
from tianping.models.hf_load import LoadedModel, load_local_model
from tianping.models.hf_tokens import EncodingError

log = logging.getLogger(__name__)

MAX_COLLECT = 256
"""Requests taken from the queue for one batch at most; more wait for the next one."""


class HFLocalBackend:
    """A transformers model on this machine, answering generation and log-likelihood requests."""

    supports = frozenset({GENERATE, LOGLIKELIHOOD})

    def __init__(
        self,
        model_id: str,
        path: Path,
        *,
        device: str = "auto",
        dtype: str = "float32",
        batch_size: int = 16,
        chat_template: bool | None = None,
        max_length: int | None = None,
        batch_wait_s: float = 0.005,
        prefix_cache: bool = True,
    ):
        """Loads the model now, so that a bad path fails before any request is sent."""
        self.model_id = model_id
        self.loaded: LoadedModel = load_local_model(
            path,
            device=device,
            dtype=dtype,
            batch_size=batch_size,
            chat_template=chat_template,
            max_length=max_length,
            prefix_cache=prefix_cache,
        )
        self.batch_wait_s = batch_wait_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tianping-hf")
        self._queue: asyncio.Queue[tuple[Request | str, asyncio.Future[Any], float]] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._closed = False
        self.batches_run = 0
        """Batches handed to the worker thread (how well concurrent requests were gathered)."""

    async def generate(self, request: Request) -> Response:
        """Queue the request for the next batch and wait for its own answer."""
        return await self._submit(request)

    async def loglikelihood_rolling(self, text: str) -> float:
        """Sum of the log-probabilities of every token of ``text`` (perplexity), in lm-eval's windows."""
        return await self._submit(text)

    async def _submit(self, work: Request | str) -> Any:
        if self._closed:
            raise ModelError(f"{self.model_id}: backend is closed")
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._dispatcher = asyncio.create_task(self._dispatch(), name=f"{self.model_id} dispatcher")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._queue.put((work, future, time.perf_counter()))
        return await future

    async def _dispatch(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.batch_wait_s
            while len(batch) < MAX_COLLECT:
                try:
                    batch.append(self._queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            live = [(work, fut, t0) for work, fut, t0 in batch if not fut.done()]
            if not live:
                continue
            try:
                outcomes = await loop.run_in_executor(self._executor, self._run, [w for w, _, _ in live])
            except Exception as exc:  # noqa: BLE001 - a failure of the whole batch goes to each caller
                error = exc if isinstance(exc, ModelError) else ModelError(f"{type(exc).__name__}: {exc}")
                outcomes = [error] * len(live)
            now = time.perf_counter()
            for (_, fut, t0), outcome in zip(live, outcomes, strict=True):
                if fut.done():
                    continue
                if isinstance(outcome, BaseException):
                    fut.set_exception(outcome)
                elif callable(outcome):
                    fut.set_result(outcome(now - t0))
                else:
                    fut.set_result(outcome)

    def _run(self, works: list[Request | str]) -> list[Any]:
        """Worker thread: answer a batch; each entry is a result, a ``latency -> Response`` builder or an
        exception for that caller alone."""
        self.batches_run += 1
        outcomes: list[Any] = [None] * len(works)
        scoring: list[int] = []
        generation: list[int] = []
        rolling: list[int] = []
        for i, work in enumerate(works):
            if isinstance(work, str):
                rolling.append(i)
            elif work.kind == "loglikelihood":
                scoring.append(i)
            else:
                generation.append(i)
        if scoring or rolling:
            self._run_scoring(works, scoring, rolling, outcomes)
        if generation:
            self._run_generation(works, generation, outcomes)
        return outcomes

    def _run_scoring(self, works: list[Any], scoring: list[int], rolling: list[int], outcomes: list[Any]) -> None:
        enc = self.loaded.encoder
        items, owners = [], []  # owners[k]: (work index, context tokens, continuation text)
        pairs = [(works[i].prompt or "", cont) for i in scoring for cont in works[i].continuations or ()]
        try:
            tokenised = iter(enc.encode_pairs(pairs))
        except EncodingError:  # an empty context without BOS/EOS: encode one by one to blame the right request
            tokenised = None
        for i in scoring:
            request: Request = works[i]
            conts = request.continuations or ()
            # taken before anything can fail, so that the next request reads its own pairs
            mine = [next(tokenised) for _ in conts] if tokenised is not None else None
            try:
                if mine is None:
                    mine = [enc.encode_pair(request.prompt or "", cont) for cont in conts]
                encoded = [
                    (enc.item(ctx_tokens, cont_tokens, cont), len(ctx_tokens), cont)
                    for (ctx_tokens, cont_tokens), cont in zip(mine, conts, strict=True)
                ]
            except EncodingError as exc:
                outcomes[i] = BadRequest(f"{self.model_id}: {exc}")
                continue
            for item, ctx_len, cont in encoded:
                items.append(item)
                owners.append((i, ctx_len, cont))
        for i in rolling:
            try:
                windows = enc.rolling_items(works[i])
            except EncodingError as exc:
                outcomes[i] = BadRequest(f"{self.model_id}: {exc}")
                continue
            items.extend(windows)
            owners.extend((i, 0, None) for _ in windows)
            outcomes[i] = 0.0  # an empty text has log-likelihood 0 (lm-eval sums no windows)
        scores = self.loaded.scorer.score(items)
        per_request: dict[int, list[LogLikelihood]] = {}
        prompt_tokens: dict[int, int] = {}
        for item, (i, ctx_len, cont), (logprob, greedy) in zip(items, owners, scores, strict=True):
            if cont is None:
                outcomes[i] += logprob
                continue
            per_request.setdefault(i, []).append(
                LogLikelihood(
                    logprob=logprob,
                    greedy=greedy,
                    tokens=len(item.targets),
                    chars=len(cont),
                    bytes=len(cont.encode("utf-8")),
                    truncated=item.truncated,
                )
            )
            prompt_tokens[i] = ctx_len
        for i in scoring:
            if outcomes[i] is None:
                outcomes[i] = _response_builder(
                    loglikelihoods=tuple(per_request.get(i, ())), prompt_tokens=prompt_tokens.get(i, 0)
                )

    def _run_generation(self, works: list[Any], indices: list[int], outcomes: list[Any]) -> None:
        from tianping.models.hf_generate import generate_batch
        from tianping.models.hf_scoring import run_halving

        groups: dict[tuple[Any, ...], list[tuple[int, Any]]] = {}
        for i in indices:
            try:
                job = self.loaded.job(works[i])
            except ValueError as exc:
                outcomes[i] = BadRequest(f"{self.model_id}: {exc}")
                continue
            groups.setdefault(job.group_key(), []).append((i, job))
        loaded = self.loaded
        for members in groups.values():
            members.sort(key=lambda m: len(m[1].prompt))  # similar lengths together: little padding
            start = 0
            while start < len(members):  # the batch size may shrink on the way (out of memory)
                chunk = members[start : start + loaded.scorer.batch_size]
                start += len(chunk)

                def run(part: Any) -> list[Any]:
                    return generate_batch(
                        loaded.model,
                        loaded.tokenizer,
                        loaded.encoder.encode,
                        [job for _, job in part],
                        device=loaded.device,
                        max_length=loaded.max_length,
                        pad_id=loaded.pad_id,
                        eos_ids=loaded.stop_ids,
                    )

                try:
                    results = run_halving(chunk, run, loaded.scorer._on_oom)
                except ValueError as exc:
                    for i, _ in chunk:
                        outcomes[i] = BadRequest(f"{self.model_id}: {exc}")
                    continue
                for (i, _), result in zip(chunk, results, strict=True):
                    if result.truncated:
                        log.warning("%s: prompt cut by %d tokens from the left", self.model_id, result.truncated)
                    outcomes[i] = _response_builder(
                        completions=result.completions,
                        prompt_tokens=result.prompt_tokens,
                        completion_tokens=result.completion_tokens,
                    )

    async def aclose(self) -> None:
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


def _response_builder(**fields: Any) -> Callable[[float], Response]:
    """The Response is finished on the event loop, where the caller's latency is known."""
    fields.setdefault("completions", ())
    return lambda latency: Response(latency_s=latency, **fields)
