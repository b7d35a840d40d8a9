"""White-box per-item scores from token log-probabilities.

Each function takes the natural-log probabilities of an item's tokens (every token after the first, or after
the BOS/prefix token the model was given) and returns a score oriented like every contamination score here:
**higher means more likely seen in training**. The raw quantities they come from (loss, perplexity, the
zlib size) are reported beside them by ``whitebox``.

- ``loss_score``: minus the mean negative log-likelihood (Yeom et al. 2018; perplexity ranks the same).
- ``zlib_score``: minus the loss divided by the item's zlib-compressed size in bytes (Carlini et al. 2021,
  "zlib entropy"; the quotient as the Min-K% authors compute it): a text that is easy for the model but hard
  for a general-purpose compressor is suspicious.
- ``min_k_score``: the mean of the lowest ``k`` fraction of token log-probabilities (Min-K% Prob, Shi et al.
  2024): an unseen text has a few very unlikely tokens; a memorised one has fewer.
- ``min_k_plus_plus_score``: Min-K% over each token's log-probability standardised by the mean and standard
  deviation of the log-probability under the model's own next-token distribution at that position (Min-K%++,
  Zhang et al. 2025): a token is suspicious when it is a local maximum of the likelihood, whatever its level.
- ``reference_ratio_score``: the mean log-likelihood per token under the model minus that under a reference
  model that has not seen the benchmark (the log of the likelihood ratio, per token; Carlini et al. 2021
  divide the two log-perplexities instead, which ranks items almost identically): what the item's own
  difficulty explains cancels out.
- ``reference_min_k_score``: Min-K% over the per-token differences (model minus reference): the reference
  cancels each token's difficulty before the least likely tokens are picked. Our combination of the two above.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

DEFAULT_K = 0.2
"""Min-K% and Min-K%++: the fraction of tokens averaged (the authors' recommended 20%)."""


def _tokens(logprobs: np.ndarray) -> np.ndarray:
    values = np.asarray(logprobs, dtype=float)
    if values.ndim != 1 or not len(values):
        raise ValueError("an item needs at least one scored token")
    return values


def loss(logprobs: np.ndarray) -> float:
    """Mean negative log-likelihood per token (nats)."""
    return float(-_tokens(logprobs).mean())


def perplexity(logprobs: np.ndarray) -> float:
    return math.exp(loss(logprobs))


def zlib_size(text: str) -> int:
    """Bytes of ``text`` (UTF-8) after zlib compression at the default level."""
    return len(zlib.compress(text.encode("utf-8")))


def loss_score(logprobs: np.ndarray) -> float:
    return -loss(logprobs)


def zlib_score(logprobs: np.ndarray, text: str) -> float:
    return -loss(logprobs) / zlib_size(text)


def lowest_mean(values: np.ndarray, k: float) -> float:
    """Mean of the ``floor(k * n)`` smallest values (at least one), as the Min-K% authors select them."""
    if not 0 < k <= 1:
        raise ValueError(f"k must be a fraction in (0, 1], got {k}")
    array = _tokens(values)
    count = max(1, int(len(array) * k))
    return float(np.partition(array, count - 1)[:count].mean())


def min_k_score(logprobs: np.ndarray, k: float = DEFAULT_K) -> float:
    return lowest_mean(logprobs, k)


def min_k_plus_plus_score(logprobs: np.ndarray, mean: np.ndarray, std: np.ndarray, k: float = DEFAULT_K) -> float:
    """``mean``/``std``: of log p(z) with z drawn from the model's next-token distribution, at each position."""
    lp, mu, sigma = _tokens(logprobs), np.asarray(mean, dtype=float), np.asarray(std, dtype=float)
    if not lp.shape == mu.shape == sigma.shape:
        raise ValueError(
            f"log-probabilities, means and deviations differ in length: {lp.shape} {mu.shape} {sigma.shape}"
        )
    # a position where the model is certain has no spread: its token is neither more nor less surprising
    z = np.where(sigma > 1e-12, (lp - mu) / np.maximum(sigma, 1e-12), 0.0)
    return lowest_mean(z, k)


def reference_ratio_score(logprobs: np.ndarray, reference_logprobs: np.ndarray, text: str | None = None) -> float:
    """Per token when both models scored the same tokens; per UTF-8 byte of ``text`` when their tokenizers
    differ (token counts then measure different things, the text's length does not)."""
    lp, ref = _tokens(logprobs), _tokens(reference_logprobs)
    if lp.shape == ref.shape:
        return loss(ref) - loss(lp)
    if not text:
        raise ValueError("the model and the reference scored different tokens: give the text to compare per byte")
    return float((lp.sum() - ref.sum()) / len(text.encode("utf-8")))


def reference_min_k_score(logprobs: np.ndarray, reference_logprobs: np.ndarray, k: float = DEFAULT_K) -> float:
    lp, ref = _tokens(logprobs), _tokens(reference_logprobs)
    if lp.shape != ref.shape:
        raise ValueError(
            f"the model and the reference scored different tokens ({len(lp)} and {len(ref)}): a token-level "
            "comparison needs the same tokenizer"
        )
    return lowest_mean(lp - ref, k)
