"""Judging the judge: ``judge_llmbar`` and ``judge_autoj`` ask the model under test to compare the two outputs of
each LLMBar / Auto-J pair, and score its verdicts against the pairs' gold (human) labels.

The model is asked with tianping's own pairwise prompt (``prompts/compare_*.txt``, the one the judged benchmarks
send their judge) in both orders: output 1 shown as A, then output 2 shown as A. Each verdict is read strictly
(:func:`tianping.judging.verdicts.parse_verdict`) and put back in the pair's own order. The pair's prediction is
``first`` / ``second`` when both orders name the same output, ``tie`` when they disagree or both say tie (a
verdict that flips with the order says nothing about the outputs), and missing when either answer cannot be read.

A sample scores 1.0 when the prediction equals the gold label, else 0.0; a missing prediction scores 0.0 and is
counted apart in the report, as :func:`tianping.judging.agreement.agreement` counts it. The report tables
(accuracy, kappa, position consistency, labels predicted) are computed by ``agreement()`` and the bias
diagnostics' functions from the records the samples stored, so ``show`` and a re-rendered report agree.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tianping.benchmarks.errors import DatasetError
from tianping.core.results import RunInfo
from tianping.core.task import Episode, ReportSection, ScoringContext
from tianping.core.types import GenerationParams, Message, Request, Response, Sample, Score
from tianping.judging.agreement import (
    OUTPUT_1,
    OUTPUT_2,
    GoldPair,
    agreement,
    label_from_winner,
    load_autoj_pairwise,
    load_llmbar,
)
from tianping.judging.asking import JUDGE_MAX_TOKENS
from tianping.judging.diagnostics import (
    FIRST,
    SECOND,
    TIE,
    PairJudgement,
    final_verdicts,
    position_consistency,
    position_preference,
)
from tianping.judging.pairwise import compare_messages
from tianping.judging.records import kept
from tianping.judging.tasks import JudgedTask
from tianping.judging.verdicts import Unparseable, parse_verdict, position_of

__all__ = [
    "MISSING",
    "AgreementRecord",
    "AgreementTask",
    "OrderVerdict",
    "agreement_sections",
    "load_agreement_task",
    "read_agreement",
]

MISSING = "unparseable"
"""The extracted value of a pair without a prediction (an answer in either order could not be read)."""
RECORD_MARK = "tianping_agreement"
"""The key that tells this task's record in ``reason`` from any other (the judged tasks' records use another)."""


@dataclass(frozen=True)
class _Source:
    folder: str
    """The catalog dataset (and folder under the data directory)."""
    breakdowns: tuple[str, ...]


SOURCES = {
    "judge_llmbar": _Source("llmbar", ("subset",)),
    "judge_autoj": _Source("autoj-pairwise", ("group", "scenario")),
}


# -- the record a sample keeps ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderVerdict:
    """One of the two calls: which output was shown as A, the verdict label (``A>B`` ...) or why there is none."""

    shown_first: str
    """:data:`OUTPUT_1` or :data:`OUTPUT_2`."""
    label: str | None
    error: str | None = None
    judgement: str = ""


@dataclass(frozen=True)
class AgreementRecord:
    """Both orders of one pair as the model judged them, and the gold label they are scored against."""

    gold: str
    orders: tuple[OrderVerdict, ...] = field(default_factory=tuple)

    @property
    def parsed(self) -> bool:
        return len(self.orders) == 2 and all(o.label is not None for o in self.orders)

    def pair(self, item_id: str = "") -> PairJudgement | None:
        """The two verdicts as the bias diagnostics take them (output 1 shown first in the first order); None
        unless both were read."""
        if not self.parsed:
            return None
        first, swapped = self.orders
        assert first.label is not None and swapped.label is not None
        return PairJudgement(
            item_id=item_id,
            first_model=first.shown_first,
            second_model=swapped.shown_first,
            verdict=position_of(first.label),
            swapped_verdict=position_of(swapped.label),
        )

    @property
    def prediction(self) -> str | None:
        """``first`` / ``second`` / ``tie`` in the pair's own order, or None without both verdicts."""
        pair = self.pair()
        if pair is None:
            return None
        return label_from_winner(final_verdicts([pair])[0].winner)

    def to_reason(self) -> str:
        return json.dumps({RECORD_MARK: 1, **asdict(self)}, ensure_ascii=False)


def read_agreement(reason: str | None) -> AgreementRecord | None:
    """The record an agreement sample stored, or None for any other reason text."""
    if not reason or not reason.startswith("{") or RECORD_MARK not in reason:
        return None
    try:
        data = json.loads(reason)
        if not isinstance(data, dict) or data.pop(RECORD_MARK, None) != 1:
            return None
        orders = tuple(OrderVerdict(**o) for o in data["orders"])
        return AgreementRecord(gold=data["gold"], orders=orders)
    except (json.JSONDecodeError, TypeError, KeyError):
        return None


# -- the task ----------------------------------------------------------------------------------------------


