"""Run every check over a benchmark's data and gather one ``QualityReport``.

Each check is a function from items (and options) to findings; one that cannot run here (an optional package
missing, nothing declared to compare with) raises ``CheckSkipped``, and its reason becomes a note of the report,
so a report always says what it did not look at.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tianping.quality import adaq
from tianping.quality.duplicates import exact_duplicates, near_duplicates
from tianping.quality.findings import CheckSkipped, DatasetFinding, Finding, QualityReport
from tianping.quality.items import Item
from tianping.quality.labels import answers_from_store, reference_model_votes, store_consensus
from tianping.quality.language import language_mismatch
from tianping.quality.leakage import answer_leakage
from tianping.quality.malformed import letter_balance, longest_option_bias, malformed_items
from tianping.quality.source import CheckedData, same_data_names

__all__ = ["CheckOptions", "add_reference_votes", "check_data"]


@dataclass(frozen=True)
class CheckOptions:
    domain: tuple[str, ...] = ()
    """Words naming the domain the benchmark should cover (domain relevance); none: not measured."""
    store: Any = None
    """An open result store to read other models' answers from (store consensus); None: not used."""
    near_threshold: float = 0.7
    embeddings: bool = True
    """Load the packaged sentence-embedding model, where installed, for the embedding measures."""
    embed_limit: int = 1000
    min_models: int = 3
    agreement: float = 0.6
    seed: int = 0


def _run(report: QualityReport, name: str, check: Callable[[], Any]) -> Any:
    try:
        return check()
    except CheckSkipped as exc:
        report.notes.append(f"{name}: skipped: {exc}")
        return None


def check_data(data: CheckedData, options: CheckOptions | None = None) -> QualityReport:
    options = options or CheckOptions()
    items = list(data.items)
    test = data.split("test")
    report = QualityReport(
        benchmark=data.name,
        source=data.source,
        data_dir=str(data.data_dir),
        splits={s: {"path": p, "items": len(data.split(s))} for s, p in data.paths.items()},
        settings={"near_threshold": options.near_threshold, "min_models": options.min_models,
                  "agreement": options.agreement, "domain": list(options.domain), "seed": options.seed},
    )  # fmt: skip
    findings: list[Finding] = []
    findings += exact_duplicates(items)
    near = _run(report, "near duplicates", lambda: near_duplicates(items, threshold=options.near_threshold))
    if near is not None:
        found, templated = near
        findings += found
        for group, (hit, size) in sorted(templated.items()):
            report.dataset_findings.append(
                DatasetFinding(
                    "templated_subject",
                    True,
                    f"{group}: {hit} of {size} items are near copies of another (generated from templates); "
                    "its near duplicates are not listed one by one",
                    {"subject": group, "items_in_groups": hit, "items": size},
                )
            )
    findings += answer_leakage(items)
    findings += malformed_items(items)
    findings += _run(report, "language", lambda: language_mismatch(items, data.definition.about.languages)) or []
    for dataset_check in (letter_balance, longest_option_bias):
        verdict = dataset_check(items)
        if verdict is not None:
            report.dataset_findings.append(verdict)
    if options.store is not None:
        answers = answers_from_store(options.store, same_data_names(data.definition))
        found, counts = store_consensus(items, answers, min_models=options.min_models, agreement=options.agreement)
        findings += found
        report.metrics.setdefault("labels", {}).update(counts)
        if not counts["store_items_with_votes"]:
            report.notes.append(
                f"store consensus: no item has answers from {options.min_models} or more models in the result store"
            )
    else:
        report.notes.append(
            "store consensus: skipped: no result store to read (where tianping run keeps runs: --results-dir)"
        )
    metrics = report.metrics.setdefault("test", {})
    metrics.update(adaq.information_density(test))
    metrics.update(adaq.diversity(test, options.seed))
    shape, outliers = adaq.format_consistency(test)
    metrics.update(shape)
    findings += outliers
    report.listings["least_dense"] = adaq.least_dense(test)
    embedder = _run(report, "embeddings", _embedder) if options.embeddings else None
    if not options.embeddings:
        report.notes.append("embeddings: not asked for (--no-embeddings)")
    embedded = None
    if embedder is not None:
        chosen = adaq.sample_items(test, options.embed_limit, options.seed)
        embedded = (chosen, embedder.embed([i.own_text() for i in chosen]))
        metrics.update(adaq.embedding_spread(embedded[1]))
        metrics["embedding_model"] = embedder.name
        if len(chosen) < len(test):
            report.notes.append(f"embeddings: measured on a seeded sample of {len(chosen)} of {len(test)} items")
    if options.domain:
        domain, off, least = adaq.domain_relevance(test, options.domain, embedder, embedded)
        metrics.update(domain)
        findings += off
        if least:
            report.listings["least_relevant"] = least
        if embedder is None:
            report.notes.append("domain relevance: keywords only (no embedding model), so no item is off_domain")
    report.findings = findings
    _attach_items(report, items)
    return report


def _embedder() -> Any:
    from tianping.quality.embeddings import load_embedder

    return load_embedder()


def _attach_items(report: QualityReport, items: Sequence[Item]) -> None:
    by_key = {i.key: i for i in items}
    wanted = {k for f in report.findings for k in f.items}
    wanted |= {row["item"] for rows in report.listings.values() for row in rows}
    report.items = {k: {**by_key[k].to_dict(), "group": by_key[k].group} for k in sorted(wanted) if k in by_key}


async def add_reference_votes(
    report: QualityReport,
    benchmark: Any,
    items: Sequence[Item],
    backends: Sequence[Any],
    *,
    limit: int = 500,
    confidence: float = 0.9,
    min_accuracy: float = 0.6,
    seed: int = 0,
) -> None:
    """Ask reference models (see ``labels.reference_model_votes``) and add what they say to the report."""
    found, metrics, notes = await reference_model_votes(
        benchmark, items, backends, limit=limit, confidence=confidence, min_accuracy=min_accuracy, seed=seed
    )
    report.findings.extend(found)
    if metrics:
        report.metrics.setdefault("reference_models", {}).update(metrics)
    report.notes.extend(notes)
    _attach_items(report, items)
