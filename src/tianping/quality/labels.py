"""Suspicious labels from models: items whose gold the models that answered them agree against.

*Store consensus*: every model's latest answer to the item in the result store (any run of this benchmark or of
a variant that reads the same data). An item is flagged when at least ``min_models`` models answered it and at
least ``agreement`` of them gave one and the same answer that is not the gold. Models err alone far more often
than together, so a shared wrong answer points at the gold (or at a question that misleads on purpose, as
TruthfulQA's do).

*Reference models* (``--with-models``, multiple choice whose log-likelihood section scores option letters, as
MMLU's, CMMLU's and C-Eval's do): each model scores every option letter of up to ``limit`` sampled items (a
benchmark that scores the options' own texts, as ARC's does, is skipped: the log-likelihoods of texts of
different lengths are no probability over the options; ARC's raw softmax put 641 of 1,172 items at 0.9 or more
for a model at chance); its probabilities over the options are calibrated against its average
preference for each position (a small model that always likes "A" is not confident about A), and an item is
flagged when the calibrated probability of an option other than the gold is at least ``confidence``. A model whose
accuracy on the sample is under ``min_accuracy`` shows it does not know the material, and its disagreements are
not counted (the report gives its accuracy and says so): the bundled tp-ref models answer at chance.

Duplicates whose golds disagree are the third source (``duplicates``).
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from tianping.quality.findings import Finding
from tianping.quality.items import Item, normalize

__all__ = ["answers_from_store", "reference_model_votes", "store_consensus"]


def answers_from_store(store: Any, benchmarks: Iterable[str]) -> dict[str, dict[str, str]]:
    """Sample id -> model -> that model's latest extracted answer, over every run of the named benchmarks."""
    names = set(benchmarks)
    latest: dict[str, dict[str, str]] = defaultdict(dict)
    for run in store.list_runs():  # newest first: the first answer met is the latest
        in_run = set(run.get("benchmark_versions") or {}) | set((run.get("spec") or {}).get("benchmarks") or [])
        if not names & in_run:
            continue
        for row in store.sample_rows(run["run_id"]):
            if row["benchmark"] not in names or row["status"] != "scored" or row["extracted"] is None:
                continue
            latest[str(row["sample_id"])].setdefault(row["model"], str(row["extracted"]))
    return latest


def _gold_values(item: Item) -> set[str]:
    if item.is_mc and item.gold and item.letters:
        return {item.letters[i] for i in item.gold if i < len(item.letters)}
    return {_plain(a) for a in (item.target, *item.answers) if a.strip()}


def _plain(answer: str) -> str:
    text = normalize(answer).strip(" .。")
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return text
    return repr(int(value)) if value.is_integer() else repr(value)


def _answer(item: Item, extracted: str) -> str:
    if item.is_mc:
        return ",".join(sorted(p.strip().upper() for p in extracted.split(",") if p.strip()))
    return _plain(extracted)


def store_consensus(
    items: Sequence[Item], answers: dict[str, dict[str, str]], *, min_models: int = 3, agreement: float = 0.6
) -> tuple[list[Finding], dict[str, Any]]:
    findings = []
    voted = 0
    models: set[str] = set()
    for item in items:
        if item.split != "test" or item.gold == ():
            continue
        votes = answers.get(item.id)
        if not votes or len(votes) < min_models:
            continue
        voted += 1
        models.update(votes)
        tally = Counter(_answer(item, v) for v in votes.values())
        top, count = tally.most_common(1)[0]
        share = count / len(votes)
        gold = _gold_values(item)
        if share < agreement or not top or top in gold:
            continue
        who = sorted(m for m, v in votes.items() if _answer(item, v) == top)
        reason = (
            f"{count} of {len(votes)} models answer {top!r}, not the gold {item.target!r} "
            f"({', '.join(who[:5])}{' ...' if len(who) > 5 else ''})"
        )
        findings.append(Finding("suspicious_label", (item.key,), reason, "store_consensus", round(share, 4)))
    return findings, {"store_items_with_votes": voted, "store_models": len(models)}


def _softmax(logprobs: Sequence[float]) -> list[float]:
    top = max(logprobs)
    exps = [math.exp(v - top) for v in logprobs]
    total = sum(exps)
    return [e / total for e in exps]


async def _score_all(backend: Any, requests: Sequence[Any]) -> list[Any]:
    return list(await asyncio.gather(*(backend.generate(r) for r in requests)))


async def reference_model_votes(
    benchmark: Any,
    items: Sequence[Item],
    backends: Sequence[Any],
    *,
    limit: int = 500,
    confidence: float = 0.9,
    min_accuracy: float = 0.6,
    seed: int = 0,
) -> tuple[list[Finding], dict[str, Any], list[str]]:
    """``benchmark``: the loaded benchmark in log-likelihood mode (its samples carry the items' ids)."""
    from tianping.quality.adaq import sample_items

    if benchmark.definition.loglikelihood.choices is None:
        note = (
            f"reference models: skipped: {benchmark.name} scores its options' own texts by log-likelihood, which "
            "gives no probability over the options (only benchmarks scored by option letters are asked)"
        )
        return [], {}, [note]
    by_id = {s.id: s for s in benchmark.samples}
    task = benchmark.loglikelihood
    chosen = [i for i in sample_items([i for i in items if i.split == "test" and i.gold], limit, seed) if i.id in by_id]
    findings: list[Finding] = []
    metrics: dict[str, Any] = {}
    notes: list[str] = []
    for backend in backends:
        samples = [by_id[i.id] for i in chosen]
        requests = [benchmark.build_request(s, backend.model_id, benchmark.generation) for s in samples]
        responses = await _score_all(backend, requests)
        probs, golds = [], []
        for sample, response in zip(samples, responses, strict=True):
            lls = response.loglikelihoods or ()
            probs.append(_softmax([x.logprob for x in lls]) if lls else [])
            golds.append(set(task.golds(sample, task.choices(sample))))
        widths = {len(p) for p in probs if p}
        if len(widths) == 1:  # one option count: calibrate by each position's mean probability
            (width,) = widths
            mean = [sum(p[k] for p in probs if p) / sum(1 for p in probs if p) for k in range(width)]
            probs = [_normalized([p[k] / mean[k] for k in range(width)]) if p else p for p in probs]
        right = sum(1 for p, g in zip(probs, golds, strict=True) if p and max(range(len(p)), key=p.__getitem__) in g)
        accuracy = right / len(chosen) if chosen else 0.0
        metrics[backend.model_id] = {"items": len(chosen), "accuracy": round(accuracy, 4)}
        if accuracy < min_accuracy:
            notes.append(
                f"reference model {backend.model_id}: accuracy {accuracy:.1%} on {len(chosen)} items is under "
                f"{min_accuracy:.0%}; it does not know this material, so its disagreements with the gold are not "
                "counted"
            )
            continue
        for item, p, gold in zip(chosen, probs, golds, strict=True):
            if not p:
                continue
            pick = max(range(len(p)), key=p.__getitem__)
            if pick not in gold and p[pick] >= confidence:
                letter = item.letters[pick] if item.letters and pick < len(item.letters) else str(pick)
                reason = (
                    f"{backend.model_id} picks {letter} with calibrated probability {p[pick]:.2f} (gold {item.target})"
                )
                findings.append(Finding("suspicious_label", (item.key,), reason, "reference_model", round(p[pick], 4)))
    return findings, metrics, notes


def _normalized(values: Sequence[float]) -> list[float]:
    total = sum(values)
    return [v / total for v in values] if total > 0 else list(values)
