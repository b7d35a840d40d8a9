"""Per-source mapping of upstream categories onto taxonomy leaves, read from ``data/mappings/<source>.yaml``.

A mapping file holds:

- ``source``, ``license``, ``citation``: attribution copied into every seed's meta;
- ``categories``: upstream category -> leaf id;
- ``rules`` (optional, ordered): ``{from: [upstream categories], match: regex, leaf, field}``; the first rule
  whose regex matches wins. ``field`` (default ``text``) names what is matched: the prompt text, or a field the
  reader keeps in meta (e.g. JailbreakBench's short ``behavior`` label). Rules refine coarse upstream labels
  ("illegal") and give sources without labels a documented, reviewable assignment;
- ``default`` + ``default_reason`` (optional): the leaf for rows nothing else matched. Only allowed with a
  written reason, and every seed filed this way says ``mapped_by: default`` in its meta.

Every leaf named here is checked against the taxonomy when the file is loaded, and an upstream category that
the file does not mention is an error at seed-loading time, not a silent default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tianping.safety.seed_io import DataFileError, LineDict, load_yaml
from tianping.safety.seed_sources import RawSeed
from tianping.safety.taxonomy import Taxonomy, UnknownCategoryError

MAPPINGS_DIR = Path(__file__).resolve().parent / "data" / "mappings"
_TOP_KEYS = {"source", "license", "citation", "notes", "categories", "rules", "default", "default_reason"}


@dataclass(frozen=True)
class MappingRule:
    """Refine: rows whose upstream category is in ``from_categories`` (all rows if None) and whose text matches."""

    pattern: re.Pattern[str]
    leaf: str
    from_categories: frozenset[str] | None
    line: int
    field: str = "text"


@dataclass(frozen=True)
class SourceMapping:
    source: str
    license: str
    citation: str
    categories: dict[str, str]
    rules: tuple[MappingRule, ...]
    default: str | None
    path: Path

    def assign(self, raw: RawSeed) -> tuple[str, str]:
        """(leaf id, how it was chosen) for one upstream row; an unmapped category raises naming the row."""
        for index, rule in enumerate(self.rules):
            if rule.from_categories is not None and raw.category not in rule.from_categories:
                continue
            if rule.field == "text":
                subject = raw.text
            elif isinstance(raw.extra.get(rule.field), str):
                subject = raw.extra[rule.field]
            else:  # a rule on a field this source does not have can never fire: say so instead
                raise DataFileError(
                    self.path,
                    rule.line,
                    f"rules[{index}].field",
                    f"{rule.field!r} is not a text field of {self.source} rows",
                )
            if rule.pattern.search(subject):
                return rule.leaf, f"rule {index + 1} ({self.path.name}:{rule.line})"
        if raw.category is not None and raw.category in self.categories:
            return self.categories[raw.category], "category"
        if self.default is not None:
            return self.default, "default"
        raise DataFileError(
            raw.file,
            raw.line,
            "category",
            f"upstream category {raw.category!r} of {self.source} has no mapping in {self.path}",
        )


def leaf_id(taxonomy: Taxonomy, value: object, path: Path, line: int, field: str) -> str:
    """``value`` when it names a leaf of the taxonomy, else a ``DataFileError`` naming file, line and field."""
    if not isinstance(value, str):
        raise DataFileError(path, line, field, f"expected a leaf id, got {value!r}")
    try:
        node = taxonomy.get(value)
    except UnknownCategoryError as exc:
        raise DataFileError(path, line, field, str(exc)) from None
    if node.level != "leaf":
        raise DataFileError(path, line, field, f"{value!r} is a {node.level}, not a leaf")
    return value


def parse_mapping(path: Path, taxonomy: Taxonomy) -> SourceMapping:
    """Load one mapping file and check every leaf it names against ``taxonomy``."""
    doc = load_yaml(path)
    if not isinstance(doc, LineDict):
        raise DataFileError(path, 1, "document", "expected a mapping")
    extra = sorted(set(doc) - _TOP_KEYS)
    if extra:
        raise DataFileError(path, doc.line_of(extra[0]), extra[0], f"unknown field (allowed: {sorted(_TOP_KEYS)})")
    for key in ("source", "license", "citation"):
        if not isinstance(doc.get(key), str) or not doc[key].strip():
            raise DataFileError(path, doc.line_of(key), key, "missing or empty")
    categories_raw = doc.get("categories") or LineDict()
    if not isinstance(categories_raw, LineDict):
        raise DataFileError(path, doc.line_of("categories"), "categories", "expected a mapping category -> leaf")
    categories = {
        str(key): leaf_id(taxonomy, value, path, categories_raw.line_of(str(key)), f"categories.{key}")
        for key, value in categories_raw.items()
    }
    rules = []
    for index, entry in enumerate(doc.get("rules") or []):
        where = f"rules[{index}]"
        if not isinstance(entry, LineDict):
            raise DataFileError(path, doc.line_of("rules"), where, "expected a mapping with match and leaf")
        bad = sorted(set(entry) - {"from", "match", "leaf", "field"})
        if bad:
            raise DataFileError(path, entry.line_of(bad[0]), f"{where}.{bad[0]}", "unknown field")
        try:
            pattern = re.compile(str(entry.get("match") or ""))
        except re.error as exc:
            raise DataFileError(path, entry.line_of("match"), f"{where}.match", f"bad regex: {exc}") from None
        if not pattern.pattern:
            raise DataFileError(path, entry.line, f"{where}.match", "missing")
        sources = entry.get("from")
        if sources is not None:
            if isinstance(sources, str):
                sources = [sources]
            unknown = [s for s in sources if s not in categories]
            if unknown:  # a typo here would make the rule never fire
                raise DataFileError(
                    path,
                    entry.line_of("from"),
                    f"{where}.from",
                    f"{unknown[0]!r} is not an upstream category listed under categories",
                )
            sources = frozenset(sources)
        field = entry.get("field", "text")
        if not isinstance(field, str) or not field:
            raise DataFileError(path, entry.line_of("field"), f"{where}.field", f"expected a field name, got {field!r}")
        rules.append(
            MappingRule(
                pattern,
                leaf_id(taxonomy, entry.get("leaf"), path, entry.line_of("leaf"), f"{where}.leaf"),
                sources,
                entry.line,
                field,
            )
        )
    default = None
    if doc.get("default") is not None:
        default = leaf_id(taxonomy, doc["default"], path, doc.line_of("default"), "default")
        if not isinstance(doc.get("default_reason"), str) or not doc["default_reason"].strip():
            raise DataFileError(
                path,
                doc.line_of("default"),
                "default_reason",
                "a default leaf needs a written reason (defaults must be documented)",
            )
    if not categories and default is None and not rules:
        raise DataFileError(path, 1, "categories", "mapping maps nothing")
    return SourceMapping(
        source=doc["source"].strip(),
        license=doc["license"].strip(),
        citation=doc["citation"].strip(),
        categories=categories,
        rules=tuple(rules),
        default=default,
        path=path,
    )


def load_mapping(source: str, taxonomy: Taxonomy, directory: Path | None = None) -> SourceMapping:
    path = (directory or MAPPINGS_DIR) / f"{source}.yaml"
    if not path.is_file():
        raise DataFileError(path, None, "file", f"no mapping file for source {source!r}")
    mapping = parse_mapping(path, taxonomy)
    if mapping.source != source:
        raise DataFileError(path, 1, "source", f"file is for {mapping.source!r}, expected {source!r}")
    return mapping
