"""Tokenisation for log-likelihood scoring, defined to give the same tokens as lm-evaluation-harness.

Scores are only comparable with published lm-eval numbers when the token boundaries are the same, so
this module reproduces HFLM's rules (lm-eval 0.4.13) rather than inventing its own:

- a (context, continuation) pair is encoded as the whole string and split where the encoded context
  ends; trailing whitespace of the context is moved to the continuation first, so that " A" is scored
  as the model would see it after "Answer:";
- an empty context is replaced by the prefix token (BOS, else EOS);
- the model input is ``(context + continuation)[-(max_length + 1):][:-1]``: tokens beyond the window
  are dropped from the left, and the count of dropped tokens is reported as ``truncated``;
- rolling log-likelihood (perplexity) cuts the text into disjoint windows of ``max_length`` tokens,
  the first conditioned on the prefix token;
- a context given as a chat (``Request.messages``, lm-eval's ``--apply_chat_template``) is rendered by the
  tokenizer's chat template with the generation prompt appended (``render_chat_context``), then encoded as
  any context: lm-eval's HFLM encodes it with ``tok_encode``, whose rule above leaves out the tokenizer's
  BOS where the template already wrote it, so no BOS is doubled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tianping.core import LogLikelihood, Message

DEFAULT_MAX_LENGTH = 2048
"""lm-eval's fallback when neither the config nor the tokenizer states a window."""
_TOKENIZER_INFINITY = 1000000000000000019884624838656
"""transformers' ``model_max_length`` when a tokenizer does not know its limit."""


class EncodingError(ValueError):
    """A (context, continuation) pair cannot be scored as given (empty or over-long continuation)."""


@dataclass(frozen=True, slots=True)
class ScoreItem:
    """One continuation to score, already cut to the model's window.

    The log-probabilities of ``targets`` are read from the last ``len(targets)`` positions of ``inp``
    (position i predicts token i + 1), exactly as lm-eval reads them.
    """

    inp: tuple[int, ...]
    targets: tuple[int, ...]
    truncated: int = 0

    def result(self, continuation: str, logprob: float, greedy: bool) -> LogLikelihood:
        """The scored continuation as a response carries it (tokens, characters and bytes for the
        normalised metrics, and how much of the context was cut)."""
        return LogLikelihood(
            logprob=logprob,
            greedy=greedy,
            tokens=len(self.targets),
            chars=len(continuation),
            bytes=len(continuation.encode("utf-8")),
            truncated=self.truncated,
        )


def resolve_max_length(config: Any, tokenizer: Any, override: int | None = None) -> int:
    """The model's window in tokens, looked up in the same order as lm-eval's ``resolve_max_length``."""
    if override is not None:
        return override
    cfg = getattr(config, "text_config", None) or config
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(cfg, attr, None)
        if value is not None:
            return int(value)
    limit = getattr(tokenizer, "model_max_length", None)
    if limit is not None and limit != _TOKENIZER_INFINITY:
        return int(limit)
    return DEFAULT_MAX_LENGTH


