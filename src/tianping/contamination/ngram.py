"""N-gram overlap between a benchmark and a training corpus, as lm-evaluation-harness's decontamination checks it.

Units:

- ``words`` (lm-eval's ``Janitor``): ASCII letters lower-cased, every ``string.punctuation`` character
  deleted, the text split on whitespace, n consecutive words joined by one space. With n = 13 this is the
  13-gram overlap of GPT-3's and lm-eval's decontamination.
- ``chars``: Chinese, Japanese and Thai have no spaces between words, so a whole sentence would be one
  "word". There, n consecutive *characters* are compared after dropping whitespace and punctuation (letters
  and digits kept, lower-cased), as the reference models' corpus check does (``tools/refmodels/overlap.py``).
- ``auto``: ``chars`` when at least 30% of the benchmark's letters are CJK ideographs or kana, else ``words``.

An item's score is the fraction of its distinct n-grams that occur anywhere in the corpus (an item with
fewer than n units has none and is not scored); lm-eval calls an item contaminated when that fraction is
above zero (``flagged``).

The corpus is streamed: files (globs allowed; ``.jsonl`` with a text field per line, or plain text; either
may be gzipped) are read a document or a block at a time, so memory is bounded by the benchmark's own
n-grams, never by the corpus. To check one corpus against many benchmarks, ``--save-index`` keeps the
corpus's n-grams in a Bloom filter (``bloom``: fixed memory, no false negatives, false positives at a rate
the file records), and ``--index`` checks a benchmark against that file instead of the corpus.
"""

from __future__ import annotations

import glob
import gzip
import json
import string
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tianping.contamination.bloom import BloomFilter
from tianping.contamination.items import Item
from tianping.contamination.results import ItemResult

UNITS = ("auto", "words", "chars")
DEFAULT_N = 13
BLOCK_CHARS = 1 << 20
"""Plain-text corpus files are read this many characters at a time."""

_LOWER_NO_PUNCT = str.maketrans(
    string.ascii_lowercase + string.ascii_uppercase, string.ascii_lowercase * 2, string.punctuation
)


class CorpusError(ValueError):
    """A corpus file that cannot be read as asked; the message names the file and line."""


def normalize_words(text: str) -> list[str]:
    """lm-eval's normalisation and split: lower-cased ASCII, punctuation deleted, split on whitespace."""
    return text.translate(_LOWER_NO_PUNCT).split()


def significant_chars(text: str) -> str:
    """Letters and digits only (any script), lower-cased: what ``chars`` n-grams are cut from."""
    return "".join(c for c in text.lower() if unicodedata.category(c)[0] in "LN")


def word_ngrams(text: str, n: int = DEFAULT_N) -> list[str]:
    words = normalize_words(text)
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


def char_ngrams(text: str, n: int = DEFAULT_N) -> list[str]:
    chars = significant_chars(text)
    return [chars[i : i + n] for i in range(len(chars) - n + 1)]


def ngrams(text: str, unit: str, n: int = DEFAULT_N) -> list[str]:
    if unit == "words":
        return word_ngrams(text, n)
    if unit == "chars":
        return char_ngrams(text, n)
    raise ValueError(f"unit must be words or chars, got {unit!r}")


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (
        0x3040 <= code <= 0x30FF  # kana
        or 0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x2FA1F
        or 0x0E00 <= code <= 0x0E7F  # Thai: no spaces between words either
    )


def choose_unit(texts: Iterable[str], unit: str = "auto") -> str:
    """``unit`` itself unless ``auto``; then ``chars`` for mostly-CJK text (see the module docstring)."""
    if unit != "auto":
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
        return unit
    letters = cjk = 0
    for text in texts:
        for c in text:
            if c.isalpha():
                letters += 1
                cjk += _is_cjk(c)
    return "chars" if letters and cjk / letters >= 0.3 else "words"


def _whole_words(blocks: Iterable[str]) -> Iterator[str]:
    """Blocks cut again at their last whitespace, so that no word is split between two of them."""
    rest = ""
    for block in blocks:
        text = rest + block
        cut = max(text.rfind(c) for c in (" ", "\n", "\t", "\r", "\f", "\v"))
        if cut < 0:
            rest = text
            continue
        yield text[: cut + 1]
        rest = text[cut + 1 :]
    if rest:
        yield rest


