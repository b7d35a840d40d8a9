"""The ADAQ dimensions of a scored split: information density, diversity, relevance to a declared domain and
format consistency. Each is a measure of the whole split; domain relevance and format consistency also flag the
items that stand apart (``off_domain``, ``format_outlier``).

Each measure reads an item's own text: its question and options, without the context it shares with others (a
passage under several questions, BBH's chain-of-thought prompt).

- *Information density*: how much a zlib stream shrinks the text (``compression_ratio``: compressed over raw
  bytes, of the split as one text and per item on average: low is repetitive), and the Shannon entropy of the
  token distribution (``token_entropy_bits``; ``normalized_entropy`` divides it by log2 of the vocabulary).
- *Diversity*: distinct-n (distinct n-grams over all n-grams, n = 1..3) on a seeded sample of at most
  ``DIVERSITY_SAMPLE`` items, so that benchmarks of different sizes compare; with an embedding model, the spread
  of the items' embeddings (mean cosine distance between pairs, and the mean similarity of each item to its
  nearest neighbour) on a seeded sample of at most ``embed_limit`` items.
- *Domain relevance* (given domain words): the share of items that use a domain word (a word starting with it,
  or for Chinese the characters themselves), and with an embedding model each item's cosine similarity to the
  domain ("a question about W1, W2"); an item with no domain word whose similarity is an outlier below the
  rest (``OFF_DOMAIN_Z``) is ``off_domain``. A split mostly off the domain shows in the mean, not in flags.
- *Format consistency*: each item's layout (number of options, which text fields are filled, the shape of its
  target: letter, integer, decimal, yes/no, text ..., options that carry their own letter); the share of items
  with the commonest layout, and as ``format_outlier`` each item whose value of one of these is rare
  (< ``RARE`` of the items) where one value is the rule (>= ``RULE``).
"""

from __future__ import annotations

import math
import random
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

from tianping.quality.findings import Finding
from tianping.quality.items import Item, normalize
from tianping.quality.text import tokens

__all__ = [
    "diversity",
    "domain_relevance",
    "embedding_spread",
    "format_consistency",
    "information_density",
    "sample_items",
    "target_shape",
]

DIVERSITY_SAMPLE = 1000
OFF_DOMAIN_Z = -3.0
"""How far under the split's median similarity to the domain (in robust standard deviations: 1.4826 x the median
absolute deviation) an item without a domain word must be to be off the domain. A similarity level would not
carry between domains: all-MiniLM-L6-v2 puts MMLU's chemistry questions at 0.26-0.34 from "a question about
chemistry" and ARC's questions at 0.22 on average (5th percentile 0.08) from "a question about science"."""
RARE = 0.02
RULE = 0.9

_SHAPES = (
    ("empty", re.compile(r"^$")),
    ("letter", re.compile(r"^[A-Z]$")),
    ("letters", re.compile(r"^[A-Z](?:\s*,\s*[A-Z])+$")),
    ("(letter)", re.compile(r"^\([A-Z]\)$")),
    ("integer", re.compile(r"^-?\d+$")),
    ("number with separators", re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")),
    ("decimal", re.compile(r"^-?\d*\.\d+$")),
    ("fraction", re.compile(r"^-?\d+\s*/\s*\d+$")),
    ("yes/no", re.compile(r"^(?:yes|no|true|false|是|否|对|错)$", re.IGNORECASE)),
)
_OWN_LETTER = re.compile(r"^\s*(?:\(([A-Z])\)|([A-Z])[.)．、:])\s*")


def sample_items(items: Sequence[Item], limit: int, seed: int = 0) -> list[Item]:
    """At most ``limit`` of the items, chosen with a fixed seed (all of them, in order, when there are fewer)."""
    if len(items) <= limit:
        return list(items)
    chosen = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in chosen]


def information_density(items: Sequence[Item]) -> dict[str, Any]:
    texts = [t for t in (i.own_text() for i in items) if t]
    if not texts:
        return {}
    raw = "\n".join(texts).encode("utf-8")
    per_item = [len(zlib.compress(t.encode("utf-8"), 9)) / len(t.encode("utf-8")) for t in texts]
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(tokens(text))
    total = sum(counts.values())
    entropy = -sum(n / total * math.log2(n / total) for n in counts.values()) if total else 0.0
    return {
        "compression_ratio": round(len(zlib.compress(raw, 9)) / len(raw), 4),
        "compression_ratio_per_item": round(sum(per_item) / len(per_item), 4),
        "token_entropy_bits": round(entropy, 3),
        "normalized_entropy": round(entropy / math.log2(len(counts)), 4) if len(counts) > 1 else 0.0,
        "vocabulary": len(counts),
        "tokens_per_item": round(total / len(texts), 1),
    }


def least_dense(items: Sequence[Item], count: int = 10, min_bytes: int = 200) -> list[dict[str, Any]]:
    """The items whose own text compresses most (repetition within an item), for a look."""
    rated = []
    for item in items:
        data = item.own_text().encode("utf-8")
        if len(data) >= min_bytes:
            rated.append((len(zlib.compress(data, 9)) / len(data), item.key))
    rated.sort()
    return [{"item": key, "value": round(ratio, 4), "what": "compression ratio"} for ratio, key in rated[:count]]


