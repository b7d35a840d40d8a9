"""Local models through vLLM's offline engine: ``vllm/<checkpoint dir or hub id>``.

vLLM (the optional ``tianping[vllm]`` extra, which needs a CUDA GPU) is imported only when a backend is created.
It answers the same requests as the transformers backend (``hf_local``):

- **generation**: chat requests are rendered with the tokenizer's chat template and tokenized as they stand
  (no BOS added on top: the template writes its own), completion prompts and template-less chat with the
  tokenizer's default special tokens, exactly as ``hf_generate.prompt_token_ids``; the ids are handed to
  ``LLM.generate`` with one ``SamplingParams`` per request;
- **log-likelihoods of continuations**, as lm-evaluation-harness's ``vllm`` model computes them: context and
  continuation are encoded as for ``hf/`` (``hf_tokens.LMEvalEncoder``), the whole is cut from the left to the
  model's window (``max_model_len`` tokens, one fewer scored position than transformers' ``max_length + 1``)
  and sent with ``SamplingParams(max_tokens=1, temperature=0, prompt_logprobs=1)``; the continuation's
  log-likelihood is the sum of its tokens' entries in ``prompt_logprobs``, greedy when each has rank 1; a context
  given as a chat is first rendered by the chat template, generation prompt appended (``LOGLIKELIHOOD_CHAT``);
- rolling log-likelihood (perplexity) in lm-eval's disjoint windows, scored the same way.

Requests arrive one per sample from many concurrent tasks; a dispatcher gathers those that arrive within a few
milliseconds and hands them, as one ``LLM.generate`` call, to a single worker thread that owns the engine (vLLM
schedules the batch itself), so the event loop is never blocked by the model.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tianping.core import Request, Response
from tianping.core.task import GENERATE, LOGLIKELIHOOD, LOGLIKELIHOOD_CHAT
from tianping.models.errors import BadRequest, ModelError
from tianping.models.hf_tokens import DEFAULT_MAX_LENGTH, EncodingError, LMEvalEncoder, ScoreItem, render_chat_context
from tianping.models.reasoning import split_reasoning
from tianping.models.worker_queue import WorkerQueue, response_builder

log = logging.getLogger(__name__)

INSTALL_HINT = "the vllm backend needs vLLM and a GPU: pip install 'tianping[vllm]'"
NO_CUDA = (
    "the vllm backend needs a CUDA GPU, and torch sees none (torch.cuda.is_available() is False); "
    "on this machine use hf/<dir> instead"
)
MAX_COLLECT = 1024
"""Requests taken from the queue for one ``LLM.generate`` call at most; more wait for the next one."""
DEFAULT_MAX_TOKENS = 256
"""lm-eval's ``max_gen_toks`` default, used when a request sets no ``max_tokens`` (as ``hf_generate``)."""

Pairs = list[tuple[list[int], list[int]]]
"""Tokenised (context, continuation) pairs of one request."""
Finisher = Callable[[Sequence[Any]], Any]
"""Turns the vLLM outputs of one caller's prompts into its result (a value or a ``latency -> Response``)."""


class VLLMUnavailable(ValueError):
    """vLLM, a GPU or the model it should load is missing; the message says which."""


def vllm_installed() -> bool:
    """Whether ``import vllm`` can succeed, without importing it (vLLM takes seconds to import)."""
    if sys.modules.get("vllm") is not None:
        return True
    try:
        return importlib.util.find_spec("vllm") is not None
    except (ImportError, ValueError):
        return False


def model_source(name: str) -> str:
    """What vLLM is asked to load for ``vllm/<name>``: the resolved directory when ``name`` is a local path,
    else ``name`` itself, a hub id that vLLM resolves (and may download) when the backend is created."""
    local = Path(name).expanduser()
    return str(local.resolve()) if local.exists() else name


def check_vllm_model(name: str) -> None:
    """Refuse what ``VLLMBackend`` would refuse without importing vLLM: vLLM missing, or a path (absolute,
    ``./``, ``../`` or ``~``) that does not exist. A hub id cannot be checked before vLLM resolves it."""
    if not vllm_installed():
        raise VLLMUnavailable(INSTALL_HINT)
    local = Path(name).expanduser()
    if not local.exists() and name.startswith(("/", "./", "../", "~")):
        raise VLLMUnavailable(f"model path {local} does not exist")


