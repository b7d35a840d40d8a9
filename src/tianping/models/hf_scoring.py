"""Batched log-likelihood scoring that runs every shared token prefix through the model only once.

lm-eval's HFLM runs each (context, continuation) as a full sequence; in 5-shot MMLU that recomputes the
same few hundred prefix tokens for every question. Here a batch of items is planned first:

1. items with the same model input share one row (the four one-token answers of a multiple-choice
   question are read from the same logits, as lm-eval's own logits cache does);
2. rows are sorted and cut into groups that share a token prefix, choosing the cut that minimises the
   tokens to compute (a short dynamic programme over the sorted rows);
3. each group's prefix comes from the ``PrefixStore`` (computed at most once, by extending the longest
   stored common prefix: a k-shot prefix stored with one question serves the next question too), and
   only the suffixes run, batched, against it;
4. only the positions that are scored go through the output layer.

Causal attention makes the logits at a position depend on the tokens before it only, so this gives
lm-eval's numbers up to floating-point summation order (tests hold it to 1e-5 in float32).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from tianping.models.hf_prefix import KV, PrefixStore, SharedPrefixCache, common_prefix
from tianping.models.hf_tokens import ScoreItem

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

CALL_COST_TOKENS = 16
"""A model call's fixed cost in token-equivalents: a group must save more than this to be worth one."""
MIN_PREFIX_TOKENS = 8
"""Shorter shared prefixes are not worth a cached prefix of their own."""
AUTO_START_TOKENS = 4096
"""``batch_size="auto"``: the first token budget per model call (rows x (prefix + padded suffix) tokens)."""
AUTO_MAX_TOKENS = {"cpu": 16384}
"""``auto``: the largest budget probed on a device type; CPU memory raises no error before the kernel's
out-of-memory killer strikes, and larger CPU calls are not faster. Other devices: ``AUTO_MAX_TOKENS_OTHER``."""
AUTO_MAX_TOKENS_OTHER = 2**22
AUTO_MAX_ROWS = 4096


def is_oom(exc: BaseException) -> bool:
    """Out of memory on any device: torch's own error, Python's, or a backend's RuntimeError text."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def run_halving(chunk: Sequence[T], fn: Callable[[Sequence[T]], list[R]], on_oom: Callable[[int], None]) -> list[R]:
    """``fn(chunk)``, retried on halves of the chunk while it runs out of memory; one item that does
    not fit re-raises. Results keep the chunk's order, so no result is lost or misplaced."""
    try:
        return fn(chunk)
    except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled, everything else re-raised
        if not is_oom(exc) or len(chunk) <= 1:
            raise
    half = len(chunk) // 2
    on_oom(half)
    return run_halving(chunk[:half], fn, on_oom) + run_halving(chunk[half:], fn, on_oom)


@dataclass
class _Row:
    tokens: tuple[int, ...]
    keep: int
    """How many final positions are scored (the longest continuation read from this row)."""
    items: list[int]