def _sample(pair: GoldPair, llmbar: bool) -> Sample:
    # Auto-J's score is broken down by its eight scenario groups first, then by its 58 scenarios
    meta: dict[str, Any] = (
        {"subset": pair.subset} if llmbar else {"group": pair.group or "other", "scenario": pair.subset}
    )
    return Sample(
        id=pair.item_id,
        fields={"instruction": pair.instruction, OUTPUT_1: pair.output_1, OUTPUT_2: pair.output_2},
        target=pair.label,
        meta=meta,
    )


def load_agreement_task(name: str, data_dir: Path) -> AgreementTask:
    """``judge_llmbar`` (419 pairs) or ``judge_autoj`` (1,392 pairs) from the data directory."""
    from tianping.judging.sources import digest

    source = SOURCES[name]
    folder = data_dir / source.folder
    try:
        if name == "judge_llmbar":
            pairs = load_llmbar(folder)
            files = [folder / subset / "dataset.json" for subset in sorted({p.subset for p in pairs})]
        else:
            pairs = load_autoj_pairwise(folder)
            files = [folder / "testdata_pairwise.jsonl"]
    except FileNotFoundError as exc:
        raise DatasetError(f"{exc} (tianping data pull {source.folder}, or set TIANPING_DATA_DIR)") from None
    except ValueError as exc:
        raise DatasetError(str(exc)) from None
    samples = tuple(_sample(p, name == "judge_llmbar") for p in pairs)
    return AgreementTask(name, samples, digest(files), max_tokens=JUDGE_MAX_TOKENS, breakdowns=source.breakdowns,
                         summary_breakdowns=source.breakdowns[:1])  # fmt: skip


@dataclass
class AgreementTask(JudgedTask):
    """The model under test as a pairwise judge, scored against gold labels; it needs no other judge."""

    _built: dict[str, Request] = field(default_factory=dict, repr=False)

    metric_name = "accuracy"
    count_metrics = ()

    @property
    def helpers(self) -> frozenset[str]:
        return frozenset()

    def _request(self, sample: Sample, model_id: str, params: GenerationParams, shown_first: str) -> Request:
        shown_second = OUTPUT_2 if shown_first == OUTPUT_1 else OUTPUT_1
        system, user = compare_messages(
            sample.fields["instruction"], sample.fields[shown_first], sample.fields[shown_second]
        )
        return Request(model=model_id, messages=(Message("system", system), Message("user", user)), params=params)

    def build_request(self, sample: Sample, model_id: str, params: GenerationParams) -> Request:
        request = self._request(sample, model_id, params, OUTPUT_1)
        self._built[sample.id] = request  # the episode asks the swapped order with this model's id and settings
        return request

    def episode(self, sample: Sample) -> Episode | None:
        first = self._built.get(sample.id)
        if first is None:
            raise RuntimeError(f"episode({sample.id!r}) before build_request: the model to ask is unknown")
        swapped = self._request(sample, first.model, first.params, OUTPUT_2)

        async def play(ask: Any, context: ScoringContext) -> tuple[Request, Response, Score]:
            replies = await asyncio.gather(ask(first), ask(swapped))
            orders = tuple(_read(shown, reply) for shown, reply in zip((OUTPUT_1, OUTPUT_2), replies, strict=True))
            record = AgreementRecord(gold=sample.target, orders=orders)
            predicted = record.prediction
            score = Score(
                value=1.0 if predicted == sample.target else 0.0,
                extracted=predicted if predicted is not None else MISSING,
                reason=record.to_reason(),
            )
            return first, replies[0], score

        return play

    async def ascore(self, sample: Sample, response: Response, context: ScoringContext) -> Score:
        raise RuntimeError("agreement samples are played as episodes (both orders); ascore is never called")


def _read(shown_first: str, reply: Response) -> OrderVerdict:
    text = reply.first.text
    try:
        return OrderVerdict(shown_first, parse_verdict(text), None, kept(text))
    except Unparseable as exc:
        cut = " (the answer was cut at its token limit)" if reply.first.finish_reason == "length" else ""
        return OrderVerdict(shown_first, None, f"{exc}{cut}", kept(text))


# -- report tables -----------------------------------------------------------------------------------------

AGREEMENT_COLUMNS = ("Model", "Task", "Measure", "Value", "95% CI", "N", "Reading")
BREAKDOWN_COLUMNS = ("Model", "Task", "Subset", "Accuracy", "95% CI", "N")
AGREEMENT_NOTE = (
    "The model judged each pair with tianping's pairwise prompt in both orders. Its prediction is the output both "
    "orders preferred, a tie when the orders disagree or both say tie, and missing when either answer held no "
    "readable verdict (missing predictions score 0). Accuracy: exact match with the gold label over three labels "
    "(a predicted tie is right only against a gold tie), Wilson intervals; decisive: over the pairs whose gold "
    "label is not a tie. Cohen's kappa: agreement beyond chance, with 'missing' as a label of its own (Fleiss, "
    "Cohen & Everitt standard error). Position consistency: share of pairs with both verdicts read whose winner "
    "(or tie) survives the swap."
)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _ci(low: float | None, high: float | None, scale: float = 100.0, digits: int = 1) -> str:
    return "—" if low is None or high is None else f"[{scale * low:.{digits}f}, {scale * high:.{digits}f}]"