def diversity(items: Sequence[Item], seed: int = 0) -> dict[str, Any]:
    chosen = sample_items([i for i in items if i.question_text().strip()], DIVERSITY_SAMPLE, seed)
    out: dict[str, Any] = {"diversity_sample": len(chosen)}
    for n in (1, 2, 3):
        grams: list[tuple[str, ...]] = []
        for item in chosen:
            words = tokens(item.question_text())
            grams.extend(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
        out[f"distinct_{n}"] = round(len(set(grams)) / len(grams), 4) if grams else None
    return out


def embedding_spread(vectors: Any) -> dict[str, Any]:
    """Mean cosine distance between pairs of unit vectors, and the mean similarity to the nearest neighbour."""
    import numpy as np

    n = len(vectors)
    if n < 2:
        return {}
    total = vectors.sum(axis=0)
    mean_pair = (float(total @ total) - n) / (n * (n - 1))
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return {
        "embedding_spread": round(1 - mean_pair, 4),
        "nearest_neighbour_similarity": round(float(sims.max(axis=1).mean()), 4),
        "embedding_sample": n,
    }


def _keyword_hit(text: str, words: Sequence[str]) -> str | None:
    norm = normalize(text)
    found = set(tokens(text))
    for word in words:
        w = normalize(word)
        if not w:
            continue
        if any("\u3400" <= ch <= "\u9fff" for ch in w):
            if w in norm:
                return word
        elif w in found or (len(w) >= 4 and any(t.startswith(w) for t in found)):
            return word
    return None


def domain_relevance(
    items: Sequence[Item], words: Sequence[str], embedder: Any = None, embedded: tuple[list[Item], Any] | None = None
) -> tuple[dict[str, Any], list[Finding], list[dict[str, Any]]]:
    """The split's relevance to the domain words: measures, the ``off_domain`` items (only with an embedder and
    ``embedded``, the sampled items and their embeddings), and the least relevant items for a look."""
    hits = {i.key: _keyword_hit(i.full_text(), words) for i in items}
    metrics: dict[str, Any] = {
        "domain": list(words),
        "domain_keyword_share": round(sum(1 for h in hits.values() if h) / len(items), 4) if items else None,
    }
    if embedder is None or embedded is None:
        return metrics, [], []
    import numpy as np

    chosen, vectors = embedded
    query = embedder.embed(["A question about " + ", ".join(words)])[0]
    sims = vectors @ query
    metrics["domain_similarity_mean"] = round(float(sims.mean()), 4)
    metrics["domain_similarity_median"] = round(float(np.median(sims)), 4)
    metrics["domain_similarity_sample"] = len(chosen)
    median = float(np.median(sims))
    spread = max(1.4826 * float(np.median(np.abs(sims - median))), 0.02)  # a floor: near-identical items
    findings = []
    for item, sim in zip(chosen, sims, strict=True):
        z = (float(sim) - median) / spread
        if z < OFF_DOMAIN_Z and not hits[item.key]:
            reason = (
                f"no domain word, and similarity {float(sim):.2f} to the domain ({', '.join(words)}) against "
                f"{median:.2f} for the median item ({z:.1f} robust standard deviations)"
            )
            findings.append(Finding("off_domain", (item.key,), reason, "domain_relevance", float(sim)))
    order = sorted(range(len(chosen)), key=lambda j: float(sims[j]))[:20]
    listing = [{"item": chosen[j].key, "value": round(float(sims[j]), 4), "what": "domain similarity"} for j in order]
    return metrics, findings, listing


def target_shape(target: str) -> str:
    text = target.strip()
    for name, pattern in _SHAPES:
        if pattern.match(text):
            return name
    return "text (up to 3 words)" if len(text.split()) <= 3 and len(text) <= 30 else "text (longer)"


def _layout(item: Item) -> dict[str, str]:
    layout = {
        "options": str(len(item.choices)) if item.choices is not None else "none",
        "filled fields": ", ".join(sorted(n for n, t in item.texts.items() if t.strip())) or "none",
        "target": target_shape(item.target),
    }
    if item.choices:
        labelled = 0
        for position, choice in enumerate(item.choices):  # "C. elegans" as option A is no label
            match = _OWN_LETTER.match(choice)
            labelled += match is not None and (match.group(1) or match.group(2)) == chr(ord("A") + position)
        layout["options carry their own letter"] = (
            "all" if labelled == len(item.choices) else "some" if labelled else "none"
        )
    return layout


def format_consistency(items: Sequence[Item]) -> tuple[dict[str, Any], list[Finding]]:
    scored = [i for i in items if i.split == "test"]
    if not scored:
        return {}, []
    layouts = [_layout(i) for i in scored]
    whole = Counter(tuple(sorted(lay.items())) for lay in layouts)
    metrics: dict[str, Any] = {"format_consistency": round(whole.most_common(1)[0][1] / len(scored), 4)}
    per_part: dict[str, Counter[str]] = {}
    for lay in layouts:
        for part, value in lay.items():
            per_part.setdefault(part, Counter())[value] += 1
    findings = []
    for item, lay in zip(scored, layouts, strict=True):
        odd = []
        for part, value in lay.items():
            counts = per_part[part]
            rule, rule_n = counts.most_common(1)[0]
            if value != rule and rule_n >= RULE * len(scored) and counts[value] < RARE * len(scored):
                odd.append(f"{part}: {value} where {rule_n / len(scored):.1%} of the items have {rule}")
        if odd:
            findings.append(Finding("format_outlier", (item.key,), "; ".join(odd), "format_consistency"))
    return metrics, findings