def stream_ngrams(blocks: Iterable[str], unit: str, n: int = DEFAULT_N) -> Iterator[str]:
    """The n-grams of one text given in blocks: the same as ``ngrams`` of the joined text, in order."""
    carry: list[str] = []
    joiner = " " if unit == "words" else ""
    for block in _whole_words(blocks) if unit == "words" else blocks:
        units = normalize_words(block) if unit == "words" else list(significant_chars(block))
        seq = carry + units
        # the carry holds at most n - 1 units, so every window here takes in at least one new unit
        for i in range(len(seq) - n + 1):
            yield joiner.join(seq[i : i + n])
        carry = seq[-(n - 1) :] if n > 1 else []


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")  # noqa: SIM115 - the caller's with-block closes it
    return path.open(encoding="utf-8")


def corpus_files(patterns: Sequence[str]) -> list[Path]:
    """The files that ``patterns`` (paths or globs, ``**`` allowed) name, each once, in a stable order."""
    files: list[Path] = []
    for pattern in patterns:
        found = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
        matched = [Path(f) for f in found if Path(f).is_file()]
        if not matched:
            what = "matches no file" if glob.has_magic(pattern) else "is not a file"
            raise CorpusError(f"--corpus {pattern}: {what}")
        files.extend(matched)
    return list(dict.fromkeys(files))


def documents(path: Path, text_field: str = "text") -> Iterator[Iterable[str]]:
    """Each document of one corpus file, as blocks of text: a JSONL line's ``text_field``, or the whole of a
    plain-text file in blocks of ``BLOCK_CHARS``."""
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    try:
        with _open_text(path) as fh:
            if name.endswith(".jsonl"):
                for line_no, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise CorpusError(f"{path}:{line_no}: not JSON: {exc.msg}") from None
                    text = row.get(text_field) if isinstance(row, dict) else None
                    if not isinstance(text, str):
                        raise CorpusError(f"{path}:{line_no}: field {text_field!r}: expected a string")
                    yield (text,)
            else:
                yield iter(lambda: fh.read(BLOCK_CHARS), "")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (OSError, EOFError) as exc:
        raise CorpusError(f"{path}: cannot read: {exc}") from None


@dataclass
class CorpusStats:
    files: int = 0
    documents: int = 0
    ngrams: int = 0


class BenchmarkIndex:
    """The benchmark's n-grams, each with the items that hold it; a corpus is scanned against it."""

    def __init__(self, items: Sequence[Item], unit: str, n: int = DEFAULT_N):
        self.items = list(items)
        self.unit = unit
        self.n = n
        self.owners: dict[str, list[int]] = {}
        self.totals: list[int] = []
        for index, item in enumerate(self.items):
            grams = set(ngrams(item.text, unit, n))
            self.totals.append(len(grams))
            for gram in grams:
                self.owners.setdefault(gram, []).append(index)
        self.found: set[str] = set()

    def scan(
        self, patterns: Sequence[str], *, text_field: str = "text", save: BloomFilter | None = None
    ) -> CorpusStats:
        """Read every corpus file once, marking the benchmark n-grams it holds (and adding every corpus n-gram
        to ``save`` when given)."""
        stats = CorpusStats()
        owners, found = self.owners, self.found
        for path in corpus_files(patterns):
            stats.files += 1
            for blocks in documents(path, text_field):
                stats.documents += 1
                batch: list[str] = []
                for gram in stream_ngrams(blocks, self.unit, self.n):
                    stats.ngrams += 1
                    if gram in owners:
                        found.add(gram)
                    if save is not None:
                        batch.append(gram)
                        if len(batch) >= 65536:
                            save.add_many(batch)
                            batch = []
                if save is not None:
                    save.add_many(batch)
        return stats

    def check_index(self, bloom: BloomFilter) -> None:
        """Mark the benchmark n-grams that a saved corpus index (probably) holds."""
        grams = list(self.owners)
        for start in range(0, len(grams), 65536):
            part = grams[start : start + 65536]
            self.found.update(g for g, hit in zip(part, bloom.contains_many(part), strict=True) if hit)

    def results(self) -> list[ItemResult]:
        hits = [0] * len(self.items)
        for gram in self.found:
            for index in self.owners[gram]:
                hits[index] += 1
        out = []
        for item, total, hit in zip(self.items, self.totals, hits, strict=True):
            score = hit / total if total else None
            values = {"ngrams": total, "ngrams_in_corpus": hit, "flagged": bool(hit)}
            out.append(ItemResult(item, {"ngram": score}, values))
        return out
