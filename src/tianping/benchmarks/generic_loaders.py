"""Generic loaders ``jsonl``, ``json``, ``csv`` and ``parquet``: a benchmark over rows of one's own, mapped by
options alone.

Options (all optional unless said):

- ``id``: a field name or a Jinja expression giving the sample id; default the row number (from 0);
- ``target``: a field name or a Jinja expression giving the target (``"{{ 'ABCDEFGHIJ'[label] }}"``); default
  the field ``answer``;
- ``choices``: a field holding the list of option texts, or a list of field names (one per option); adds
  the fields ``choices``, ``letters`` (``A``, ``B``, ...) and ``options`` (one ``A. text`` line per option),
  and the target must then be one of the letters;
- ``fields``: the row fields kept for templates; default all. Or a mapping ``name: field or Jinja expression``
  that names the template fields itself (a nested value, ``"{{ target.span1_text }}"``, or a row field whose
  name templates cannot use, such as ``target``); a field keeps its value, an expression gives stripped text;
- ``exclude``: ``field: value`` (or a list of values): rows whose field holds one of them are left out, the
  dataset's own "not scored" rows (OCNLI's label ``-``); row numbers, and so default ids, still count them;
- ``meta``: row fields copied into the sample's meta, for breakdowns (``subject``);
- ``rows`` (``json`` only): the key of the list of rows when the top level is an object.

Expressions render in the sandbox of :mod:`tianping.benchmarks.templates` over the raw row, so a shared
definition cannot reach Python through them. A row lacking a mapped field, or whose value does not fit, is a
``DatasetError`` naming the file, the line (or item) and the field: no row is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jinja2.exceptions import SecurityError

from tianping.benchmarks.errors import BenchmarkDefinitionError, DatasetError
from tianping.benchmarks.loaders import LETTERS, LoadedDataset, iter_jsonl, read_csv_rows, register_loader
from tianping.benchmarks.templates import Template, compile_template
from tianping.core import Sample
from tianping.core.suggest import did_you_mean

_COMMON = {"id", "target", "choices", "fields", "meta", "exclude"}
Row = tuple[str, dict[str, Any], dict[str, Any]]
"""(where, row, location meta): ``file:line`` or ``file item N`` for messages, and the meta saying the same."""


def _is_expression(text: str) -> bool:
    return "{{" in text or "{%" in text


def _names(path: Path, options: dict[str, Any], key: str) -> list[str] | None:
    value = options.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DatasetError(f"{path}: option '{key}' must be a list of field names")
    return value


class _Mapping:
    """The options of one dataset, checked and compiled once, applied to every row."""

    def __init__(self, path: Path, options: dict[str, Any], extra: set[str]) -> None:
        unknown = sorted(set(options) - _COMMON - extra)
        if unknown:
            known = ", ".join(sorted(_COMMON | extra))
            raise DatasetError(f"{path}: unknown option(s) {', '.join(unknown)} (known: {known})")
        self.path = path
        self.id = self._field_or_expression(options, "id", None)
        self.target = self._field_or_expression(options, "target", "answer")
        choices = options.get("choices")
        if choices is not None and not (
            isinstance(choices, str) or (isinstance(choices, list) and all(isinstance(c, str) for c in choices))
        ):
            raise DatasetError(f"{path}: option 'choices' must be a field name or a list of field names")
        self.choices: str | list[str] | None = choices
        named = options.get("fields")
        self.named: dict[str, str | Template] | None = None
        if isinstance(named, dict):
            self.named = {}
            for name, spec in named.items():
                key = f"fields.{name}"  # messages and template locations name the entry
                compiled = self._field_or_expression({key: spec}, key, None)
                if compiled is None:
                    raise DatasetError(f"{path}: option '{key}' must be a field name or a Jinja expression")
                self.named[str(name)] = compiled
            self.fields = None
        else:
            self.fields = _names(path, options, "fields")
        self.meta = _names(path, options, "meta") or []
        self.exclude = self._exclusions(options.get("exclude"))

    def _exclusions(self, value: Any) -> dict[str, list[Any]]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise DatasetError(f"{self.path}: option 'exclude' must map field names to a value or a list of values")
        return {str(name): v if isinstance(v, list) else [v] for name, v in value.items()}

    def excluded(self, row: dict[str, Any]) -> bool:
        return any(name in row and row[name] in values for name, values in self.exclude.items())

    def _field_or_expression(self, options: dict[str, Any], key: str, default: str | None) -> str | Template | None:
        value = options.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise DatasetError(f"{self.path}: option '{key}' must be a field name or a Jinja expression")
        # a refused expression (a private attribute) is the definition's fault: BenchmarkDefinitionError
        return compile_template(value, str(self.path), f"dataset.options.{key}") if _is_expression(value) else value

    def _value(self, where: str, row: dict[str, Any], key: str, spec: str | Template) -> Any:
        if isinstance(spec, str):
            if row.get(spec) is None:
                raise DatasetError(f"{where}: field '{spec}' (option '{key}') is missing or null")
            return row[spec]
        try:
            return spec.template.render(row).strip()
        except Exception as exc:
            if isinstance(exc, SecurityError):
                raise BenchmarkDefinitionError(f"{spec.source}: field '{spec.where}': not allowed: {exc}") from None
            absent = sorted(spec.names - row.keys())
            if absent:  # jinja's own words for it ("str object has no element Undefined") name nothing
                name, fields = absent[0], sorted(row)
                hint = did_you_mean(name, fields)
                raise DatasetError(
                    f"{where}: option '{key}': the row has no field '{name}'"
                    + (f"; {hint}" if hint else "")
                    + f" (its fields: {', '.join(fields)})"
                ) from None
            raise DatasetError(f"{where}: option '{key}': {type(exc).__name__}: {exc}") from None

    def _choices(self, where: str, row: dict[str, Any]) -> list[str]:
        if isinstance(self.choices, str):
            raw = self._value(where, row, "choices", self.choices)
            if not isinstance(raw, list):
                raise DatasetError(f"{where}: field '{self.choices}' (option 'choices') is not a list")
            named = [(self.choices, item) for item in raw]
        else:
            assert self.choices is not None
            named = [(name, self._value(where, row, "choices", name)) for name in self.choices]
        if not 2 <= len(named) <= len(LETTERS):
            raise DatasetError(f"{where}: option 'choices' gives {len(named)} options; 2 to {len(LETTERS)} are allowed")
        texts = []
        for name, item in named:
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise DatasetError(f"{where}: field '{name}' (option 'choices') holds {type(item).__name__}, not text")
            texts.append(str(item).strip())
        return texts

    def sample(self, index: int, where: str, row: dict[str, Any], located: dict[str, Any]) -> Sample:
        target = self._value(where, row, "target", self.target)
        if isinstance(target, bool) or not isinstance(target, str | int | float):
            raise DatasetError(f"{where}: option 'target' gives {type(target).__name__}, not text")
        target = str(target).strip()
        sample_id = str(index) if self.id is None else str(self._value(where, row, "id", self.id))
        if self.named is not None:
            fields = {name: self._value(where, row, f"fields.{name}", spec) for name, spec in self.named.items()}
        elif self.fields is None:
            fields = dict(row)
        else:
            missing = [name for name in self.fields if name not in row]
            if missing:
                raise DatasetError(f"{where}: field '{missing[0]}' (option 'fields') is missing")
            fields = {name: row[name] for name in self.fields}
        if self.choices is not None:
            choices = self._choices(where, row)
            letters = list(LETTERS[: len(choices)])
            if target not in letters:
                raise DatasetError(
                    f"{where}: option 'target' gives {target!r}, not an option letter {letters[0]}-{letters[-1]}"
                )
            fields["choices"] = choices
            fields["letters"] = letters
            fields["options"] = "\n".join(f"{x}. {c}" for x, c in zip(letters, choices, strict=True))
        meta = dict(located)
        for name in self.meta:
            meta[name] = str(self._value(where, row, "meta", name))
        return Sample(id=sample_id, fields=fields, target=target, meta=meta)


def _build(path: Path, mapping: _Mapping, rows: Iterator[Row]) -> LoadedDataset:
    samples: list[Sample] = []
    seen: dict[str, str] = {}
    for index, (where, row, located) in enumerate(rows):
        if mapping.excluded(row):
            continue
        sample = mapping.sample(index, where, row, located)
        if sample.id in seen:  # results are keyed by sample id: a repeat would overwrite another row's answer
            raise DatasetError(f"{where}: sample id {sample.id!r} repeats the one at {seen[sample.id]}")
        seen[sample.id] = where
        samples.append(sample)
    return LoadedDataset(tuple(samples), (path,))


@register_loader("jsonl")
def load_jsonl(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """One JSON object per line (gzip when the name ends in ``.gz``), mapped by the options above."""
    mapping = _Mapping(path, options, set())
    rows = ((f"{path}:{line}", row, {"file": path.name, "line": line}) for line, row in iter_jsonl(path))
    return _build(path, mapping, rows)


@register_loader("json")
def load_json(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """A JSON file of rows: a top-level array, or an object whose ``rows`` option names the array's key."""
    mapping = _Mapping(path, options, {"rows"})
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    key = options.get("rows")
    if isinstance(data, dict):
        if not isinstance(key, str):
            raise DatasetError(f"{path}: the top level is an object: name the key of its rows with option 'rows'")
        if not isinstance(data.get(key), list):
            raise DatasetError(f"{path}: key '{key}' (option 'rows') is missing or not a list")
        data = data[key]
    elif not isinstance(data, list):
        raise DatasetError(f"{path}: expected an array of rows or an object, got {type(data).__name__}")

    def rows() -> Iterator[Row]:
        for index, row in enumerate(data):
            where = f"{path} item {index}"
            if not isinstance(row, dict):
                raise DatasetError(f"{where}: expected a JSON object, got {type(row).__name__}")
            yield where, row, {"file": path.name, "index": index}

    return _build(path, mapping, rows())


