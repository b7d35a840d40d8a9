"""Batched text generation with transformers: prompt rendering, stop sequences, finish reasons.

Requests with the same generation parameters run as one ``model.generate`` call, left-padded (the
padding is masked out, so any valid token id serves as padding). Generation stops early once every row
has produced one of its stop strings; the text is then cut at the first stop string, as lm-eval's
``generate_until`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from tianping.core import Completion, Message

DEFAULT_MAX_TOKENS = 256
"""lm-eval's ``max_gen_toks`` default, used when a request sets no ``max_tokens``."""

_ROLE_NAMES = {"system": "System", "user": "User", "assistant": "Assistant"}


def render_plain(messages: Sequence[Message]) -> str:
    """The rendering used when no chat template applies: ``Role: content`` blocks separated by a blank
    line, ending with ``Assistant:`` so that a base model continues as the assistant."""
    parts = [f"{_ROLE_NAMES[m.role]}: {m.content}" for m in messages]
    return "\n\n".join([*parts, "Assistant:"])


@dataclass(frozen=True, slots=True)
class GenerationJob:
    """One prompt to continue, already rendered to text."""

    prompt: str
    max_tokens: int
    temperature: float
    top_p: float | None
    seed: int | None
    stop: tuple[str, ...]
    n: int
    templated: bool = False
    """The prompt is a chat template's rendering, which already holds every special token the model expects."""

    def group_key(self) -> tuple[Any, ...]:
        """Jobs with equal keys can share one ``generate`` call."""
        return (self.max_tokens, self.temperature, self.top_p, self.seed, self.stop, self.n)


@dataclass(frozen=True, slots=True)
class GenerationResult:
    completions: tuple[Completion, ...]
    prompt_tokens: int
    completion_tokens: int
    truncated: int
    """Prompt tokens dropped from the left to leave room for ``max_tokens`` in the window."""


class _StopOnStrings(StoppingCriteria):
    """Marks a row finished once its new text contains a stop string (checked on the last few tokens)."""

    def __init__(self, tokenizer: Any, stops: tuple[str, ...], prompt_width: int):
        self.tokenizer, self.stops, self.prompt_width = tokenizer, stops, prompt_width
        self.lookback = max(len(s) for s in stops) + 8  # tokens: a stop string spans at most this many

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        new = input_ids[:, self.prompt_width :][:, -self.lookback :]
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        return torch.tensor([any(s in t for s in self.stops) for t in texts], device=input_ids.device)


def prompt_token_ids(encode: Callable[..., list[int]], job: GenerationJob) -> list[int]:
    """The token ids a job's prompt is fed to the model as.

    A rendered chat template is tokenized as it stands: it writes its own BOS when the model wants one, so
    adding the tokenizer's special tokens on top would give a prompt the model never saw in training (a
    doubled BOS, or one the template leaves out). This is what ``apply_chat_template(tokenize=True)``,
    vLLM and ``transformers serve`` feed the model. Any other prompt keeps the tokenizer's default, as
    lm-eval encodes it."""
    if job.templated:
        return encode(job.prompt, add_special_tokens=False)
    return encode(job.prompt)


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """The text before the earliest stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def generate_batch(
    model: Any,
    tokenizer: Any,
    encode: Callable[..., list[int]],
    jobs: Sequence[GenerationJob],
    *,
    device: torch.device,
    max_length: int,
    pad_id: int,
    eos_ids: set[int],
) -> list[GenerationResult]:
    """Run jobs that share ``group_key`` as one left-padded ``generate`` call; results in job order."""
    first = jobs[0]
    room = max_length - first.max_tokens
    if room < 1:
        raise ValueError(f"max_tokens {first.max_tokens} leaves no room for a prompt in a window of {max_length}")
    encoded = [prompt_token_ids(encode, job) for job in jobs]
    kept = [ids[-room:] for ids in encoded]
    width = max(len(ids) for ids in kept)
    input_ids = torch.full((len(jobs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(jobs), width), dtype=torch.long)
    for r, ids in enumerate(kept):
        if ids:
            input_ids[r, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            mask[r, width - len(ids) :] = 1
    sample = first.temperature > 0
    # greedy decoding gives n identical answers: run it once and repeat (transformers refuses n > 1 there)
    reps = first.n if sample else 1
    kwargs: dict[str, Any] = {
        "max_new_tokens": first.max_tokens,
        "do_sample": sample,
        "pad_token_id": pad_id,
        "num_return_sequences": reps,
    }
    if sample:
        kwargs["temperature"] = first.temperature
        kwargs["top_p"] = first.top_p if first.top_p is not None else 1.0
        if first.seed is not None:
            torch.manual_seed(first.seed)
    else:  # greedy: no sampling knobs, so transformers does not warn about unused ones
        kwargs.update(temperature=None, top_p=None, top_k=None)
    if first.stop:
        kwargs["stopping_criteria"] = StoppingCriteriaList([_StopOnStrings(tokenizer, first.stop, width)])
    with torch.inference_mode():
        out = model.generate(input_ids=input_ids.to(device), attention_mask=mask.to(device), **kwargs)
    new_tokens = out[:, width:].tolist()
    results = []
    for r, job in enumerate(jobs):
        completions, produced = [], 0
        for k in range(job.n):
            tokens = new_tokens[r * reps + (k if sample else 0)]
            ended = next((i for i, t in enumerate(tokens) if t in eos_ids), None)
            body = tokens[:ended] if ended is not None else tokens
            produced += len(body) + (1 if ended is not None else 0)
            text, stopped = cut_at_stop(tokenizer.decode(body, skip_special_tokens=True), job.stop)
            reason = "stop" if stopped or ended is not None else "length"
            completions.append(Completion(text=text, finish_reason=reason))
        results.append(
            GenerationResult(
                completions=tuple(completions),
                prompt_tokens=len(kept[r]),
                completion_tokens=produced,
                truncated=len(encoded[r]) - len(kept[r]),
            )
        )
    return results
