"""13-gram overlap between a text corpus and the GSM8K / CMMLU test sets.

English is compared in word 13-grams (lower-cased runs of letters and digits), the usual contamination
measure. Chinese has no spaces, so CMMLU is compared in 13-grams of *characters* after dropping whitespace
and punctuation; a 13-character run shared with a test question is already a long verbatim match.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

N = 13
_WORD = re.compile(r"[a-z0-9]+")
_SIGNIFICANT = re.compile(r"[\w]", re.UNICODE)


def word_ngrams(text: str, n: int = N) -> set[tuple[str, ...]]:
    """Lower-cased word n-grams of ``text``."""
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def char_stream(text: str) -> str:
    """``text`` without whitespace and punctuation (word characters only, lower-cased)."""
    return "".join(_SIGNIFICANT.findall(text.lower())).replace("_", "")


def char_ngrams(text: str, n: int = N) -> set[str]:
    """Character n-grams of the significant characters of ``text``."""
    s = char_stream(text)
    return {s[i : i + n] for i in range(len(s) - n + 1)}


def gsm8k_texts(path: Path) -> list[str]:
    """Question and worked answer of every GSM8K row, read straight from the JSONL file."""
    texts = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                texts.append(f"{row['question']}\n{row['answer']}")
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{line_no}: not a GSM8K row: {exc}") from None
    return texts


def cmmlu_texts(directory: Path) -> list[str]:
    """Question and choices of every CMMLU row (all subject CSV files in ``directory``)."""
    texts = []
    files = sorted(directory.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"{directory}: no CMMLU .csv files")
    for file in files:
        with file.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                try:
                    texts.append("\n".join(row[k] for k in ("Question", "A", "B", "C", "D")))
                except KeyError as exc:
                    raise ValueError(f"{file}: missing column {exc}") from None
    return texts


@dataclass
class OverlapIndex:
    """The test sets' 13-grams, ready to look documents up against."""

    word_grams: set[tuple[str, ...]] = field(default_factory=set)
    char_grams: set[str] = field(default_factory=set)
    items: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_data(cls, data_dir: Path) -> OverlapIndex:
        """Index GSM8K test (word grams) and CMMLU test (character grams) under ``data_dir``."""
        index = cls()
        gsm = gsm8k_texts(data_dir / "gsm8k" / "test.jsonl")
        cm = cmmlu_texts(data_dir / "cmmlu" / "test")
        for text in gsm:
            index.word_grams |= word_ngrams(text)
        for text in cm:
            index.char_grams |= char_ngrams(text)
        index.items = {"gsm8k_test": len(gsm), "cmmlu_test": len(cm)}
        return index

    def hits(self, text: str) -> int:
        """How many of ``text``'s 13-grams occur in a test item (0 means the document is clean)."""
        words = _WORD.findall(text.lower())
        count = sum(tuple(words[i : i + N]) in self.word_grams for i in range(len(words) - N + 1))
        s = char_stream(text)
        count += sum(s[i : i + N] in self.char_grams for i in range(len(s) - N + 1))
        return count


def check_documents(index: OverlapIndex, documents: Iterable[str]) -> list[int]:
    """Indices of the documents sharing at least one 13-gram with a test item."""
    return [i for i, doc in enumerate(documents) if index.hits(doc)]
