"""Reading the safety data files so that every problem is reported as ``file:line: field: problem``.

The taxonomy, the mapping files and the project-written prompt sets are edited by hand. A typo in one of
them must stop the load with a message that points at the line, not turn into a seed filed under the wrong
leaf. YAML is therefore loaded with a loader that remembers the line of every mapping and key, and JSONL
is read line by line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml


class DataFileError(ValueError):
    """A data file is malformed; the message reads ``file:line: field: problem``."""

    def __init__(self, path: Path | str, line: int | None, field: str, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {field}: {problem}")


class LineDict(dict):
    """A dict from YAML that knows the line it started on and the line of each of its keys."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings are LineDicts and which rejects duplicate keys (YAML silently keeps the last)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in out:
            raise DataFileError(node.start_mark.name, line, str(key), "duplicate key")
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[str(key)] = line
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file; mappings come back as LineDict. Syntax errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(path, None, "file", f"cannot read: {exc}") from exc
    try:
        loader = _LineLoader(text)
        loader.name = str(path)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise DataFileError(path, line, "yaml", str(exc.problem or exc)) from exc


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, record) for each non-blank line; a line that is not a JSON object is an error."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(path, None, "file", f"cannot read: {exc}") from exc
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise DataFileError(path, number, "json", exc.msg) from exc
            if not isinstance(record, dict):
                raise DataFileError(path, number, "record", f"expected a JSON object, got {type(record).__name__}")
            yield number, record


def need_str(record: dict[str, Any], field: str, path: Path, line: int, *, optional: bool = False) -> str | None:
    """Return a non-empty string field, or raise naming the file, line and field."""
    if field not in record or record[field] is None:
        if optional:
            return None
        raise DataFileError(path, line, field, "missing")
    value = record[field]
    if not isinstance(value, str) or not value.strip():
        raise DataFileError(path, line, field, f"expected a non-empty string, got {value!r}")
    return value


def need_bool(record: dict[str, Any], field: str, path: Path, line: int, default: bool | None = None) -> bool:
    """Return a boolean field (JSON true/false only: "yes" or 1 are typos here, not truth values)."""
    if field not in record:
        if default is None:
            raise DataFileError(path, line, field, "missing")
        return default
    value = record[field]
    if not isinstance(value, bool):
        raise DataFileError(path, line, field, f"expected true or false, got {value!r}")
    return value


def check_keys(record: dict[str, Any], allowed: set[str], path: Path, line: int) -> None:
    """Reject unknown fields: a misspelt optional field would otherwise be ignored without a word."""
    extra = sorted(set(record) - allowed)
    if extra:
        raise DataFileError(path, line, extra[0], f"unknown field (allowed: {', '.join(sorted(allowed))})")
