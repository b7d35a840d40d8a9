"""Local models through transformers: ``hf/<path>`` and ``ref/<name>`` (a bundled reference model).

The engine calls ``generate`` once per sample from many concurrent tasks; it keeps up to
``max_in_flight`` (4096) of a model's samples in flight, not the ``concurrency`` a remote endpoint gets,
so that this backend sees (most of) the plan at once. Each call only puts its request on an asyncio queue
and awaits a future; one dispatcher task drains the queue into a pool, orders the pool by kind and prompt
text (the questions of one subject, with their identical k-shot prefix, become neighbours however the
plan interleaved them) and hands the next ``MAX_COLLECT`` neighbours to a single worker thread, which owns
the model and runs all torch work (there the scorer plans shared prefixes and length buckets). Each batch's
answers are returned as soon as it ends, so the engine stores them batch by batch. The batch taken is the
slice of the ordered pool that holds the oldest request, so nothing waits behind later arrivals for long.
The event loop is never blocked by the model.

Padding: a tokenizer without a pad token is not changed (no token is added and the embeddings are not
resized). Inputs are padded by this module itself, where any valid token id serves because padded
positions are either masked (generation) or after every scored position (scoring); the id used is the
tokenizer's pad token, else EOS, else 0.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tianping.core import LogLikelihood, Request, Response
from tianping.core.task import GENERATE, LOGLIKELIHOOD, LOGLIKELIHOOD_CHAT
from tianping.models.errors import BadRequest, ModelError
from tianping.models.hf_load import LoadedModel, load_local_model
from tianping.models.hf_tokens import EncodingError, render_chat_context
from tianping.models.worker_queue import WorkerQueue, response_builder

log = logging.getLogger(__name__)

MAX_COLLECT = 256
"""Requests handed to the worker thread as one batch at most; more wait in the pool for the next one."""
MAX_IN_FLIGHT = 4096
"""Samples the engine keeps in flight for a local model (``tianping.engine.runner.in_flight``)."""


class HFLocalBackend(WorkerQueue):
    """A transformers model on this machine, answering generation and log-likelihood requests."""

    supports = frozenset({GENERATE, LOGLIKELIHOOD, LOGLIKELIHOOD_CHAT})
    max_in_flight = MAX_IN_FLIGHT
    """The engine sends this many samples at once rather than the spec's ``concurrency`` (see the module doc)."""

    def __init__(
        self,
        model_id: str,
        path: Path,
        *,
        device: str = "auto",
        dtype: str = "float32",
        batch_size: int | str = 16,
        chat_template: bool | None = None,
        max_length: int | None = None,
        batch_wait_s: float = 0.005,
        prefix_cache: bool = True,
        **load_options: Any,
    ):
        """Loads the model now, so that a bad path fails before any request is sent. ``load_options``:
        ``trust_remote_code``, ``adapter``, ``quantization``, ``device_map`` (``hf_load.load_local_model``)."""
        self.model_id = model_id
        self.loaded: LoadedModel = load_local_model(
            path,
            device=device,
            dtype=dtype,
            batch_size=batch_size if isinstance(batch_size, int) else 16,
            chat_template=chat_template,
            max_length=max_length,
            prefix_cache=prefix_cache,
            **load_options,
        )
        self.loaded.scorer.set_batch_size(batch_size)  # "auto": probed on the device (see LogLikelihoodScorer)
        self.batch_wait_s = batch_wait_s
        self._start_worker("tianping-hf")
        self.batches_run = 0
        """Batches handed to the worker thread (how well concurrent requests were gathered)."""

    async def generate(self, request: Request) -> Response:
        """Queue the request for the next batch and wait for its own answer. A log-likelihood request whose context
        is a chat is rendered with the model's chat template first (``LOGLIKELIHOOD_CHAT``)."""
        if request.continuations is not None and request.messages is not None:
            request = self._rendered(request)
        return await self._submit(request)

    async def loglikelihood_rolling(self, text: str) -> float:
        """Sum of the log-probabilities of every token of ``text`` (perplexity), in lm-eval's windows."""
        return await self._submit(text)

    def _rendered(self, request: Request) -> Request:
        if not self.loaded.use_chat_template:
            raise BadRequest(f"{self.model_id}: the context is a chat, and chat templates are off for this model")
        try:
            prompt = render_chat_context(self.loaded.tokenizer, request.messages or ())
        except EncodingError as exc:
            raise BadRequest(f"{self.model_id}: {exc}") from None
        return Request(model=request.model, prompt=prompt, continuations=request.continuations)

    async def _dispatch(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        pool: list[_Pending] = []
        arrivals = 0
        while True:
            if not pool:  # idle: wait for a request, then briefly for the ones submitted with it
                work, fut, t0 = await self._queue.get()
                pool.append(_Pending(_order_key(work), arrivals, work, fut, t0))
                arrivals += 1
                deadline = loop.time() + self.batch_wait_s
                while True:
                    try:
                        work, fut, t0 = self._queue.get_nowait()
                    except asyncio.QueueEmpty:
                        remaining = deadline - loop.time()
                        if remaining <= 0:
                            break
                        try:
                            work, fut, t0 = await asyncio.wait_for(self._queue.get(), remaining)
                        except TimeoutError:
                            break
                    pool.append(_Pending(_order_key(work), arrivals, work, fut, t0))
                    arrivals += 1
            while True:  # whatever arrived while the last batch ran
                try:
                    work, fut, t0 = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                pool.append(_Pending(_order_key(work), arrivals, work, fut, t0))
                arrivals += 1
            pool = [p for p in pool if not p.future.done()]
            if not pool:
                continue
            live, pool = _take_batch(pool, MAX_COLLECT)
            try:
                outcomes = await loop.run_in_executor(self._executor, self._run, [p.work for p in live])
            except Exception as exc:  # noqa: BLE001 - a failure of the whole batch goes to each caller
                error = exc if isinstance(exc, ModelError) else ModelError(f"{type(exc).__name__}: {exc}")
                outcomes = [error] * len(live)
            now = time.perf_counter()
            for p, outcome in zip(live, outcomes, strict=True):
                fut = p.future
                if fut.done():
                    continue
                if isinstance(outcome, BaseException):
                    fut.set_exception(outcome)
                elif callable(outcome):
                    fut.set_result(outcome(now - p.t0))
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
            per_request.setdefault(i, []).append(item.result(cont, logprob, greedy))
            prompt_tokens[i] = ctx_len
        for i in scoring:
            if outcomes[i] is None:
                outcomes[i] = response_builder(
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
        scorer = loaded.scorer
        for members in groups.values():
            members.sort(key=lambda m: len(m[1].prompt))  # similar lengths together: little padding
            start = 0
            while start < len(members):  # the batch size may shrink on the way (out of memory)
                # tokens per row, roughly (the prompt is text here): what "auto" sizes the call by
                longest = members[min(len(members), start + scorer.batch_size) - 1][1]
                row_tokens = min(loaded.max_length, longest.max_tokens + len(longest.prompt) // 3 + 1)
                chunk = members[start : start + scorer.rows_for(row_tokens)]
                start += len(chunk)

                def run(part: Any, row_tokens: int = row_tokens) -> list[Any]:
                    scorer.note_call(len(part), row_tokens)
                    out = generate_batch(
                        loaded.model,
                        loaded.tokenizer,
                        loaded.encoder.encode,
                        [job for _, job in part],
                        device=loaded.device,
                        max_length=loaded.max_length,
                        pad_id=loaded.pad_id,
                        eos_ids=loaded.stop_ids,
                    )
                    scorer.ran(len(part), row_tokens)
                    return out

                try:
                    results = run_halving(chunk, run, scorer._on_oom)
                except ValueError as exc:
                    for i, _ in chunk:
                        outcomes[i] = BadRequest(f"{self.model_id}: {exc}")
                    continue
                for (i, _), result in zip(chunk, results, strict=True):
                    if result.truncated:
                        log.warning("%s: prompt cut by %d tokens from the left", self.model_id, result.truncated)
                    outcomes[i] = response_builder(
                        completions=result.completions,
                        prompt_tokens=result.prompt_tokens,
                        completion_tokens=result.completion_tokens,
                    )

    async def aclose(self) -> None:
        await self._close_worker()


@dataclass(slots=True)
class _Pending:
    """A request waiting in the dispatcher's pool."""

    key: tuple[int, str]
    arrival: int
    work: Request | str
    future: asyncio.Future[Any]
    t0: float


def _order_key(work: Request | str) -> tuple[int, str]:
    """Requests with equal leading text sort together: scoring by prompt (one subject's k-shot questions share
    their whole prefix), then rolling texts, then generation (its prompt, so that shared openings meet)."""
    if isinstance(work, str):
        return (1, work)
    if work.kind == "loglikelihood":
        return (0, work.prompt or "")
    if work.prompt is not None:
        return (2, work.prompt)
    return (2, "\n".join(f"{m.role}: {m.content}" for m in work.messages or ()))


def _take_batch(pool: list[_Pending], size: int) -> tuple[list[_Pending], list[_Pending]]:
    """(the next batch, what stays in the pool): the pool in key order, cut into runs of ``size``; the run
    holding the oldest request goes first (the last run is widened to a full one), so a request waits for at
    most ``len(pool) / size`` batches of those already there, however many later arrivals sort before it."""
    if len(pool) <= size:
        return pool, []
    pool.sort(key=lambda p: p.key)
    oldest = min(range(len(pool)), key=lambda i: pool[i].arrival)
    start = min((oldest // size) * size, len(pool) - size)
    return pool[start : start + size], pool[:start] + pool[start + size :]