class LMEvalEncoder:
    """Encodes strings and (context, continuation) pairs the way lm-eval's HFLM does."""

    def __init__(self, tokenizer: Any, max_length: int):
        self.tokenizer = tokenizer
        self.max_length = max_length
        bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
        self.prefix_token_id: int | None = bos if bos is not None else eos
        # lm-eval skips the tokenizer's special tokens for a string that already starts with the prefix
        # token's text (e.g. a chat template that writes "<s>" itself), so that it is not doubled
        self._prefix_text = tokenizer.decode(self.prefix_token_id) if self.prefix_token_id is not None else None

    def encode(self, text: str, add_special_tokens: bool | None = None) -> list[int]:
        """``HFLM.tok_encode``: the tokenizer's own special-token default unless told otherwise."""
        # verbose=False: transformers warns that a text longer than the model's window "will result in indexing
        # errors"; every caller cuts to the window itself (see the module docstring), so the warning misleads
        kwargs: dict[str, Any] = {"verbose": False}
        if add_special_tokens is not None:
            kwargs["add_special_tokens"] = add_special_tokens
        elif self._prefix_text is not None and text.startswith(self._prefix_text):
            kwargs["add_special_tokens"] = False
        return list(self.tokenizer.encode(text, **kwargs))

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Context and continuation tokens, split as lm-eval splits them (see the module docstring)."""
        if context == "":
            if self.prefix_token_id is None:
                raise EncodingError("empty context needs a BOS or EOS token, and the tokenizer has neither")
            cont = self.encode(continuation, add_special_tokens=False)
            if not cont:
                raise EncodingError(f"continuation {continuation!r} encodes to no tokens")
            if cont[0] != self.prefix_token_id:
                return [self.prefix_token_id], cont
            return cont[:1], cont[1:]
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        whole = self.encode(context + continuation)
        ctx = self.encode(context)
        return ctx, whole[len(ctx) :]

    def encode_many(self, texts: list[str]) -> list[list[int]]:
        """``encode`` of every text, in one batched tokenizer call per special-token setting (the fast
        tokenizers encode a batch in parallel), each distinct text encoded once."""
        unique = list(dict.fromkeys(texts))
        encoded: dict[str, list[int]] = {}
        plain = [t for t in unique if self._prefix_text is None or not t.startswith(self._prefix_text)]
        marked = [t for t in unique if self._prefix_text is not None and t.startswith(self._prefix_text)]
        for batch, kwargs in ((plain, {"verbose": False}), (marked, {"add_special_tokens": False, "verbose": False})):
            if batch:
                for text, ids in zip(batch, self.tokenizer(batch, **kwargs)["input_ids"], strict=True):
                    encoded[text] = list(ids)
        return [encoded[t] for t in texts]

    def encode_pairs(self, pairs: list[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
        """``encode_pair`` for many pairs at once: the same split, with a context shared by several
        continuations encoded once."""
        wanted: list[str] = []
        for context, continuation in pairs:
            if context:
                kept = context.rstrip()
                wanted += [kept, kept + context[len(kept) :] + continuation]
        encoded = iter(self.encode_many(wanted))
        out = []
        for context, continuation in pairs:
            if not context:
                out.append(self.encode_pair(context, continuation))
                continue
            ctx, whole = next(encoded), next(encoded)
            out.append((ctx, whole[len(ctx) :]))
        return out

    def item(self, context_tokens: list[int], continuation_tokens: list[int], label: str = "") -> ScoreItem:
        """Cut a tokenised pair to the window; the dropped context tokens are counted, never hidden."""
        if not continuation_tokens:
            raise EncodingError(f"continuation {label!r} adds no tokens after its context (nothing to score)")
        if len(continuation_tokens) > self.max_length:
            raise EncodingError(
                f"continuation {label!r} is {len(continuation_tokens)} tokens, longer than the model's "
                f"window of {self.max_length}"
            )
        whole = context_tokens + continuation_tokens
        kept = whole[-(self.max_length + 1) :]
        return ScoreItem(inp=tuple(kept[:-1]), targets=tuple(continuation_tokens), truncated=len(whole) - len(kept))

    def rolling_items(self, text: str) -> list[ScoreItem]:
        """lm-eval's disjoint rolling windows over ``text`` (context length 1), as items to score."""
        if self.prefix_token_id is None:
            raise EncodingError("rolling log-likelihood needs a BOS or EOS token, and the tokenizer has neither")
        tokens = self.encode(text)
        if not tokens:
            return []
        window = self.max_length
        items = []
        first = min(window, len(tokens))
        items.append(ScoreItem(inp=(self.prefix_token_id, *tokens[: first - 1]), targets=tuple(tokens[:first])))
        done = first
        while done < len(tokens):
            n_pred = min(len(tokens) - done, window)
            end = done + n_pred
            # the window's input is the window_size tokens before `end`; only its last n_pred
            # positions are scored, so the earlier ones are pure context
            start = max(0, end - window - 1)
            context = tokens[start : end - n_pred]
            targets = tokens[end - n_pred : end]
            items.append(ScoreItem(inp=tuple(context + targets[:-1]), targets=tuple(targets)))
            done = end
        return items


def render_chat_context(tokenizer: Any, messages: Sequence[Message]) -> str:
    """A chat as the context of a log-likelihood request: HFLM's ``apply_chat_template`` (lm-eval 0.4.13), the
    generation prompt appended; a template that refuses the system turn renders the chat without it, as there."""
    import jinja2

    if not getattr(tokenizer, "chat_template", None):
        raise EncodingError("the context is a chat (--apply-chat-template) and the tokenizer has no chat template")
    chat = [{"role": m.role, "content": m.content} for m in messages]
    options = {"tokenize": False, "add_generation_prompt": True, "continue_final_message": False}
    try:
        return str(tokenizer.apply_chat_template(chat, **options))
    except jinja2.exceptions.TemplateError:
        chat = [m for m in chat if m["role"] != "system"]
        try:
            return str(tokenizer.apply_chat_template(chat, **options))
        except jinja2.exceptions.TemplateError as exc:
            raise EncodingError(f"the chat template cannot render this context: {exc}") from None
