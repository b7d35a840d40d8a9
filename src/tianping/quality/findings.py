"""What the checks report: flagged items with a reason (``Finding``), facts about the whole dataset
(``DatasetFinding``), measures (``metrics``) and what could not be checked and why (``notes``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["KINDS", "CheckSkipped", "DatasetFinding", "Finding", "QualityReport"]

KINDS: dict[str, str] = {
    "duplicate": "the same item twice (case, spacing, character width, quote style and option order aside)",
    "near_duplicate": "items that differ by a few words or an option",
    "answer_leakage": "the gold answer is written in the question",
    "malformed": "duplicate or empty options, a gold that names no option, empty fields, broken text encoding",
    "suspicious_label": "the gold answer may be wrong: duplicates that disagree, or models agreeing on another answer",
    "language_mismatch": "not in a language the benchmark declares",
    "format_outlier": "laid out unlike the rest of the dataset",
    "off_domain": "far from the declared domain",
}
"""Every kind of flagged item, with what it means (the report's legend)."""


class CheckSkipped(Exception):
    """A check that cannot run here (an optional package missing, nothing to compare with); the message says why."""


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    items: tuple[str, ...]
    """The keys (``split:id``) of the items it concerns: one, or a group (duplicates)."""
    reason: str
    """In a sentence, what is wrong; names the evidence."""
    check: str
    """The check that found it (``exact_duplicates``, ``store_consensus`` ...)."""
    score: float | None = None
    """How strong the evidence is, where the check has a measure (a similarity, an agreement share)."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "items": list(self.items), "reason": self.reason, "check": self.check,
                "score": self.score}  # fmt: skip


@dataclass(frozen=True, slots=True)
class DatasetFinding:
    """A fact about the dataset as a whole (the gold letters lean to one option), with its evidence."""

    name: str
    flagged: bool
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "flagged": self.flagged, "summary": self.summary, "evidence": self.evidence}


@dataclass
class QualityReport:
    benchmark: str
    source: str
    data_dir: str
    splits: dict[str, dict[str, Any]]
    """Split -> {path, items}."""
    findings: list[Finding] = field(default_factory=list)
    dataset_findings: list[DatasetFinding] = field(default_factory=list)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Split -> measure -> value (the ADAQ dimensions)."""
    notes: list[str] = field(default_factory=list)
    """Checks skipped or bounded, and why."""
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Key -> the item as shown (``Item.to_dict``), for every item a finding names."""
    settings: dict[str, Any] = field(default_factory=dict)
    listings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Items worth a look that are not defects (least dense, least relevant to the domain), by listing."""

    def flagged(self, kind: str) -> set[str]:
        """The keys of every item some finding of ``kind`` names."""
        return {key for f in self.findings if f.kind == kind for key in f.items}

    def counts(self) -> dict[str, int]:
        """Kind -> flagged items (an item flagged twice for one kind counts once)."""
        return {kind: len(self.flagged(kind)) for kind in KINDS}

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "source": self.source,
            "data_dir": self.data_dir,
            "splits": self.splits,
            "counts": self.counts(),
            "findings": [f.to_dict() for f in self.findings],
            "dataset_findings": [f.to_dict() for f in self.dataset_findings],
            "metrics": self.metrics,
            "notes": self.notes,
            "settings": self.settings,
            "listings": self.listings,
            "items": self.items,
        }
