"""What ``tianping run`` asks before it starts: does the data folder hold what the tasks will read, and if not,
may the missing datasets be pulled?

The check is a stat per path a task reads, never a hash, so a run over data already there costs nothing. A task
reads the ``dataset.path`` (and the few-shot ``dataset.path``) of its definition; the catalog dataset that holds
it is the definition's ``about.data``, else the path's first folder. A task of another kind (the safety
suite, the judged tasks) reads the data files of the dataset its kind names (``TaskAbout.dataset``). A path
outside the catalog (a user's own data folder) is left alone, and so is a path that exists: only what is missing
is fetched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from tianping.data.catalog import catalog_names, dataset
from tianping.data.pull import pull_command


def needed_paths(
    benchmarks: Sequence[str], records: Mapping[str, Any], whole: Mapping[str, str] | None = None
) -> dict[str, list[str]]:
    """Catalog dataset -> the paths (relative to the data folder) the named tasks read from it.

    ``records`` are the definition texts a run keeps (``inputs_of``): ``{ref: {"source", "text", ...}}``.
    ``whole``: task -> the catalog dataset it reads as a whole (a kind's ``TaskAbout.dataset``: the safety suite,
    judged tasks), for tasks without a definition text.
    """
    from tianping.benchmarks.definition import parse_definitions_text
    from tianping.benchmarks.registry import is_path

    known = set(catalog_names())
    found: dict[str, list[str]] = {}

    def add(name: str, path: str) -> None:
        if name in known and path not in found.setdefault(name, []):
            found[name].append(path)

    whole = whole or {}
    for ref in benchmarks:
        if ref in whole and whole[ref] in known:
            # its data files, not the folder: a failed pull can leave the folder empty
            name = whole[ref]
            for f in dataset(name).files:
                if f.format != "other":
                    add(name, f"{name}/{f.path}")
            continue
        record = records.get(ref)
        if not isinstance(record, Mapping) or not isinstance(record.get("text"), str):
            continue  # a task of a plugin kind: its data is its own business
        for definition in parse_definitions_text(record["text"], str(record.get("source", ref))):
            if not (is_path(ref) or definition.name == ref):
                continue
            sources = [definition.dataset, definition.fewshot.dataset]
            for source in (s for s in sources if s is not None):
                parts = PurePosixPath(source.path).parts
                if not parts or source.path.startswith("/") or ".." in parts:
                    continue  # outside the data folder (--allow-outside-data): not the catalog's
                add(definition.about.data or parts[0], source.path)
    return found


def missing_datasets(needed: Mapping[str, Sequence[str]], root: Path) -> list[str]:
    """The datasets of which some needed path does not exist under ``root``."""
    return [name for name, paths in needed.items() if any(not (root / p).exists() for p in paths)]


def offline_refusal(missing: Sequence[str], root: Path, reason: str) -> str:
    """The error of a run that needs datasets it may not download: what is missing and the command to fetch it."""
    return (
        f"data for {', '.join(missing)} is not in {root} and downloads are off ({reason}); fetch it with: "
        f"{pull_command(list(missing))} (or point --data-dir / TIANPING_DATA_DIR at a folder that has it)"
    )