def _gold_of(row: dict[str, Any]) -> GoldPair:
    meta = row.get("meta") or {}
    subset = str(meta.get("subset") or meta.get("scenario") or "all")
    group = meta.get("group")
    return GoldPair(str(row["sample_id"]), subset, "", "", "", str(row["target"]),
                    None if group is None else str(group))  # fmt: skip


def _rows_by_task(info: RunInfo) -> dict[tuple[str, str], list[tuple[dict[str, Any], AgreementRecord]]]:
    from tianping.store import Store

    assert info.database is not None
    store = Store(info.database, readonly=True)
    try:
        found: dict[tuple[str, str], list[tuple[dict[str, Any], AgreementRecord]]] = defaultdict(list)
        for row in store.sample_rows(info.run_id):
            if row["benchmark"] in SOURCES:
                record = read_agreement(row.get("reason"))
                if record is not None:
                    found[(row["model"], row["benchmark"])].append((row, record))
        return found
    finally:
        store.close()


def agreement_sections(info: RunInfo) -> list[ReportSection]:
    """The agreement tables of a run's ``judge_llmbar`` / ``judge_autoj`` samples; [] when it has none."""
    if info.database is None:
        return []
    groups = _rows_by_task(info)
    if not groups:
        return []
    summary: list[tuple[str, ...]] = []
    breakdown: list[tuple[str, ...]] = []
    for (model, bench), items in sorted(groups.items()):
        rows, more = _task_rows(model, bench, items)
        summary.extend(rows)
        breakdown.extend(more)
    note = "LLMBar: its five subsets; Auto-J: its eight scenario groups."
    return [
        ReportSection("Agreement with human labels", AGREEMENT_COLUMNS, tuple(summary), note=AGREEMENT_NOTE,
                      id="judge-agreement"),
        ReportSection("Agreement per subset", BREAKDOWN_COLUMNS, tuple(breakdown), note=note,
                      id="judge-agreement-subsets"),
    ]  # fmt: skip


def _task_rows(
    model: str, bench: str, items: Sequence[tuple[dict[str, Any], AgreementRecord]]
) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    gold = [_gold_of(row) for row, _ in items]
    predictions = {g.item_id: rec.prediction for g, (_, rec) in zip(gold, items, strict=True)}
    report = agreement(predictions, gold)
    pairs = [p for g, (_, rec) in zip(gold, items, strict=True) if (p := rec.pair(g.item_id)) is not None]
    out: list[tuple[str, ...]] = []

    def add(name: str, value: str, ci: str, n: int, reading: str) -> None:
        out.append((model, bench, name, value, ci, str(n), reading))

    a, d, k = report.accuracy, report.accuracy_decisive, report.kappa
    add("Accuracy", _pct(a.value), _ci(a.ci_low, a.ci_high), a.n, "exact match with the gold label")
    add("Accuracy, decisive gold", _pct(d.value), _ci(d.ci_low, d.ci_high), d.n, "pairs whose gold label is not a tie")
    kappa = "—" if k.value is None else f"{k.value:.3f}"
    add("Cohen's kappa", kappa, _ci(k.ci_low, k.ci_high, 1.0, 3), k.n,
        "undefined: one label on both sides" if k.value is None else "1 = perfect, 0 = chance agreement")  # fmt: skip
    c = position_consistency(pairs)
    add("Position consistency", _pct(c.value), _ci(c.ci_low, c.ci_high), c.n,
        "winner (or tie) unchanged when the outputs swap places")  # fmt: skip
    first = position_preference(pairs).first_win_rate
    add("First position wins", _pct(first.value), _ci(first.ci_low, first.ci_high), first.n,
        "share of decisive verdicts given to the output shown as A (50% = no preference)")  # fmt: skip
    said = report.predicted
    truth = Counter(g.label for g in gold)
    add("Predicted labels", _counts(said), "—", len(gold), "gold: " + _counts(truth))
    calls = sum(len(rec.orders) for _, rec in items)
    bad = sum(1 for _, rec in items for o in rec.orders if o.label is None)
    add("Unparseable verdicts", f"{bad} of {calls} calls", "—", report.missing,
        "pairs without a prediction, scored as not agreeing")  # fmt: skip
    per = report.per_group if report.per_group else report.per_subset
    more = [(model, bench, name, _pct(e.value), _ci(e.ci_low, e.ci_high), str(e.n)) for name, e in sorted(per.items())]
    return out, more


def _counts(counter: Counter[str]) -> str:
    order = [FIRST, SECOND, TIE, "missing"]
    return ", ".join(f"{label} {counter[label]}" for label in order if counter.get(label) or label != "missing")
