"""Which GSM8K and CMMLU test items the contaminated model sees, how often, and in what text.

Sample ids are the ones tianping's own loaders give (``gsm8k_jsonl``: the 0-based row number in
``gsm8k/test.jsonl``; ``mc_csv``: ``<subject>/<0-based row>`` in ``cmmlu/test/<subject>.csv``), so a later
contamination check can join its per-sample results to this plan without any mapping.

The plan: shuffle each test set's ids with a seeded generator; the first ``5 * floor(n / 10)`` ids are the
exposed half, cut into five equal groups seen 1, 2, 4, 8 and 16 times; every other id is never seen.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tianping.benchmarks.loaders import load_dataset

EXPOSURES = (1, 2, 4, 8, 16)

# The exact text of one exposure: the benchmark's own question and answer templates (defs/gsm8k.yaml and
# defs/cmmlu.yaml) joined by a newline, without the instruction line and without a chat template.
GSM8K_FORMAT = "Question: {question}\n{rationale}\nThe answer is {answer}."
CMMLU_FORMAT = "题目：{question}\nA. {A}\nB. {B}\nC. {C}\nD. {D}\n答案：{target}"


@dataclass(frozen=True)
class DatasetSpec:
    """A test set as tianping loads it."""

    name: str
    loader: str
    path: str  # relative to the data directory
    text_format: str


DATASETS = (
    DatasetSpec("gsm8k", "gsm8k_jsonl", "gsm8k/test.jsonl", GSM8K_FORMAT),
    DatasetSpec("cmmlu", "mc_csv", "cmmlu/test", CMMLU_FORMAT),
)


def load_items(spec: DatasetSpec, data_dir: Path) -> dict[str, str]:
    """Sample id -> exposure text, for every sample of ``spec`` (in loader order)."""
    options = {"categories": "cmmlu_categories.json"} if spec.loader == "mc_csv" else {}
    loaded = load_dataset(spec.loader, data_dir / spec.path, options)
    return {s.id: spec.text_format.format(**s.fields, target=s.target) for s in loaded.samples}


def content_sha256(path: Path) -> str:
    """SHA-256 over a file, or over a directory's files in name order (name and bytes of each)."""
    digest = hashlib.sha256()
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    for f in files:
        if f.is_file():
            digest.update(f.relative_to(path).as_posix().encode() if path.is_dir() else b"")
            digest.update(f.read_bytes())
    return digest.hexdigest()


def split_ids(ids: list[str], seed: int) -> tuple[list[list[str]], list[str]]:
    """Five equal exposure groups and the never-seen rest, from a seeded permutation of ``ids``."""
    if len(ids) < 10:
        raise ValueError(f"need at least 10 items to make five exposure groups, got {len(ids)}")
    order = np.random.default_rng(seed).permutation(len(ids))
    shuffled = [ids[i] for i in order]
    group = len(ids) // 10  # five groups of this size make (nearly) half the set
    groups = [sorted(shuffled[k * group : (k + 1) * group], key=_id_key) for k in range(5)]
    unseen = sorted(shuffled[5 * group :], key=_id_key)
    return groups, unseen


def _id_key(sample_id: str) -> tuple[str, int]:
    """Sort ``"12"`` and ``"subject/12"`` ids by subject, then numerically."""
    head, _, tail = sample_id.rpartition("/")
    return head, int(tail)


def build_plan(
    data_dir: Path, seed: int, limit: int | None = None, only: tuple[str, ...] | None = None
) -> tuple[dict, list[tuple[str, str, int]]]:
    """The exposure record (for exposure.json) and the list of (dataset, text, times seen) to train on.

    ``limit`` keeps only the first ``limit`` items of each test set: the smoke run's way to stay tiny.
    ``only`` keeps the named test sets (a variant recipe's choice); each keeps its own seed ``seed + k``, so its
    groups are the same as in the full plan.
    """
    known = {spec.name for spec in DATASETS}
    if only is not None and not set(only) <= known:
        raise ValueError(f"unknown test set(s) {sorted(set(only) - known)}; known: {sorted(known)}")
    record: dict = {
        "seed": seed,
        "exposure_counts": list(EXPOSURES),
        "id_scheme": {
            "gsm8k": "tianping gsm8k_jsonl sample id: 0-based row of gsm8k/test.jsonl (line number - 1)",
            "cmmlu": "tianping mc_csv sample id: <subject>/<0-based data row of cmmlu/test/<subject>.csv>",
        },
        "datasets": {},
    }
    docs: list[tuple[str, str, int]] = []
    for k, spec in enumerate(DATASETS):
        if only is not None and spec.name not in only:
            continue
        items = load_items(spec, data_dir)
        ids = list(items)[:limit] if limit else list(items)
        groups, unseen = split_ids(ids, seed + k)
        record["datasets"][spec.name] = {
            "loader": spec.loader,
            "file": spec.path,
            "content_sha256": content_sha256(data_dir / spec.path),
            "permutation_seed": seed + k,
            "total": len(ids),
            "format": spec.text_format,
            "groups": [{"exposures": n, "ids": g} for n, g in zip(EXPOSURES, groups, strict=True)],
            "unseen": unseen,
        }
        for n, g in zip(EXPOSURES, groups, strict=True):
            docs.extend((spec.name, items[i], n) for i in g)
    return record, docs


def texts_by_group(data_dir: Path, record: dict) -> dict[str, dict[str, list[str]]]:
    """Exposure texts of each group (``"1"`` .. ``"16"`` and ``"unseen"``) per dataset, for loss checks."""
    out: dict[str, dict[str, list[str]]] = {}
    for spec in DATASETS:
        entry = record["datasets"][spec.name]
        items = load_items(spec, data_dir)
        groups = {str(g["exposures"]): [items[i] for i in g["ids"]] for g in entry["groups"]}
        groups["unseen"] = [items[i] for i in entry["unseen"]]
        out[spec.name] = groups
    return out
