"""The safety risk taxonomy: a versioned three-level tree (dimension -> category -> leaf) with zh and en names.

The tree lives in ``data/taxonomy.yaml`` rather than in code so that a lab can review or extend it without
touching Python, and so that its ``version`` can be stored with every run. Every seed prompt is filed under a
leaf id such as ``redline.violence.weapons``; reports aggregate by any prefix of that id.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tianping.safety.seed_io import DataFileError, LineDict, load_yaml

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_TAXONOMY = DATA_DIR / "taxonomy.yaml"

LEVELS = ("dimension", "category", "leaf")
_CHILD_KEY = {"dimension": "categories", "category": "leaves"}
_SEGMENT = re.compile(r"^[a-z][a-z0-9_]*$")
_CJK = re.compile(r"[\u4e00-\u9fff]")


class UnknownCategoryError(KeyError):
    """An id or pattern names no node of the taxonomy; the message lists the nearest ids."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


@dataclass(frozen=True)
class TaxonomyNode:
    """One node of the tree. ``id`` is the full dotted id; ``level`` is dimension, category or leaf."""

    id: str
    zh: str
    en: str
    level: str

    def __str__(self) -> str:
        """Both names, as a report's breadcrumb shows them: ``武器与爆炸物 / Weapons and explosives``."""
        return f"{self.zh} / {self.en}"


@dataclass(frozen=True)
class Taxonomy:
    """A loaded, validated taxonomy. Build it with :func:`load_taxonomy`."""

    version: str
    nodes: dict[str, TaxonomyNode]
    source: str

    @property
    def leaves(self) -> list[TaxonomyNode]:
        """All leaves, in file order."""
        return [node for node in self.nodes.values() if node.level == "leaf"]

    @property
    def leaf_ids(self) -> list[str]:
        return [node.id for node in self.leaves]

    def is_leaf(self, node_id: str) -> bool:
        node = self.nodes.get(node_id)
        return node is not None and node.level == "leaf"

    def get(self, node_id: str) -> TaxonomyNode:
        """The node with this exact id (any level); an unknown id raises with the nearest ids."""
        try:
            return self.nodes[node_id]
        except KeyError:
            raise UnknownCategoryError(self._unknown_message(node_id)) from None

    def path(self, node_id: str) -> list[TaxonomyNode]:
        """The nodes from the dimension down to ``node_id``, so ``[n.zh for n in path]`` reads 红线内容 > ... ."""
        self.get(node_id)
        parts = node_id.split(".")
        return [self.nodes[".".join(parts[: i + 1])] for i in range(len(parts))]

    def select(self, patterns: str | Iterable[str]) -> list[str]:
        """Leaf ids under any of ``patterns`` (exact ids or dotted prefixes: ``redline``, ``redline.violence``).

        A pattern may end in ``.*`` (``redline.*``), meaning the same as the bare prefix; ``*`` selects all.
        Order follows the taxonomy file. A pattern matching nothing is an error, never an empty selection:
        a typo in a run spec must not silently evaluate zero prompts.
        """
        if isinstance(patterns, str):
            patterns = [patterns]
        chosen: set[str] = set()
        for raw in patterns:
            pattern = raw.strip()
            if pattern in ("*", ""):
                if pattern == "":
                    raise UnknownCategoryError("empty category pattern")
                chosen.update(self.leaf_ids)
                continue
            if pattern.endswith(".*"):
                pattern = pattern[:-2]
            node = self.get(pattern)
            if node.level == "leaf":
                chosen.add(node.id)
            else:
                chosen.update(leaf for leaf in self.leaf_ids if leaf.startswith(node.id + "."))
        return [leaf for leaf in self.leaf_ids if leaf in chosen]

    def _unknown_message(self, node_id: str) -> str:
        near = difflib.get_close_matches(node_id, list(self.nodes), n=5, cutoff=0.5)
        if not near:  # fall back to ids sharing the last segment, e.g. "weapons" -> redline.violence.weapons
            tail = node_id.rsplit(".", 1)[-1]
            near = [known for known in self.nodes if known.rsplit(".", 1)[-1] == tail][:5]
        hint = f"; did you mean: {', '.join(near)}" if near else f"; dimensions are: {', '.join(self._dimensions())}"
        return f"unknown taxonomy id {node_id!r} (taxonomy {self.version}, {self.source}){hint}"

    def _dimensions(self) -> list[str]:
        return [node.id for node in self.nodes.values() if node.level == "dimension"]