@register_loader("csv")
def load_csv(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """A CSV file whose first row names the columns; every value is text."""
    mapping = _Mapping(path, options, set())
    parsed = read_csv_rows(path, skip_blank=True)
    header = [name.strip() for name in parsed[0][1]]

    def rows() -> Iterator[Row]:
        for line, cells in parsed[1:]:
            if len(cells) != len(header):
                raise DatasetError(f"{path}:{line}: {len(cells)} columns where the header has {len(header)}")
            yield f"{path}:{line}", dict(zip(header, cells, strict=True)), {"file": path.name, "line": line}

    return _build(path, mapping, rows())


@register_loader("parquet")
def load_parquet(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """A Parquet file (the Hugging Face Hub's format for datasets), one sample per row; needs pyarrow
    (``pip install 'tianping[parquet]'``)."""
    mapping = _Mapping(path, options, set())
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DatasetError(f"{path}: reading Parquet needs pyarrow: pip install 'tianping[parquet]'") from None
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid (not Parquet) is a ValueError
        raise DatasetError(f"{path}: cannot read as Parquet: {exc}") from None

    def rows() -> Iterator[Row]:
        for index, row in enumerate(table.to_pylist()):
            yield f"{path} row {index}", row, {"file": path.name, "index": index}

    return _build(path, mapping, rows())