class LogLikelihoodScorer:
    """Scores ``ScoreItem``s on one model; owned by the backend's single worker thread."""

    def __init__(
        self,
        model: Any,
        device: torch.device,
        batch_size: int,
        *,
        prefix_cache_bytes: int = 256 * 2**20,
        use_prefix_cache: bool = True,
    ):
        self.model = model
        self.device = device
        self.batch_size = batch_size
        """Rows per model call; with ``auto`` the row count the current token budget gives a typical row."""
        self.auto = False
        self.budget = 0
        """``auto``: tokens per model call, doubled after each call that used most of it until an
        out-of-memory error (then halved, and no longer grown) or the device's cap."""
        self.ceiling: int | None = None
        """``auto``: the smallest call (in tokens) that ran out of memory; the budget stays below it."""
        self.probed_len = 0
        """``auto``: the longest row (prefix + suffix tokens) that ran within the budget; a longer one is
        tried at the same token budget, and backs the budget off if it runs out of memory."""
        self._call_tokens = 0
        self.cache_arg = cache_argument(model)
        self.use_prefix_cache = use_prefix_cache and self.cache_arg is not None and _full_attention(model)
        self.keep_logits = "logits_to_keep" in inspect.signature(model.forward).parameters
        self.base, self.head = _split_output_layer(model, device)
        if self.base is not None and cache_argument(self.base) != self.cache_arg:
            self.base, self.head = None, None
        self.store = PrefixStore(prefix_cache_bytes)
        self.oom_events = 0

    def set_batch_size(self, batch_size: int | str) -> None:
        """A fixed number of rows per call, or ``"auto"``: the largest call that fits, found by probing (a
        token budget, doubled until the device runs out of memory, then halved)."""
        if batch_size == "auto":
            self.auto = True
            self.budget = min(AUTO_START_TOKENS, self.max_budget())
            self.ceiling, self.probed_len = None, 0
            self.batch_size = 16
        elif isinstance(batch_size, int) and batch_size >= 1:
            self.auto, self.batch_size = False, batch_size
        else:
            raise ValueError(f"batch size must be a positive integer or 'auto', got {batch_size!r}")

    def max_budget(self) -> int:
        return AUTO_MAX_TOKENS.get(self.device.type, AUTO_MAX_TOKENS_OTHER)

    def rows_for(self, row_tokens: int) -> int:
        """Rows per call for rows of ``row_tokens`` tokens each (a fixed batch size ignores the length)."""
        if not self.auto:
            return self.batch_size
        return max(1, min(AUTO_MAX_ROWS, self.budget // max(1, row_tokens)))

    def note_call(self, rows: int, row_tokens: int) -> None:
        """Before a model call: its size, which an out-of-memory error then backs off from."""
        self._call_tokens = rows * row_tokens

    def ran(self, rows: int, row_tokens: int) -> None:
        """After a model call that fit: with ``auto``, double the budget while calls fill it."""
        if not self.auto:
            return
        tokens = rows * row_tokens
        self.probed_len = max(self.probed_len, row_tokens)
        if self.ceiling is not None or 2 * tokens <= self.budget or rows >= AUTO_MAX_ROWS:
            # found (a call ran out of memory: the budget is the last size that fit), or the call did not
            # press against the budget and says nothing about a larger one
            return
        doubled = min(2 * self.budget, self.max_budget())
        if doubled > self.budget:
            log.debug("batch size auto: %d -> %d tokens per call", self.budget, doubled)
            self.budget = doubled
        self.batch_size = self.rows_for(max(1, self.probed_len))

    def _on_oom(self, half: int) -> None:
        self.oom_events += 1
        if self.auto:
            failed = self._call_tokens or self.budget
            self.ceiling = failed if self.ceiling is None else min(self.ceiling, failed)
            backed = max(1, min(self.budget, failed) // 2)
            log.warning("out of memory at %d tokens per call: budget %d -> %d", failed, self.budget, backed)
            self.budget = backed
            self.batch_size = max(1, half)
        elif half < self.batch_size:
            log.warning("out of memory: batch size %d -> %d", self.batch_size, max(1, half))
            self.batch_size = max(1, half)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    @torch.inference_mode()
    def score(self, items: Sequence[ScoreItem]) -> list[tuple[float, bool]]:
        """(sum of log-probabilities, every target token is the argmax) per item, in order."""
        by_inp: dict[tuple[int, ...], _Row] = {}
        for index, item in enumerate(items):
            row = by_inp.setdefault(item.inp, _Row(item.inp, 0, []))
            row.keep = max(row.keep, len(item.targets))
            row.items.append(index)
        rows = sorted(by_inp.values(), key=lambda r: r.tokens)
        results: list[tuple[float, bool] | None] = [None] * len(items)
        groups = self._plan(rows) if self.use_prefix_cache else [(0, rows)]
        prefixes = [rows_[0].tokens[:p] for p, rows_ in groups]
        for g, (plen, group) in enumerate(groups):
            kv = None
            if plen:
                kv = self._prefix(prefixes[g])
            group = sorted(group, key=lambda r: len(r.tokens))  # similar lengths together: little padding
            start = 0
            while start < len(group):  # the batch size may shrink or grow on the way (out of memory, auto)
                chunk = group[start : start + self._rows(group, start)]
                run_halving(chunk, lambda c, kv=kv, plen=plen: self._forward(c, kv, plen, items, results), self._on_oom)
                start += len(chunk)
        return [r if r is not None else _missing() for r in results]

    def _rows(self, group: Sequence[_Row], start: int) -> int:
        """How many rows of the length-sorted ``group`` from ``start`` go into one call: the batch size, or
        with ``auto`` as many as keep rows x the longest row's tokens (prefix included) within the budget."""
        if not self.auto:
            return self.batch_size
        n = 1
        while start + n < len(group) and n < AUTO_MAX_ROWS and (n + 1) * len(group[start + n].tokens) <= self.budget:
            n += 1
        return n

    def _prefix(self, tokens: tuple[int, ...]) -> KV:
        return self.store.get_or_compute(self.model, tokens, self.device, self.cache_arg or "", self.keep_logits)

    def _plan(self, rows: list[_Row]) -> list[tuple[int, list[_Row]]]:
        """Cut the sorted rows into consecutive groups, each with the prefix length its rows share,
        minimising the tokens computed (stored prefixes cost nothing) plus a fixed cost per call."""
        n = len(rows)
        lengths = [len(r.tokens) for r in rows]
        csum = [0]
        for length in lengths:
            csum.append(csum[-1] + length)
        caps = [len(r.tokens) - r.keep for r in rows]  # a scored position must lie in the suffix
        adjacent = [common_prefix(rows[i].tokens, rows[i + 1].tokens) for i in range(n - 1)]
        cached: dict[tuple[int, int], int] = {}
        best = [0.0] + [float("inf")] * n
        choice = [(0, 0)] * (n + 1)
        run_min, run_arg = float("inf"), 0  # best dp[i] - csum[i] for a prefix-less group ending here
        for j in range(n):
            if best[j] - csum[j] < run_min:
                run_min, run_arg = best[j] - csum[j], j
            best[j + 1] = run_min + csum[j + 1] + CALL_COST_TOKENS
            choice[j + 1] = (run_arg, 0)
            plen = caps[j]
            for i in range(j, -1, -1):
                if i < j:
                    plen = min(plen, caps[i], adjacent[i])
                if plen < MIN_PREFIX_TOKENS:
                    break
                if (i, plen) not in cached:
                    cached[(i, plen)] = self.store.cached_length(rows[i].tokens[:plen])
                prefix_cost = plen - cached[(i, plen)]
                cost = best[i] + prefix_cost + (csum[j + 1] - csum[i]) - (j - i + 1) * plen + 2 * CALL_COST_TOKENS
                if cost < best[j + 1]:
                    best[j + 1], choice[j + 1] = cost, (i, plen)
        groups = []
        j = n
        while j > 0:
            i, plen = choice[j]
            groups.append((plen, rows[i:j]))
            j = i
        groups.reverse()
        return groups

    def _forward(
        self,
        chunk: Sequence[_Row],
        kv: KV | None,
        plen: int,
        items: Sequence[ScoreItem],
        results: list[tuple[float, bool] | None],
    ) -> list[None]:
        """One model call: the chunk's suffixes after a shared prefix (``plen`` tokens, possibly none),
        right-padded (causal attention never lets a real token see the padding after it)."""
        suffixes = [row.tokens[plen:] for row in chunk]
        width = max(len(s) for s in suffixes)
        self.note_call(len(chunk), plen + width)
        ids = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, suffix in enumerate(suffixes):
            ids[r, : len(suffix)] = torch.tensor(suffix, dtype=torch.long)
        kwargs: dict[str, Any] = {"input_ids": ids.to(self.device)}
        if kv is not None:
            kwargs.update({self.cache_arg or "": SharedPrefixCache(kv), "use_cache": True})
        else:
            kwargs["use_cache"] = False
        # row r's scored positions are the last row.keep of its suffix; pick only those for the output layer
        row_index = [r for r, row in enumerate(chunk) for _ in range(row.keep)]
        positions = [len(s) - row.keep + k for s, row in zip(suffixes, chunk, strict=True) for k in range(row.keep)]
        if self.head is not None:
            hidden = self.base(**kwargs).last_hidden_state
            logits = self.head(hidden[row_index, positions])  # [scored positions, vocab]
        else:  # the model's own output layer, on the smallest trailing window that covers every row
            keep = width - min(positions)
            if self.keep_logits:
                kwargs["logits_to_keep"] = keep
            full = self.model(**kwargs).logits[:, -keep:, :]
            logits = full[row_index, [p - (width - keep) for p in positions]]
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        greedy = logprobs.argmax(dim=-1)
        start = 0
        for row in chunk:
            for index in row.items:
                targets = items[index].targets
                first = start + row.keep - len(targets)
                cols = torch.arange(first, first + len(targets), device=logprobs.device)
                wanted = torch.tensor(targets, dtype=torch.long, device=logprobs.device)
                results[index] = (float(logprobs[cols, wanted].sum()), bool((greedy[cols] == wanted).all()))
            start += row.keep
        self.ran(len(chunk), plen + width)
        return [None] * len(chunk)


def cache_argument(model: Any) -> str | None:
    """The name under which ``forward`` takes a key/value cache: ``cache`` since transformers 5.x,
    ``past_key_values`` before; None for a model that takes none (no prefix can be reused)."""
    params = inspect.signature(model.forward).parameters
    for name in ("cache", "past_key_values"):
        if name in params:
            return name
    return None


def _split_output_layer(model: Any, device: torch.device) -> tuple[Any, Any]:
    """The decoder and the output layer, when ``logits == output_layer(decoder hidden states)`` holds for
    this model (checked on a few tokens, since some models scale or cap logits after the layer); then
    the output layer runs on the scored positions only. (None, None) when it does not hold."""
    get_decoder = getattr(model, "get_decoder", None)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    base = get_decoder() if callable(get_decoder) else None
    if base is None or head is None or base is model:
        return None, None
    vocab = head.weight.shape[0]
    ids = torch.arange(1, 6, device=device).clamp(max=vocab - 1).unsqueeze(0)
    try:
        with torch.inference_mode():
            direct = model(input_ids=ids, use_cache=False).logits
            split = head(base(input_ids=ids, use_cache=False).last_hidden_state)
    except Exception:  # noqa: BLE001 - any failure just means: use the model's own forward
        return None, None
    if direct.shape != split.shape or not torch.equal(direct, split):
        return None, None
    return base, head


def _full_attention(model: Any) -> bool:
    """Sliding-window layers drop early keys from their cache, so a stored prefix would be wrong there."""
    config = getattr(model, "config", None)
    layer_types = getattr(config, "layer_types", None) or ()
    if any("sliding" in str(t) for t in layer_types):
        return False
    return not getattr(config, "use_sliding_window", False)


def _missing() -> tuple[float, bool]:
    raise RuntimeError("internal error: an item was not scored")  # every row belongs to exactly one chunk