def backend_options(spec: Any) -> dict[str, Any]:
    """``VLLMBackend``'s arguments for a ``ModelSpec`` ``vllm/<name>``; refuses the options only ``hf/`` takes."""
    given = {
        "adapter": getattr(spec, "adapter", None) is not None,
        "quantization": getattr(spec, "quantization", "none") != "none",
        "device_map": getattr(spec, "device_map", None) is not None,
        "device": spec.device not in ("auto", "cuda"),
    }
    refused = [name for name, on in given.items() if on]
    if refused:
        raise VLLMUnavailable(
            f"model {spec.id}: {', '.join(refused)} (options of hf/ models) cannot be used with vLLM, which runs "
            "on the GPUs that CUDA_VISIBLE_DEVICES shows and loads checkpoints saved quantized as they are"
        )
    return {
        "path": model_source(spec.name),
        "dtype": spec.dtype,
        "max_length": spec.max_length,
        "chat_template": spec.chat_template,
        "trust_remote_code": bool(getattr(spec, "trust_remote_code", False)),
    }


def check_vllm_spec(spec: Any) -> None:
    """Raise what creating the backend of ``spec`` would raise, as far as it can be known without vLLM's engine."""
    backend_options(spec)
    check_vllm_model(spec.name)


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def continuation_logprob(prompt_logprobs: Sequence[Any] | None, tokens: Sequence[int], n: int) -> tuple[float, bool]:
    """Sum of the log-probabilities of the last ``n`` of ``tokens`` read from vLLM's ``prompt_logprobs`` of that
    prompt (one dict per position, None at the first, mapping token id -> ``Logprob``), and whether each of
    them is the top-ranked token at its position."""
    if prompt_logprobs is None or len(prompt_logprobs) != len(tokens):
        got = "none" if prompt_logprobs is None else f"{len(prompt_logprobs)} positions"
        raise ModelError(f"vLLM returned no usable prompt log-probabilities ({got} for {len(tokens)} tokens)")
    if not 0 < n < len(tokens):
        raise ModelError(f"cannot score the last {n} of {len(tokens)} prompt tokens (the first has no log-probability)")
    total, greedy = 0.0, True
    for pos in range(len(tokens) - n, len(tokens)):
        entry = prompt_logprobs[pos]
        found = entry.get(tokens[pos]) if entry is not None else None
        if found is None:
            raise ModelError(f"vLLM returned no log-probability for token {tokens[pos]} at prompt position {pos}")
        value = float(getattr(found, "logprob", found))
        total += value
        rank = getattr(found, "rank", None)
        if rank is None:  # a bare float: greedy when nothing at this position is more likely
            rank = 1 if all(float(getattr(v, "logprob", v)) <= value for v in entry.values()) else 2
        greedy = greedy and rank == 1
    return total, greedy


def _prompt_of(item: ScoreItem) -> list[int]:
    """The prompt whose last ``len(item.targets)`` positions are the item's targets: ``inp`` plus the last one."""
    return [*item.inp, item.targets[-1]]


