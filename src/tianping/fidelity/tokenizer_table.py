"""Tokenizer fingerprints of known families: each probe of :data:`tianping.fidelity.signals.PROBES` counted by
the family's own tokenizer, minus the first probe's count (the same relative form an endpoint's usage counts
give, so a chat template's constant cancels).

Only tokenizers available offline where the table was made are in it, each with where it came from; a family
not here cannot be recognised by its tokenizer, only told apart from those that are. Add one with
``tianping fidelity wrapper --tokenizer NAME=PATH/tokenizer.json`` (:func:`fingerprint_of_file`).
tests/test_fidelity_wrapper.py recomputes every entry from its source where that source is installed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tianping.fidelity.signals import PROBES

__all__ = ["KNOWN", "QWEN_SPLIT", "KnownTokenizer", "fingerprint_of_file", "fingerprint_with", "nearest_families"]

QWEN_SPLIT = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
"""The pre-tokenisation rule Qwen's tiktoken tokenizer is used with (one digit per token)."""


@dataclass(frozen=True, slots=True)
class KnownTokenizer:
    family: str
    fingerprint: tuple[int, ...]
    source: str


KNOWN: dict[str, KnownTokenizer] = {
    "qwen": KnownTokenizer(
        "qwen",
        (0, 13, 17, 25, 47, 22, 10, 15),
        "qwen.tiktoken (151,643 BPE ranks) as shipped in the dashscope package, with Qwen's split rule; Qwen 1.5, "
        "2 and 2.5 publish the same vocabulary and rule, which was not re-checked offline here",
    ),
    "tp-ref": KnownTokenizer(
        "tp-ref",
        (0, 25, 26, 28, 29, 33, 34, 20),
        "the bundled reference model's tokenizer.json (src/tianping/refmodels/tp-ref-clean, BPE 4096 byte-level)",
    ),
}
"""Family -> fingerprint over :data:`PROBES`. GPT (cl100k/o200k), Llama, DeepSeek, GLM and others are absent:
their tokenizer files were not available offline when the table was made."""


def fingerprint_with(count: Callable[[str], int]) -> tuple[int, ...]:
    """The fingerprint of a tokenizer given as a function from text to its number of tokens (no special ones)."""
    counts = [count(p) for p in PROBES]
    return tuple(c - counts[0] for c in counts)


def fingerprint_of_file(path: Path) -> tuple[int, ...]:
    """The fingerprint of a Hugging Face ``tokenizer.json``.

    Raises:
        ValueError: when the file is missing or is not a tokenizer the ``tokenizers`` library reads.
    """
    if not path.is_file():
        raise ValueError(f"{path}: no such tokenizer file")
    try:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(path))
    except ImportError:
        raise ValueError("reading a tokenizer.json needs the 'tokenizers' package (pip install tokenizers)") from None
    except Exception as exc:  # the library raises its own exception type for every malformed file
        raise ValueError(f"{path}: not a tokenizer.json the tokenizers library reads ({exc})") from None
    return fingerprint_with(lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids))


def nearest_families(
    fingerprint: list[int] | tuple[int, ...], table: dict[str, KnownTokenizer] | None = None
) -> list[tuple[str, int]]:
    """(family, probes that differ) for every known tokenizer, closest first."""
    table = KNOWN if table is None else table
    rows = []
    for name, known in table.items():
        if len(known.fingerprint) != len(fingerprint):
            raise ValueError(f"the '{name}' fingerprint has {len(known.fingerprint)} probes, not {len(fingerprint)}")
        rows.append((name, sum(1 for a, b in zip(known.fingerprint, fingerprint, strict=True) if a != b)))
    return sorted(rows, key=lambda row: (row[1], row[0]))
