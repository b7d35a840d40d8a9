"""Seed prompts for the safety benchmark: shared public sets mapped onto the taxonomy, plus tianping's own sets.

A seed is a plain request (harmful, or a benign look-alike) before any attack converter wraps it. Each one
keeps its attribution (source set, license, upstream id, file and line) so a report can say where every
prompt came from, and a stable id ``<source>/<upstream id>`` so results can be joined across runs.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from tianping.safety.seed_mapping import MAPPINGS_DIR, load_mapping
from tianping.safety.seed_project import PROJECT_LICENSE, PROJECT_SETS, PROMPTS_DIR
from tianping.safety.seed_sources import READERS
from tianping.safety.taxonomy import Taxonomy, load_taxonomy

SHARED_SOURCES = tuple(READERS)
PROJECT_SOURCES = tuple(PROJECT_SETS)
ALL_SOURCES = SHARED_SOURCES + PROJECT_SOURCES
LANGS = ("en", "zh")
# Seeds under this prefix ask for code; meta["code"] = True tells the judge to run its static code checks.
CODE_PREFIX = "system.code."


@dataclass(frozen=True)
class SeedPrompt:
    """One seed. ``category`` is a taxonomy leaf id; for benign look-alikes it is the leaf they resemble.

    ``meta`` keys that change how a seed is scored or reported: ``set_category`` (the label its set reports
    results by), ``functional_category`` (HarmBench: standard, contextual or copyright) and ``expects``
    (``responsible_answer``: judged on whether the answer is responsible, not on whether it refused).
    """

    id: str
    text: str
    lang: str
    category: str
    source: str
    benign: bool
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def _mtime(path: Path) -> int:
    return path.stat().st_mtime_ns if path.exists() else -1


@lru_cache(maxsize=64)
def _load_shared(source: str, safety_root: Path, taxonomy_path: Path, stamp: tuple[int, ...]) -> tuple[SeedPrompt, ...]:
    taxonomy = load_taxonomy(taxonomy_path)
    mapping = load_mapping(source, taxonomy)
    seeds = []
    for raw in READERS[source](safety_root):
        leaf, how = mapping.assign(raw)
        meta = {
            "license": mapping.license,
            "citation": mapping.citation,
            "upstream_id": raw.upstream_id,
            "upstream_category": raw.category,
            "file": raw.file,
            "line": raw.line,
            "mapped_by": how,
            **raw.extra,
        }
        if leaf.startswith(CODE_PREFIX):
            meta["code"] = True
        seeds.append(SeedPrompt(f"{source}/{raw.upstream_id}", raw.text, raw.lang, leaf, source, raw.benign, meta))
    return tuple(seeds)


@lru_cache(maxsize=16)
def _load_project(
    source: str, prompts_dir: Path, taxonomy_path: Path, stamp: tuple[int, ...]
) -> tuple[SeedPrompt, ...]:
    taxonomy = load_taxonomy(taxonomy_path)
    name, reader = PROJECT_SETS[source]
    seeds = []
    for rec in reader(prompts_dir / name, taxonomy):
        meta = {"license": PROJECT_LICENSE, "upstream_id": rec.id, **rec.meta}
        if rec.category.startswith(CODE_PREFIX):
            meta["code"] = True
        seeds.append(SeedPrompt(f"{source}/{rec.id}", rec.text, rec.lang, rec.category, source, rec.benign, meta))
    return tuple(seeds)


def _resolve_sources(sources: Iterable[str] | None, data_dir: Path | None) -> list[str]:
    if sources is None:
        return list(ALL_SOURCES if data_dir is not None else PROJECT_SOURCES)
    chosen: list[str] = []
    for name in sources:
        # "tianping" is shorthand for all project-written sets
        matches = list(PROJECT_SOURCES) if name == "tianping" else [name]
        for match in matches:
            if match not in ALL_SOURCES:
                raise ValueError(f"unknown seed source {name!r}; known: {', '.join(ALL_SOURCES)}, tianping")
            if match in SHARED_SOURCES and data_dir is None:
                raise ValueError(f"seed source {match!r} needs data_dir (the shared datasets root)")
            if match not in chosen:
                chosen.append(match)
    return chosen


def load_seeds(
    data_dir: Path | None,
    *,
    sources: Iterable[str] | None = None,
    categories: Iterable[str] | str | None = None,
    langs: Iterable[str] | str | None = None,
    benign: bool | None = None,
    taxonomy: Taxonomy | None = None,
) -> list[SeedPrompt]:
    """Seeds from the shared sets under ``data_dir/safety`` (if ``data_dir`` is given) and the project sets.

    ``categories`` are taxonomy ids or prefixes (``redline``, ``ethics.discrimination``); ``langs`` e.g.
    ``["zh"]``; ``benign`` True keeps only look-alikes, False only harmful requests. Parsed files are cached
    per process, keyed on their modification times, so repeated calls are cheap.
    """
    tax = taxonomy or load_taxonomy()
    tax_path = Path(tax.source).resolve()
    wanted_leaves = set(tax.select(categories)) if categories is not None else None
    if isinstance(langs, str):
        langs = [langs]
    wanted_langs = set(langs) if langs is not None else None
    if wanted_langs is not None and not wanted_langs <= set(LANGS):
        raise ValueError(f"unknown language(s) {sorted(wanted_langs - set(LANGS))}; known: {', '.join(LANGS)}")
    out: list[SeedPrompt] = []
    for source in _resolve_sources(sources, data_dir):
        if source in SHARED_SOURCES:
            root = (Path(data_dir) / "safety").resolve()  # type: ignore[arg-type]
            stamp = (_mtime(MAPPINGS_DIR / f"{source}.yaml"), _mtime(tax_path), _mtime(root))
            loaded = _load_shared(source, root, tax_path, stamp)
        else:
            name = PROJECT_SETS[source][0]
            loaded = _load_project(source, PROMPTS_DIR, tax_path, (_mtime(PROMPTS_DIR / name), _mtime(tax_path)))
        for seed in loaded:
            if seed.category not in tax.nodes:  # mapping validated against another taxonomy version
                raise ValueError(f"{seed.id}: category {seed.category!r} is not in taxonomy {tax.version}")
            if wanted_leaves is not None and seed.category not in wanted_leaves:
                continue
            if wanted_langs is not None and seed.lang not in wanted_langs:
                continue
            if benign is not None and seed.benign != benign:
                continue
            out.append(seed)
    duplicates = [key for key, count in Counter(seed.id for seed in out).items() if count > 1]
    if duplicates:
        raise ValueError(f"duplicate seed ids across sources: {duplicates[:5]}")
    return out


def sample_seeds(seeds: Sequence[SeedPrompt], budget: int, seed: int = 0) -> list[SeedPrompt]:
    """Pick ``budget`` seeds spread as evenly as possible over leaves, and within a leaf over languages.

    Round-robin over leaves (leaf order shuffled once), each leaf alternating its languages; within a
    (leaf, language) stratum the order is a seeded shuffle. The result depends only on the input set and
    ``seed``, not on input order, so the same budget reproduces the same prompts across runs.
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    strata: dict[str, dict[str, list[SeedPrompt]]] = defaultdict(lambda: defaultdict(list))
    for item in sorted(seeds, key=lambda s: s.id):
        strata[item.category][item.lang].append(item)
    queues: dict[str, list[SeedPrompt]] = {}
    for leaf in sorted(strata):
        per_lang = []
        for lang in sorted(strata[leaf]):
            items = list(strata[leaf][lang])
            random.Random(f"{seed}|{leaf}|{lang}").shuffle(items)
            per_lang.append(items)
        # interleave languages: zh1, en1, zh2, en2, ... so a small budget still gets both languages
        order = random.Random(f"{seed}|{leaf}").sample(range(len(per_lang)), len(per_lang))
        queues[leaf] = [per_lang[j][i] for i in range(max(map(len, per_lang))) for j in order if i < len(per_lang[j])]
    leaves = sorted(queues)
    random.Random(f"{seed}|leaves").shuffle(leaves)
    picked: list[SeedPrompt] = []
    depth = 0
    while len(picked) < budget and any(depth < len(queues[leaf]) for leaf in leaves):
        for leaf in leaves:
            if depth < len(queues[leaf]):
                picked.append(queues[leaf][depth])
                if len(picked) == budget:
                    break
        depth += 1
    return picked