class VLLMBackend(WorkerQueue):
    """A model loaded by vLLM on this machine's GPUs, answering generation and log-likelihood requests."""

    supports = frozenset({GENERATE, LOGLIKELIHOOD, LOGLIKELIHOOD_CHAT})

    def __init__(
        self,
        model_id: str,
        path: str | Path,
        *,
        dtype: str = "float32",
        max_length: int | None = None,
        seed: int = 0,
        gpu_memory_utilization: float = 0.9,
        tensor_parallel_size: int = 1,
        chat_template: bool | None = None,
        device: str = "auto",
        batch_wait_s: float = 0.005,
        **llm_kwargs: Any,
    ):
        """Starts the engine now (weights on the GPU), so that a bad model fails before any request is sent.
        ``max_length`` caps vLLM's ``max_model_len`` (None: the model's own); ``llm_kwargs`` go to ``vllm.LLM``."""
        self.model_id = model_id
        try:
            import vllm
        except ImportError:
            raise VLLMUnavailable(INSTALL_HINT) from None
        if not _cuda_available():
            raise VLLMUnavailable(NO_CUDA)
        if device not in ("auto", "cuda"):
            raise VLLMUnavailable(
                f"{model_id}: device {device!r}: vLLM runs on the GPUs that CUDA_VISIBLE_DEVICES shows "
                "(set that, and tensor parallelism, instead of a device)"
            )
        kwargs: dict[str, Any] = {
            "model": str(path),
            "dtype": dtype,
            "seed": seed,
            "gpu_memory_utilization": gpu_memory_utilization,
            "tensor_parallel_size": tensor_parallel_size,
            **llm_kwargs,
        }
        if max_length is not None:
            kwargs["max_model_len"] = max_length
        try:
            self.llm: Any = vllm.LLM(**kwargs)
        except (OSError, ValueError) as exc:
            raise VLLMUnavailable(f"{model_id}: vLLM cannot load {path}: {exc}") from None
        self._sampling_params: Any = vllm.SamplingParams
        self.tokenizer: Any = self.llm.get_tokenizer()
        config = getattr(getattr(self.llm, "llm_engine", None), "model_config", None)
        window = getattr(config, "max_model_len", None) or max_length or DEFAULT_MAX_LENGTH
        if window < 2:
            raise VLLMUnavailable(f"{model_id}: a window of {window} tokens leaves nothing to score")
        self.max_length = int(window)
        """vLLM's ``max_model_len``: prompt plus generated tokens at most."""
        # a prompt of max_length tokens scores max_length - 1 of them (the first has no log-probability):
        # lm-eval's vllm model cuts context + continuation to max_length, which is this encoder's window + 1
        self.encoder = LMEvalEncoder(self.tokenizer, self.max_length - 1)
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        if chat_template and not has_template:
            raise VLLMUnavailable(f"{model_id}: chat_template is on but the tokenizer has no chat template")
        self.use_chat_template = has_template if chat_template is None else chat_template
        self.batch_wait_s = batch_wait_s
        self._start_worker("tianping-vllm")
        self.batches_run = 0
        """``LLM.generate`` calls made (how well concurrent requests were gathered)."""

    async def generate(self, request: Request) -> Response:
        """Queue the request for the next batch and wait for its own answer."""
        result: Response = await self._submit(request)
        return result

    async def loglikelihood_rolling(self, text: str) -> float:
        """Sum of the log-probabilities of every token of ``text`` (perplexity), in lm-eval's windows."""
        result: float = await self._submit(text)
        return result

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

    # -- the worker thread ---------------------------------------------------------------------------------------

    def _run(self, works: list[Request | str]) -> list[Any]:
        """Answer a batch with one ``LLM.generate`` call; each entry is a result, a ``latency -> Response`` builder
        or an exception for that caller alone."""
        outcomes: list[Any] = [None] * len(works)
        prompts: list[dict[str, list[int]]] = []
        params: list[Any] = []
        owners: list[tuple[int, int, Finisher]] = []  # (work index, its first prompt, how its outputs are read)
        scoring: dict[int, tuple[str, tuple[str, ...]]] = {}  # work index -> (context, continuations)
        for i, work in enumerate(works):
            if isinstance(work, Request) and work.kind == "loglikelihood":
                try:
                    scoring[i] = (self.context(work), work.continuations or ())
                except EncodingError as exc:
                    outcomes[i] = BadRequest(f"{self.model_id}: {exc}")
        pairs = self._encode_pairs(scoring)
        for i, work in enumerate(works):
            if outcomes[i] is not None:
                continue
            try:
                if isinstance(work, str):
                    mine, finish = self._rolling(work)
                elif work.kind == "loglikelihood":
                    mine, finish = self._scoring(*scoring[i], pairs[i])
                else:
                    mine, finish = self._generation(work)
            except (EncodingError, ValueError) as exc:
                outcomes[i] = BadRequest(f"{self.model_id}: {exc}")
                continue
            if not mine:  # an empty text for rolling log-likelihood: 0, with nothing to ask
                outcomes[i] = finish(())
                continue
            owners.append((i, len(prompts), finish))
            for ids, sampling in mine:
                prompts.append({"prompt_token_ids": ids})
                params.append(sampling)
        if not prompts:
            return outcomes
        self.batches_run += 1
        results = list(self.llm.generate(prompts, params, use_tqdm=False))
        if len(results) != len(prompts):
            raise ModelError(f"vLLM answered {len(results)} of {len(prompts)} prompts")
        ends = [start for _, start, _ in owners[1:]] + [len(prompts)]
        for (i, start, finish), end in zip(owners, ends, strict=True):
            try:
                outcomes[i] = finish(results[start:end])
            except ModelError as exc:
                outcomes[i] = exc
        return outcomes

    def context(self, request: Request) -> str:
        """The context of a log-likelihood request: its prompt, or its chat rendered by the model's chat template
        with the generation prompt appended (``hf_tokens.render_chat_context``, as for ``hf/``)."""
        if request.messages is None:
            return request.prompt or ""
        if not self.use_chat_template:
            raise EncodingError("the context is a chat, and chat templates are off for this model")
        return render_chat_context(self.tokenizer, request.messages)

    def _encode_pairs(self, wanted: dict[int, tuple[str, tuple[str, ...]]]) -> dict[int, Pairs | None]:
        """Each scoring request's tokenised (context, continuation) pairs, tokenised in one batch; None for a
        request to encode alone (an empty context without BOS/EOS), so that the error names that request."""
        pairs = [(ctx, cont) for ctx, conts in wanted.values() for cont in conts]
        try:
            tokenised = iter(self.encoder.encode_pairs(pairs))
        except EncodingError:
            return dict.fromkeys(wanted)
        return {i: [next(tokenised) for _ in conts] for i, (_, conts) in wanted.items()}

    def _scoring_params(self) -> Any:
        return self._sampling_params(max_tokens=1, temperature=0.0, prompt_logprobs=1, detokenize=False)

    def _scoring(
        self, context: str, conts: tuple[str, ...], pairs: Pairs | None
    ) -> tuple[list[tuple[list[int], Any]], Finisher]:
        if pairs is None:
            pairs = [self.encoder.encode_pair(context, cont) for cont in conts]
        items = [
            self.encoder.item(ctx, cont_tokens, cont) for (ctx, cont_tokens), cont in zip(pairs, conts, strict=True)
        ]
        ctx_len = len(pairs[0][0]) if pairs else 0
        sampling = self._scoring_params()
        prompts = [(_prompt_of(item), sampling) for item in items]

        def finish(outputs: Sequence[Any]) -> Callable[[float], Response]:
            lls = []
            for item, cont, (ids, _), out in zip(items, conts, prompts, outputs, strict=True):
                logprob, greedy = continuation_logprob(out.prompt_logprobs, ids, len(item.targets))
                lls.append(item.result(cont, logprob, greedy))
            return response_builder(loglikelihoods=tuple(lls), prompt_tokens=ctx_len)

        return prompts, finish

    def _rolling(self, text: str) -> tuple[list[tuple[list[int], Any]], Finisher]:
        items = self.encoder.rolling_items(text)
        sampling = self._scoring_params()
        prompts = [(_prompt_of(item), sampling) for item in items]

        def finish(outputs: Sequence[Any]) -> float:
            return sum(
                continuation_logprob(out.prompt_logprobs, ids, len(item.targets))[0]
                for item, (ids, _), out in zip(items, prompts, outputs, strict=True)
            )

        return prompts, finish

    def prompt_ids(self, request: Request) -> list[int]:
        """The token ids a chat or completion request is fed to the model as (``hf_generate.prompt_token_ids``)."""
        if request.messages is None:
            return self.encoder.encode(request.prompt or "")
        if self.use_chat_template:
            messages = [{"role": m.role, "content": m.content} for m in request.messages]
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            return self.encoder.encode(text, add_special_tokens=False)  # the template wrote its own BOS
        from tianping.models.hf_generate import render_plain

        return self.encoder.encode(render_plain(request.messages))

    def sampling_params(self, request: Request) -> tuple[Any, int]:
        """The ``SamplingParams`` of a generation request, and how many times its one answer is repeated: greedy
        decoding gives ``n`` identical answers, so it runs once (vLLM refuses ``n > 1`` without sampling)."""
        p = request.params
        temperature = p.temperature or 0.0
        sample = temperature > 0
        sampling = self._sampling_params(
            n=p.n if sample else 1,
            temperature=temperature,
            top_p=p.top_p if p.top_p is not None else 1.0,
            max_tokens=p.max_tokens or DEFAULT_MAX_TOKENS,
            stop=list(p.stop),
            seed=p.seed,
        )
        return sampling, 1 if sample else p.n

    def _generation(self, request: Request) -> tuple[list[tuple[list[int], Any]], Finisher]:
        sampling, repeat = self.sampling_params(request)
        max_tokens = request.params.max_tokens or DEFAULT_MAX_TOKENS
        room = self.max_length - max_tokens
        if room < 1:
            raise ValueError(f"max_tokens {max_tokens} leaves no room for a prompt in a window of {self.max_length}")
        ids = self.prompt_ids(request)
        if not ids:
            raise ValueError("the prompt encodes to no tokens")
        kept = ids[-room:]
        if len(kept) < len(ids):
            log.warning("%s: prompt cut by %d tokens from the left", self.model_id, len(ids) - len(kept))

        def finish(outputs: Sequence[Any]) -> Callable[[float], Response]:
            choices = [c for out in outputs for c in out.outputs] * repeat
            if not choices:
                raise ModelError(f"{self.model_id}: vLLM returned no completion")
            return response_builder(
                completions=tuple(split_reasoning(c.text, None, c.finish_reason) for c in choices),
                prompt_tokens=len(kept),
                completion_tokens=sum(len(c.token_ids) for c in choices),
            )

        return [(kept, sampling)], finish

    async def aclose(self) -> None:
        await self._close_worker()
        self.llm = None  # the engine and its GPU memory go with the last reference
