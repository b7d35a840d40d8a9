"""Running chosen items: a run's ``items`` setting (benchmark -> sample ids) and the files that give it.

A run with ``items`` for a benchmark scores exactly those samples of it, in the given order; it is the way a
pack derived by ``tianping fidelity pack-stats`` (item ids ranked by how well they separate models) is run.
The ids are the samples' ``id``s, as the store and every report name them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tianping.core.errors import TaskConfigError

__all__ = ["ItemsFileError", "check_ids", "read_items_file", "select_items"]

MAX_ITEMS_BYTES = 16 * 1024 * 1024
"""Largest items file read (a pack of every MMLU item with statistics is about 1 MiB)."""

T = TypeVar("T")


class ItemsFileError(ValueError):
    """An items file that cannot be read as benchmark -> sample ids; the message names the file and the field."""


def check_ids(value: Any, where: str) -> list[str]:
    """``value`` as a non-empty list of distinct sample ids (strings or whole numbers, kept as text).

    Raises:
        ValueError: naming ``where`` and what is wrong.
    """
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where}: must be a non-empty list of sample ids")
    ids: list[str] = []
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, str | int) or (isinstance(item, str) and not item.strip()):
            raise ValueError(f"{where}[{i}]: a sample id is a non-empty string, got {item!r}")
        ids.append(str(item))
    seen: set[str] = set()
    twice = [i for i in ids if i in seen or seen.add(i)]  # type: ignore[func-returns-value]
    if twice:
        raise ValueError(f"{where}: sample id {', '.join(repr(i) for i in dict.fromkeys(twice))} given more than once")
    return ids


def select_items(samples: Sequence[T], ids: Sequence[str], benchmark: str, id_of: Any = None) -> list[T]:
    """The samples whose ids are ``ids``, in that order.

    Raises:
        TaskConfigError: naming the benchmark and every id its data does not have.
    """
    key = id_of or (lambda s: s.id)
    by_id = {key(s): s for s in samples}
    missing = [i for i in ids if i not in by_id]
    if missing:
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        shown = ", ".join(repr(i) for i in missing[:10]) + more
        example = f"; its ids look like {key(samples[0])!r}" if samples else ""
        raise TaskConfigError(
            f"items.{benchmark}: {benchmark} has no sample {shown} ({len(by_id)} samples in its data{example})"
        )
    return [by_id[i] for i in ids]


def read_items_file(path: Path) -> dict[str, list[str]]:
    """Benchmark -> sample ids from ``path``: a pack file as ``tianping fidelity pack-stats`` writes it (its
    ``items:`` entries are ``{id: ..., p: ..., r: ...}``), or a JSON/YAML mapping of benchmark -> [ids]
    (optionally under ``items:``).

    Raises:
        ItemsFileError: naming the file and the field that is wrong.
    """
    try:
        if path.stat().st_size > MAX_ITEMS_BYTES:
            raise ItemsFileError(f"{path}: larger than {MAX_ITEMS_BYTES >> 20} MiB; not an items file")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ItemsFileError(f"{path}: cannot be read ({exc})") from None
    try:
        data = yaml.safe_load(text)  # JSON is YAML
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        raise ItemsFileError(f"{path}{at}: not YAML or JSON ({getattr(exc, 'problem', exc)})") from None
    if isinstance(data, dict) and "items" in data:
        data = data["items"]
        prefix = "items."
    else:
        prefix = ""
    if not isinstance(data, Mapping) or not data:
        raise ItemsFileError(
            f"{path}: expected a mapping of benchmark -> [sample ids] (or a pack file with items:), got "
            f"{type(data).__name__}"
        )
    out: dict[str, list[str]] = {}
    for bench, entries in data.items():
        where = f"{path}: {prefix}{bench}"
        if not isinstance(bench, str) or not bench.strip():
            raise ItemsFileError(f"{path}: {prefix}{bench!r}: a benchmark name is a non-empty string")
        if isinstance(entries, list):  # pack entries carry their statistics beside the id
            entries = [e.get("id") if isinstance(e, dict) else e for e in entries]
        try:
            out[bench] = check_ids(entries, where)
        except ValueError as exc:
            raise ItemsFileError(str(exc)) from None
    return out
