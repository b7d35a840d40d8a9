"""Prompt sets written by the tianping project itself (``data/prompts/``), loaded without any datasets dir.

- ``zh_harmful.jsonl``: Chinese harmful *requests* for every taxonomy leaf (never harmful content itself);
- ``en_written.jsonl``: English requests, same format, for the leaves the public English sets leave thin;
- ``zh_overrefusal.jsonl``: Chinese benign look-alikes in the manner of XSTest, each with its type and the leaf
  it resembles;
- ``code_grid.yaml``: the code-safety track, templates expanded over languages x scenarios x framings, zh + en.

Each loader validates every record (unknown fields, empty text, unknown leaf, duplicate id) and raises
``DataFileError`` as ``file:line: field: problem``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tianping.safety.seed_io import DataFileError, LineDict, check_keys, iter_jsonl, load_yaml, need_str
from tianping.safety.seed_mapping import leaf_id
from tianping.safety.taxonomy import Taxonomy

PROMPTS_DIR = Path(__file__).resolve().parent / "data" / "prompts"
PROJECT_LICENSE = "Apache-2.0"  # the tianping project's own license for its data files

# The ten XSTest safe-prompt types (Röttger et al., 2024); the Chinese set uses the same names so results line up.
OVERREFUSAL_TYPES = frozenset(
    {
        "homonyms",
        "figurative_language",
        "safe_targets",
        "safe_contexts",
        "definitions",
        "real_group_nons_discr",
        "nons_group_real_discr",
        "historical_events",
        "privacy_public",
        "privacy_fictional",
    }
)


@dataclass(frozen=True)
class ProjectRecord:
    """A project-written prompt, before it becomes a SeedPrompt."""

    id: str
    text: str
    lang: str
    category: str
    benign: bool
    meta: dict[str, Any]


def _unique(seen: dict[str, int], record_id: str, path: Path, line: int) -> None:
    if record_id in seen:
        raise DataFileError(path, line, "id", f"duplicate id {record_id!r} (first on line {seen[record_id]})")
    seen[record_id] = line


def read_written(path: Path, taxonomy: Taxonomy, lang: str) -> list[ProjectRecord]:
    """Project-written requests in one language: ``{"id", "category", "text"}`` per line."""
    out, seen = [], {}
    for line, rec in iter_jsonl(path):
        check_keys(rec, {"id", "category", "text"}, path, line)
        record_id = need_str(rec, "id", path, line)
        _unique(seen, record_id, path, line)
        leaf = leaf_id(taxonomy, need_str(rec, "category", path, line), path, line, "category")
        # the over-refusal leaves hold benign requests by definition: answering them is the right behaviour
        benign = leaf.startswith("service.over_refusal.")
        out.append(
            ProjectRecord(
                record_id,
                need_str(rec, "text", path, line).strip(),
                lang,
                leaf,
                benign,
                {"file": path.name, "line": line},
            )
        )
    return out


def read_zh_harmful(path: Path, taxonomy: Taxonomy) -> list[ProjectRecord]:
    """The Chinese per-leaf set."""
    return read_written(path, taxonomy, "zh")


def read_en_written(path: Path, taxonomy: Taxonomy) -> list[ProjectRecord]:
    """The English set for thin leaves."""
    return read_written(path, taxonomy, "en")


def read_zh_overrefusal(path: Path, taxonomy: Taxonomy) -> list[ProjectRecord]:
    """Chinese benign look-alikes: ``{"id", "type", "resembles", "text"}``; category = the leaf resembled."""
    out, seen = [], {}
    for line, rec in iter_jsonl(path):
        check_keys(rec, {"id", "type", "resembles", "text"}, path, line)
        record_id = need_str(rec, "id", path, line)
        _unique(seen, record_id, path, line)
        kind = need_str(rec, "type", path, line)
        if kind not in OVERREFUSAL_TYPES:
            raise DataFileError(path, line, "type", f"{kind!r} is not one of {sorted(OVERREFUSAL_TYPES)}")
        leaf = leaf_id(taxonomy, need_str(rec, "resembles", path, line), path, line, "resembles")
        out.append(
            ProjectRecord(
                record_id,
                need_str(rec, "text", path, line).strip(),
                "zh",
                leaf,
                True,
                {"file": path.name, "line": line, "type": kind, "set_category": kind},
            )
        )
    return out


def _entries(doc: LineDict, key: str, fields: set[str], path: Path) -> list[LineDict]:
    items = doc.get(key)
    if not isinstance(items, list) or not items:
        raise DataFileError(path, doc.line_of(key), key, "expected a non-empty list")
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        if not isinstance(item, LineDict):
            raise DataFileError(path, doc.line_of(key), f"{key}[{index}]", "expected a mapping")
        extra = sorted(set(item) - fields)
        if extra:
            raise DataFileError(path, item.line_of(extra[0]), f"{key}[{index}].{extra[0]}", "unknown field")
        for name in fields:
            value = item.get(name)
            if not isinstance(value, str) or not value.strip():
                raise DataFileError(
                    path, item.line_of(name), f"{key}[{index}].{name}", f"expected a non-empty string, got {value!r}"
                )
        _unique(seen, item["id"], path, item.line)
    return items


def read_code_grid(path: Path, taxonomy: Taxonomy) -> list[ProjectRecord]:
    """Expand the code-safety grid: every framing x scenario x language, in zh and en.

    Framing templates use ``{language}`` and ``{task}``; a template naming any other placeholder, or missing
    ``{task}``, is an error, so a typo cannot produce prompts that silently lack the task.
    """
    doc = load_yaml(path)
    if not isinstance(doc, LineDict):
        raise DataFileError(path, 1, "document", "expected a mapping")
    check_keys(doc, {"version", "languages", "scenarios", "framings"}, path, doc.line)
    languages = _entries(doc, "languages", {"id", "name"}, path)
    scenarios = _entries(doc, "scenarios", {"id", "leaf", "kind", "zh", "en"}, path)
    framings = _entries(doc, "framings", {"id", "zh", "en"}, path)
    for index, scenario in enumerate(scenarios):
        leaf_id(taxonomy, scenario["leaf"], path, scenario.line_of("leaf"), f"scenarios[{index}].leaf")
        if not scenario["leaf"].startswith("system."):
            raise DataFileError(
                path,
                scenario.line_of("leaf"),
                f"scenarios[{index}].leaf",
                "code scenarios belong under system (system and agent security)",
            )
        if scenario["kind"] not in ("malicious", "insecure"):
            raise DataFileError(
                path,
                scenario.line_of("kind"),
                f"scenarios[{index}].kind",
                f"expected malicious or insecure, got {scenario['kind']!r}",
            )
    for index, framing in enumerate(framings):
        for lang in ("zh", "en"):
            try:
                framing[lang].format(language="L", task="T")
            except (KeyError, IndexError, ValueError) as exc:
                raise DataFileError(
                    path,
                    framing.line_of(lang),
                    f"framings[{index}].{lang}",
                    f"bad template ({exc!r}); only {{language}} and {{task}} may appear",
                ) from None
            if "{task}" not in framing[lang]:
                raise DataFileError(path, framing.line_of(lang), f"framings[{index}].{lang}", "template lacks {task}")
    out = []
    for framing, scenario, language in itertools.product(framings, scenarios, languages):
        for lang in ("zh", "en"):
            text = framing[lang].format(language=language["name"], task=scenario[lang].strip())
            meta = {
                "file": path.name,
                "line": scenario.line,
                "scenario": scenario["id"],
                "kind": scenario["kind"],
                "set_category": scenario["kind"],
                "language": language["id"],
                "framing": framing["id"],
                "grid_version": str(doc.get("version")),
            }
            out.append(
                ProjectRecord(
                    f"{scenario['id']}/{language['id']}/{framing['id']}/{lang}",
                    text,
                    lang,
                    scenario["leaf"],
                    False,
                    meta,
                )
            )
    return out


PROJECT_SETS = {
    "tianping-zh": ("zh_harmful.jsonl", read_zh_harmful),
    "tianping-en": ("en_written.jsonl", read_en_written),
    "tianping-overrefusal-zh": ("zh_overrefusal.jsonl", read_zh_overrefusal),
    "tianping-code": ("code_grid.yaml", read_code_grid),
}
