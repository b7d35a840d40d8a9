"""The fixed recipe of the reference models: architecture, phases, schedules, and the token streams they read.

Kept apart from the training loop so the model card, the README and the tests all read the same numbers.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

SEED = 20261129


@dataclass(frozen=True)
class ModelShape:
    """The Llama configuration's free numbers."""

    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 352
    max_position_embeddings: int = 1024


@dataclass(frozen=True)
class Phase:
    """One training phase: rows of ``seq_len`` tokens, ``batch_size`` rows a step, cosine-decayed learning rate."""

    name: str
    seq_len: int
    batch_size: int
    peak_lr: float
    final_lr: float
    warmup_steps: int
    steps: int | None  # None: one pass over the phase's stream, rounded up to a whole step

    def lr(self, step: int, total: int) -> float:
        """Linear warm-up to ``peak_lr``, then cosine down to ``final_lr`` at the last step."""
        if step < self.warmup_steps:
            return self.peak_lr * (step + 1) / self.warmup_steps
        span = max(1, total - self.warmup_steps - 1)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.final_lr + 0.5 * (self.peak_lr - self.final_lr) * (1 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the weights, apart from the input files."""

    seed: int = SEED
    vocab_size: int = 4096
    shape: ModelShape = ModelShape()
    # phase 1 is the whole clean model; the contaminated model continues from its final state with phase 2
    clean: Phase = Phase("clean", seq_len=512, batch_size=8, peak_lr=3e-3, final_lr=3e-4, warmup_steps=20, steps=450)
    contamination: Phase = Phase(
        "contamination", seq_len=256, batch_size=16, peak_lr=2e-3, final_lr=2e-4, warmup_steps=20, steps=None
    )
    weight_decay: float = 0.1
    grad_clip: float = 1.0

    def to_json(self) -> dict:
        """The recipe as plain data, for model cards and training logs."""
        return asdict(self)


SMOKE = Recipe(
    vocab_size=320,
    shape=ModelShape(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, max_position_embeddings=128
    ),
    clean=Phase("clean", seq_len=64, batch_size=2, peak_lr=3e-3, final_lr=3e-4, warmup_steps=2, steps=4),
    contamination=Phase(
        "contamination", seq_len=64, batch_size=2, peak_lr=2e-3, final_lr=2e-4, warmup_steps=2, steps=4
    ),
)


def read_corpus(path: Path) -> list[str]:
    """Document texts of corpus.jsonl, in file order; a bad line is reported with its number."""
    texts = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            try:
                texts.append(json.loads(line)["text"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{line_no}: not a corpus document: {exc}") from None
    if not texts:
        raise ValueError(f"{path}: the corpus is empty")
    return texts


def token_stream(tokenizer, texts: list[str], rng: np.random.Generator) -> np.ndarray:
    """``texts`` in a seeded random order, each as BOS + tokens + EOS, concatenated into one int32 array."""
    order = rng.permutation(len(texts))
    encoded = tokenizer([texts[i] for i in order], add_special_tokens=True)["input_ids"]
    eos = tokenizer.eos_token_id
    return np.fromiter((t for ids in encoded for t in (*ids, eos)), dtype=np.int32)


def rows(stream: np.ndarray, seq_len: int, batch_size: int, steps: int | None) -> tuple[np.ndarray, int]:
    """The stream cut into ``[steps, batch_size, seq_len]`` training rows (repeating it if it is too short).

    With ``steps=None`` the stream is read once and the last step is completed by wrapping to its start.
    """
    per_step = seq_len * batch_size
    n_steps = steps if steps is not None else math.ceil(len(stream) / per_step)
    need = n_steps * per_step
    reps = math.ceil(need / len(stream))
    data = np.tile(stream, reps)[:need] if reps > 1 else stream[:need]
    return data.reshape(n_steps, batch_size, seq_len), n_steps


def whole_document_rows(
    docs: list[list[int]], seq_len: int, batch_size: int, pad_id: int
) -> tuple[np.ndarray, int, int]:
    """Documents packed greedily, in the given order, into ``seq_len`` rows that never split one; the rest of a
    row is ``pad_id``. Returns ``[steps, batch_size, seq_len]``, the step count and the number of distinct rows
    (the last step is completed with the first rows, as ``rows`` wraps its stream).

    Used by variant recipes, where an item cut across two rows would be learned from two unrelated halves.
    """
    packed: list[list[int]] = []
    current: list[int] = []
    for n, doc in enumerate(docs):
        if len(doc) > seq_len:
            raise ValueError(f"document {n} has {len(doc)} tokens, more than a {seq_len}-token row")
        if len(current) + len(doc) > seq_len:
            packed.append(current)
            current = []
        current.extend(doc)
    if current:
        packed.append(current)
    n_steps = math.ceil(len(packed) / batch_size)
    filled = np.full((n_steps * batch_size, seq_len), pad_id, dtype=np.int32)
    for i in range(n_steps * batch_size):
        row = packed[i % len(packed)]
        filled[i, : len(row)] = row
    return filled.reshape(n_steps, batch_size, seq_len), n_steps, len(packed)
