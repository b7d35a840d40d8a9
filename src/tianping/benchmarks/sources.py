"""The benchmark definitions a run reads, kept with the run.

A run stores the text of every definition it used (bundled or a user's YAML) with its SHA-256. A resume
builds its benchmarks from that stored text, so it asks exactly the questions the run started with even from
another folder, and it refuses when the file has been edited since: one run never mixes answers to two
versions of a prompt.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from tianping.benchmarks.benchmark import Benchmark
from tianping.benchmarks.definition import Mode, parse_definitions_text, read_definition_text
from tianping.benchmarks.errors import BenchmarkDefinitionError
from tianping.benchmarks.registry import benchmarks_of, builtin_definitions, is_path, named_definitions, resolve

PLUGIN_PREFIX = "plugin:"
"""Stored records whose reference starts with this are plugin files (``tianping.engine.tasks``), not
definitions."""


class DefinitionChanged(BenchmarkDefinitionError):
    """A definition file differs from the one a run started with."""


@dataclass(frozen=True, slots=True)
class DefinitionText:
    ref: str
    """What the run names: a bundled benchmark's name or a path to a YAML file."""
    source: str
    """The file: an absolute path for a user's definition (a resume from another folder finds the same file),
    the package path for a bundled one."""
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def to_record(self) -> dict[str, str]:
        return {"source": self.source, "sha256": self.sha256, "text": self.text}


def read_definition(ref: str) -> DefinitionText:
    """The current text of a definition: a user's file, or the bundled file holding the named benchmark."""
    if is_path(ref):
        path = Path(ref).expanduser().absolute()
        return DefinitionText(ref, str(path), read_definition_text(path))
    resolve(ref)  # an unknown name fails here, listing the known ones
    if ref not in builtin_definitions():  # a definition found in an include path
        source = named_definitions()[ref][1]
        return DefinitionText(ref, source, read_definition_text(Path(source)))
    source = builtin_definitions()[ref][1]
    text = resources.files("tianping.benchmarks").joinpath("defs", Path(source).name).read_text("utf-8")
    return DefinitionText(ref, source, text)


def check_unchanged(stored: dict[str, Any], run_id: str) -> None:
    """Refuse to go on with a run whose definition files were edited since it started (a file that is no
    longer there, e.g. a relative path seen from another folder, is read from the stored copy instead)."""
    for ref, record in stored.items():
        if ref.startswith(PLUGIN_PREFIX):  # an imported plugin file: checked when it is imported again
            continue
        try:
            now = read_definition(record["source"] if is_path(ref) else ref)
        except BenchmarkDefinitionError:
            continue
        if now.sha256 != record["sha256"]:
            raise DefinitionChanged(
                f"{record['source']}: the definition changed since run {run_id} started (sha256 "
                f"{record['sha256'][:12]} -> {now.sha256[:12]}); its answers would mix two versions of the prompts. "
                "Restore the file to finish this run, or start a new run"
            )


def build_from_text(
    record: DefinitionText | dict[str, Any],
    ref: str,
    data_dir: Path,
    mode: Mode | None,
    allow_outside_data: bool,
) -> list[Benchmark]:
    """Benchmarks from a definition's text: for a bundled name, the variant of that name; for a file, all."""
    text = record.text if isinstance(record, DefinitionText) else record["text"]
    source = record.source if isinstance(record, DefinitionText) else record["source"]
    found = [(d, source) for d in parse_definitions_text(text, source) if is_path(ref) or d.name == ref]
    return benchmarks_of(found, ref, data_dir, mode, allow_outside_data=allow_outside_data)
