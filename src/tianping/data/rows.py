"""What kind of file a dataset file is, and how many rows it holds.

The catalog pins a row count per file beside its hash: a hash says the bytes are the ones verified, the count
says what they were verified to contain, and recounting is how ``tianping data verify`` tells a truncated or
re-encoded file from a file that is merely different. The rule for each format:

- ``jsonl`` / ``jsonl.gz``: one row per non-blank line, each line parsed (so a cut line is caught).
- ``json-array``: the items of the top-level array.
- ``json-object``: an object with exactly one list-valued member counts that list's items (the examples of a
  wrapper such as BBH's ``{"canary": …, "examples": […]}``); any other object counts its members (an answer
  key such as ``{"id": answer, …}``).
- ``csv``: records after the header row, read by the csv module (cells may hold line breaks).
- ``lines``: non-blank lines (a label file such as PIQA's ``valid-labels.lst``).
- ``text``: one document per file (a ``.tex`` problem, a ``.txt`` prompt): 1.
- ``other``: licenses, notes, images, configs: no row count.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterable
from pathlib import Path

FORMATS = ("jsonl", "jsonl.gz", "json-array", "json-object", "csv", "lines", "text", "other")
_TEXT_SUFFIXES = {".tex", ".txt"}


class RowCountError(ValueError):
    """A file that cannot be read in its format; the message names the file and, where known, the line."""


def detect_format(path: Path) -> str:
    """The format of a file, from its name and, for ``.json`` (which is sometimes JSON Lines), its content."""
    name = path.name.lower()
    if name.endswith(".jsonl.gz"):
        return "jsonl.gz"
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    if suffix == ".lst":
        return "lines"
    if suffix in _TEXT_SUFFIXES:
        return "text"
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError:
            return "jsonl"  # several upstreams (BFCL, OCNLI, CLUEWSC) ship JSON Lines under a .json name
        except UnicodeDecodeError as exc:
            raise RowCountError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        return "json-array" if isinstance(data, list) else "json-object"
    return "other"


def count_rows(path: Path, fmt: str) -> int | None:
    """The rows of ``path`` read as ``fmt`` (see the module docstring); None for ``other``."""
    try:
        if fmt == "jsonl":
            with path.open(encoding="utf-8-sig") as f:
                return _count_json_lines(path, f)
        if fmt == "jsonl.gz":
            with gzip.open(path, "rt", encoding="utf-8") as f:
                return _count_json_lines(path, f)
        if fmt in ("json-array", "json-object"):
            return _count_json(path, fmt)
        if fmt == "csv":
            with path.open(encoding="utf-8-sig", newline="") as f:
                return max(sum(1 for _ in csv.reader(f)) - 1, 0)
        if fmt == "lines":
            with path.open(encoding="utf-8-sig") as f:
                return sum(1 for line in f if line.strip())
        if fmt == "text":
            path.read_text(encoding="utf-8")  # a text file that does not decode is not the file verified
            return 1
        if fmt == "other":
            return None
    except UnicodeDecodeError as exc:
        raise RowCountError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise RowCountError(f"{path}: not valid CSV: {exc}") from None
    except (OSError, EOFError) as exc:  # gzip reports a cut stream as EOFError
        raise RowCountError(f"{path}: cannot read: {exc}") from None
    raise ValueError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")


def _count_json_lines(path: Path, lines: Iterable[str]) -> int:
    rows = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            json.loads(line)
        except json.JSONDecodeError as exc:
            raise RowCountError(f"{path}:{number}: not valid JSON: {exc.msg}") from None
        rows += 1
    return rows


def _count_json(path: Path, fmt: str) -> int:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise RowCountError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if fmt == "json-array":
        if not isinstance(data, list):
            raise RowCountError(f"{path}: expected a JSON array, found {type(data).__name__}")
        return len(data)
    if not isinstance(data, dict):
        raise RowCountError(f"{path}: expected a JSON object, found {type(data).__name__}")
    lists = [value for value in data.values() if isinstance(value, list)]
    return len(lists[0]) if len(lists) == 1 else len(data)
