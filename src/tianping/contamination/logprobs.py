"""Per-token log-probabilities of whole texts: what the white-box scores are computed from.

Two sources:

- ``LocalTokens`` (``hf/<path>``, ``ref/<name>``): the model runs here, through transformers, loaded by
  tianping's own loader (same options and checks as ``tianping run``). The log-likelihood backend only returns
  sums per continuation, so this module runs the forward pass itself. Each text is encoded without special
  tokens and given the model's prefix token (BOS, else EOS) in front, as lm-eval's rolling log-likelihood
  does, so that every token of the text is scored; a text longer than the model's window is cut to its first
  ``max_length`` tokens (``TokenStats.truncated`` says by how many). Besides each token's log-probability it
  gives the mean and standard deviation of log p(z) over the whole next-token distribution at that position,
  which Min-K%++ needs.
- ``EndpointTokens`` (``openai/<name>`` with ``--base-url``): ``/completions`` with ``echo`` and ``logprobs``
  returns the prompt's token log-probabilities (vLLM, llama.cpp, TGI and most self-hosted servers do; OpenAI's
  own API no longer does). The first token has none; no distribution statistics come back, so Min-K%++ is not
  available from an endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

MAX_LOGIT_FLOATS = 1 << 25
"""Rows x positions x vocabulary of one forward pass at most (128 MiB of float32 per tensor)."""


@dataclass(frozen=True)
class TokenStats:
    """One text's scored tokens."""

    logprobs: np.ndarray
    """Natural-log probability of each scored token given the ones before it."""
    mean: np.ndarray | None = None
    """E[log p(z)] for z drawn from the model's next-token distribution at each scored position."""
    std: np.ndarray | None = None
    """Its standard deviation (Min-K%++'s normaliser)."""
    truncated: int = 0
    """Tokens past the model's window, not scored."""


class TokenSource(Protocol):
    """Something that scores the tokens of whole texts."""

    model_id: str
    has_distribution: bool
    """Whether ``TokenStats.mean``/``std`` are given (Min-K%++)."""

    async def token_stats(self, texts: Sequence[str], *, distribution: bool = False) -> list[TokenStats]: ...

    async def aclose(self) -> None: ...


def local_model_path(spec: Any) -> Any:
    """The folder of ``ref/<name>`` (bundled) or ``hf/<path or hub id>`` (local files only)."""
    from tianping.models.hf_hub import model_source
    from tianping.models.hf_load import resolve_ref_model

    if spec.backend == "ref":
        return resolve_ref_model(spec.name)
    return model_source(spec.name, spec.revision)[0]


class LocalTokens:
    """Token statistics from a local transformers model (see the module docstring)."""

    has_distribution = True

    def __init__(self, spec: Any, *, token_budget: int = 8192):
        """``spec``: a ``ModelSpec`` with backend ``hf`` or ``ref``; loading fails now on a bad path."""
        from tianping.models.hf_load import load_local_model

        self.model_id = spec.id
        self.loaded = load_local_model(
            local_model_path(spec),
            device=spec.device,
            dtype=spec.dtype,
            max_length=spec.max_length,
            trust_remote_code=spec.trust_remote_code,
            adapter=spec.adapter,
            quantization=spec.quantization,
            device_map=spec.device_map,
        )
        self.token_budget = token_budget
        prefix = self.loaded.encoder.prefix_token_id
        if prefix is None:
            raise ValueError(f"{spec.id}: the tokenizer has neither BOS nor EOS to put before a text's first token")
        self.prefix: int = prefix

    def encode(self, text: str) -> tuple[list[int], int]:
        """Prefix token + the text's tokens, cut to the window; and how many tokens were cut."""
        tokens = self.loaded.encoder.encode(text, add_special_tokens=False)
        window = self.loaded.max_length
        return [self.prefix, *tokens[:window]], max(0, len(tokens) - window)

    async def token_stats(self, texts: Sequence[str], *, distribution: bool = False) -> list[TokenStats]:
        return await asyncio.to_thread(self.score, texts, distribution=distribution)

    def score(self, texts: Sequence[str], *, distribution: bool = False) -> list[TokenStats]:
        """Every text's token statistics (in the order given), batched by length."""
        encoded = [self.encode(t) for t in texts]
        empty = TokenStats(logprobs=np.zeros(0), mean=np.zeros(0), std=np.zeros(0))
        # a text of no tokens has nothing to score: it gets empty statistics (and no score), not a failure
        order = sorted((i for i in range(len(texts)) if len(encoded[i][0]) > 1), key=lambda i: len(encoded[i][0]))
        head = self.loaded.model.get_output_embeddings()
        vocab = int(head.weight.shape[0]) if head is not None else int(self.loaded.model.config.vocab_size)
        results: list[TokenStats | None] = [None] * len(texts)
        start = 0
        while start < len(order):
            end = start + 1
            # lengths only grow along ``order``: add rows while the padded batch stays in budget
            while end < len(order):
                width = len(encoded[order[end]][0])
                rows = end - start + 1
                if rows * width > self.token_budget or rows * width * vocab > MAX_LOGIT_FLOATS:
                    break
                end += 1
            batch = order[start:end]
            for index, stats in zip(batch, self._forward([encoded[i] for i in batch], distribution), strict=True):
                results[index] = stats
            start = end
        return [r if r is not None else empty for r in results]

    def _forward(self, batch: list[tuple[list[int], int]], distribution: bool) -> list[TokenStats]:
        import torch

        width = max(len(ids) for ids, _ in batch)
        pad = self.loaded.pad_id
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (seq, _) in enumerate(batch):
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        device = self.loaded.device
        with torch.no_grad():
            logits = self.loaded.model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
            del logits
            picked = logp.gather(-1, ids[:, 1:].to(device).unsqueeze(-1)).squeeze(-1).cpu().numpy()
            if distribution:
                p = logp.exp()
                mu = (p * logp).sum(-1)
                second = (p * logp * logp).sum(-1)
                sd = (second - mu * mu).clamp_min(0).sqrt()
                mu_np, sd_np = mu.cpu().numpy(), sd.cpu().numpy()
        out = []
        for row, (seq, cut) in enumerate(batch):
            n = len(seq) - 1
            out.append(
                TokenStats(
                    logprobs=picked[row, :n].astype(float),
                    mean=mu_np[row, :n].astype(float) if distribution else None,
                    std=sd_np[row, :n].astype(float) if distribution else None,
                    truncated=cut,
                )
            )
        return out

    async def aclose(self) -> None:
        return None


class EndpointTokens:
    """Token log-probabilities from an OpenAI-compatible ``/completions`` endpoint that echoes the prompt's."""

    has_distribution = False

    def __init__(self, backend: Any):
        """``backend``: an ``OpenAIChatBackend`` (its retries, limits and credentials apply)."""
        self.backend = backend
        self.model_id = backend.model_id

    async def token_stats(self, texts: Sequence[str], *, distribution: bool = False) -> list[TokenStats]:
        values = await asyncio.gather(*(self.backend.prompt_token_logprobs(t) for t in texts))
        return [TokenStats(logprobs=np.array(v, dtype=float)) for v in values]

    async def aclose(self) -> None:
        await self.backend.aclose()
