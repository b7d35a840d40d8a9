"""Key/value caches of shared token prefixes, so that a k-shot prefix is run through the model once.

Two pieces:

- ``PrefixStore``: an LRU of batch-1 key/value tensors keyed by the exact token prefix, bounded in
  bytes. A new prefix is computed by extending the longest stored prefix of it, so a question's
  context built on a stored k-shot prefix costs only the question's tokens.
- ``SharedPrefixCache``: a read-only view of one stored prefix for a batch of suffixes. Attention sees
  ``[prefix; suffix]`` for every row, but the prefix is broadcast rather than copied into the cache and
  nothing is kept after each layer has used it, so memory grows with one layer's keys, not all of them.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

KV = list[tuple[torch.Tensor, torch.Tensor]]
"""Per layer (keys, values), each ``[1, heads, length, head_dim]``."""


class _ReadOnlyPrefixLayer(DynamicLayer):
    """Returns ``[prefix; new]`` for attention without growing: the suffix's keys are used once."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor):
        super().__init__()
        self.keys, self.values = keys, values
        self.device = keys.device
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        batch = key_states.shape[0]
        keys = torch.cat([self.keys.expand(batch, -1, -1, -1), key_states], dim=-2)
        values = torch.cat([self.values.expand(batch, -1, -1, -1), value_states], dim=-2)
        return keys, values


class SharedPrefixCache(DynamicCache):
    """A cache holding one prefix for every row of a batch (see the module docstring)."""

    def __init__(self, kv: KV):
        super().__init__()
        self.layers = [_ReadOnlyPrefixLayer(k, v) for k, v in kv]


def kv_from_cache(cache: Any) -> KV:
    """The (keys, values) per layer of a transformers cache after a batch-1 forward."""
    return [(layer.keys, layer.values) for layer in cache.layers]


def cache_from_kv(kv: KV) -> DynamicCache:
    """A growing cache that starts from a stored prefix (copied, so the stored tensors stay unchanged)."""
    cache = DynamicCache()
    layers = []
    for k, v in kv:
        layer = DynamicLayer()
        layer.lazy_initialization(k, v)
        layer.keys, layer.values = k.clone(), v.clone()
        layers.append(layer)
    cache.layers = layers
    return cache


def common_prefix(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """Length of the common prefix, by binary search on slice equality (compared in C, not per token)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _kv_bytes(kv: KV) -> int:
    return sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)


class PrefixStore:
    """LRU of prefix key/values, bounded by ``max_bytes``; the most recently used prefix is kept last."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[int, ...], KV] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.computed_tokens = 0

    def longest(self, tokens: tuple[int, ...]) -> tuple[int, KV | None]:
        """The most tokens of ``tokens`` whose key/values are stored, and those key/values.

        Any stored entry serves up to its common prefix with ``tokens``: the keys of the first m
        positions depend on those m tokens only, so a stored "k-shot + question 1" also holds "k-shot"."""
        best_len, best_key = 0, None
        for key in self._entries:
            m = common_prefix(key, tokens)
            if m > best_len:
                best_len, best_key = m, key
        if best_key is None:
            return 0, None
        self._entries.move_to_end(best_key)
        kv = self._entries[best_key]
        if best_len < len(best_key):
            kv = [(k[:, :, :best_len], v[:, :, :best_len]) for k, v in kv]
        return best_len, kv

    def cached_length(self, tokens: tuple[int, ...]) -> int:
        """Like ``longest`` but without touching the LRU order (for cost estimates)."""
        return max((common_prefix(key, tokens) for key in self._entries), default=0)

    def put(self, tokens: tuple[int, ...], kv: KV) -> None:
        size = _kv_bytes(kv)
        if size > self.max_bytes or tokens in self._entries:
            return
        self._entries[tokens] = kv
        self._bytes += size
        while self._bytes > self.max_bytes:
            _, old = self._entries.popitem(last=False)
            self._bytes -= _kv_bytes(old)

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def get_or_compute(
        self, model: Any, tokens: tuple[int, ...], device: torch.device, cache_arg: str, keep_logits: bool
    ) -> KV:
        """Key/values of ``tokens`` (non-empty), computing only what no stored prefix covers.

        ``cache_arg``: the name of ``forward``'s cache argument. ``keep_logits``: the model accepts
        ``logits_to_keep``; the prefix's own logits are never read, so asking for one position skips
        most of the output layer."""
        have, kv = self.longest(tokens)
        if have == len(tokens) and kv is not None:
            self.hits += 1
            return kv
        cache = cache_from_kv(kv) if kv is not None else DynamicCache()
        ids = torch.tensor([tokens[have:]], dtype=torch.long, device=device)
        extra = {"logits_to_keep": 1} if keep_logits else {}
        model(input_ids=ids, use_cache=True, **{cache_arg: cache}, **extra)
        self.computed_tokens += len(tokens) - have
        new_kv = kv_from_cache(cache)
        self.put(tokens, new_kv)
        return new_kv