def _node_field(entry: LineDict, key: str, path: Path, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DataFileError(path, entry.line_of(key), f"{where}.{key}", f"expected a non-empty string, got {value!r}")
    return value.strip()


def _walk(
    entries: object, level: int, prefix: str, path: Path, where: str, line: int, nodes: dict[str, TaxonomyNode]
) -> None:
    kind = LEVELS[level]
    if not isinstance(entries, list) or not entries:
        raise DataFileError(path, line, where, f"expected a non-empty list of {kind} entries")
    for index, entry in enumerate(entries):
        here = f"{where}[{index}]"
        if not isinstance(entry, LineDict):
            raise DataFileError(path, line, here, f"expected a mapping with id, zh, en, got {entry!r}")
        allowed = {"id", "zh", "en"} | ({_CHILD_KEY[kind]} if kind in _CHILD_KEY else set())
        extra = sorted(set(entry) - allowed)
        if extra:
            raise DataFileError(path, entry.line_of(extra[0]), f"{here}.{extra[0]}", "unknown field")
        segment = _node_field(entry, "id", path, here)
        if not _SEGMENT.match(segment):
            raise DataFileError(
                path,
                entry.line_of("id"),
                f"{here}.id",
                f"{segment!r} must be lower-case letters, digits and _ (dots join levels)",
            )
        node_id = f"{prefix}.{segment}" if prefix else segment
        if node_id in nodes:
            raise DataFileError(path, entry.line_of("id"), f"{here}.id", f"duplicate id {node_id!r}")
        zh = _node_field(entry, "zh", path, here)
        if not _CJK.search(zh):
            raise DataFileError(path, entry.line_of("zh"), f"{here}.zh", f"{zh!r} has no Chinese characters")
        en = _node_field(entry, "en", path, here)
        nodes[node_id] = TaxonomyNode(id=node_id, zh=zh, en=en, level=kind)
        if kind in _CHILD_KEY:
            child_key = _CHILD_KEY[kind]
            _walk(
                entry.get(child_key), level + 1, node_id, path, f"{here}.{child_key}", entry.line_of(child_key), nodes
            )


def parse_taxonomy(path: Path) -> Taxonomy:
    """Load and validate a taxonomy file; any problem raises DataFileError naming file, line and field."""
    doc = load_yaml(path)
    if not isinstance(doc, LineDict):
        raise DataFileError(path, 1, "document", "expected a mapping with version and dimensions")
    version = doc.get("version")
    if not isinstance(version, str) or not version.strip():
        raise DataFileError(path, doc.line_of("version"), "version", f"expected a version string, got {version!r}")
    nodes: dict[str, TaxonomyNode] = {}
    _walk(doc.get("dimensions"), 0, "", path, "dimensions", doc.line_of("dimensions"), nodes)
    return Taxonomy(version=version.strip(), nodes=nodes, source=str(path))


@lru_cache(maxsize=8)
def _cached(path: Path, mtime_ns: int) -> Taxonomy:
    return parse_taxonomy(path)


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """The taxonomy at ``path`` (default: the one shipped with tianping), cached until the file changes."""
    resolved = (path or DEFAULT_TAXONOMY).resolve()
    try:
        mtime = resolved.stat().st_mtime_ns
    except OSError as exc:
        raise DataFileError(resolved, None, "file", f"cannot read: {exc}") from exc
    return _cached(resolved, mtime)