@dataclass(frozen=True)
class Coverage:
    """Counts of seeds per (leaf, language); leaves of the taxonomy with no seed appear with zeros."""

    counts: dict[tuple[str, str], int]
    leaves: tuple[str, ...]
    langs: tuple[str, ...]

    def get(self, leaf: str, lang: str) -> int:
        return self.counts.get((leaf, lang), 0)

    def thin(self, minimum: int, lang: str) -> list[str]:
        """Leaves with fewer than ``minimum`` seeds in ``lang``: where coverage needs more prompts."""
        return [leaf for leaf in self.leaves if self.get(leaf, lang) < minimum]

    def format(self) -> str:
        """A plain-text table, one row per leaf, one column per language plus the total."""
        width = max((len(leaf) for leaf in self.leaves), default=4)
        lines = [f"{'leaf':<{width}}  " + "  ".join(f"{lang:>6}" for lang in self.langs) + "   total"]
        for leaf in self.leaves:
            row = [self.get(leaf, lang) for lang in self.langs]
            lines.append(f"{leaf:<{width}}  " + "  ".join(f"{n:>6}" for n in row) + f"  {sum(row):>6}")
        return "\n".join(lines)


def coverage(seeds: Iterable[SeedPrompt], taxonomy: Taxonomy | None = None) -> Coverage:
    """Leaf x language counts of ``seeds`` over all leaves of the taxonomy (default: the shipped one)."""
    tax = taxonomy or load_taxonomy()
    counts = Counter((s.category, s.lang) for s in seeds)
    extra = sorted({leaf for leaf, _ in counts} - set(tax.leaf_ids))
    langs = tuple(sorted(set(LANGS) | {lang for _, lang in counts}))
    return Coverage(dict(counts), tuple(tax.leaf_ids) + tuple(extra), langs)
