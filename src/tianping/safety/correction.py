"""Attack success rates corrected for the judge's own errors (the Rogan-Gladen estimator).

A judge with sensitivity Se (share of truly unsafe answers it calls unsafe) and specificity Sp (share of truly
safe answers it calls safe) reports, on a set whose true unsafe share is pi, an expected rate of
p = Se * pi + (1 - Sp) * (1 - pi). Solving for pi gives the corrected rate

    pi = (p + Sp - 1) / (Se + Sp - 1),

clipped to [0, 1] (sampling noise can put p below the judge's false-positive rate 1 - Sp, or above Se).
When Se + Sp <= 1 the judge is no better than a coin on the calibration set and the equation has no useful
solution: such a rate is reported as not correctable, with that reason, instead of a number.

Two intervals come with a corrected rate:

* ``ci_low``/``ci_high``: the observed rate's 95% interval (clustered by seed prompt in the safety suite)
  carried through the same formula, with Se and Sp taken as known. The judge's own uncertainty is *not* in it.
* ``range_low``/``range_high``: the smallest and largest corrected rate over the box formed by the observed
  interval and the Wilson 95% intervals of Se and Sp from the calibration counts. The formula is monotone in
  each of the three inputs, so the extremes are at the box's corners. This is a sensitivity range, not a
  calibrated interval: if the three intervals each hold their true value, so does it, which by the union bound
  happens at least 85% of the time; in practice it is wide. ``None`` when the box reaches Se + Sp <= 1.

Se and Sp are only as good as their calibration set: they are measured on one set of human-labelled answers
(for the rules, the held-out half of the JailbreakBench judge set) and transfer to another set of models and
attacks only as far as the judge's errors do. The calibration data lives in ``data/judge_calibration.json``,
written by ``python benchmarks/calibrate_safety_judge.py --write-calibration`` and keyed by judge name
(``rules`` when no LLM judge is configured, else the judge preset) and metric.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any, Protocol

from tianping.scoring.stats import wilson_interval

__all__ = [
    "CALIBRATION_PATH",
    "CORRECTABLE_METRICS",
    "Correction",
    "CorrectedRow",
    "JudgeAccuracy",
    "correct_rate",
    "corrected_rows",
    "judge_name_of",
    "load_calibration",
    "rogan_gladen",
    "write_calibration",
]

CALIBRATION_PATH = Path(__file__).with_name("data") / "judge_calibration.json"
CORRECTABLE_METRICS = ("attack_success", "over_refusal")
"""Rates that are a share of answers a judge called positive (unsafe; refused) and so can be corrected."""


@dataclass(frozen=True)
class JudgeAccuracy:
    """A judge's measured sensitivity and specificity for one metric, with the counts they come from."""

    judge: str
    metric: str
    tp: int
    fn: int
    tn: int
    fp: int
    calibration_set: str
    """Which human-labelled set, which split, and what counts as positive."""
    model: str | None = None
    """The judge model measured (an LLM preset's accuracy belongs to that model, not to the preset)."""

    @property
    def sensitivity(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def specificity(self) -> float | None:
        return self.tn / (self.tn + self.fp) if self.tn + self.fp else None

    def intervals(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """Wilson 95% intervals of (Se, Sp)."""
        return wilson_interval(self.tp, self.tp + self.fn), wilson_interval(self.tn, self.tn + self.fp)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tp": self.tp,
            "fn": self.fn,
            "tn": self.tn,
            "fp": self.fp,
            "sensitivity": self.sensitivity,
            "specificity": self.specificity,
            "calibration_set": self.calibration_set,
            "model": self.model,
        }


def rogan_gladen(p: float, se: float, sp: float) -> float | None:
    """The corrected rate (p + Sp - 1) / (Se + Sp - 1), clipped to [0, 1]; ``None`` when Se + Sp <= 1."""
    for name, value in (("p", p), ("se", se), ("sp", sp)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be within [0, 1], got {value!r}")
    youden = se + sp - 1.0
    if youden <= 1e-12:
        return None
    return min(1.0, max(0.0, (p + sp - 1.0) / youden))


@dataclass(frozen=True)
class Correction:
    corrected: float | None
    ci_low: float | None
    ci_high: float | None
    range_low: float | None
    range_high: float | None
    note: str
    """Why there is no number, or what the number assumes (clipping); empty when there is nothing to say."""


def correct_rate(p: float | None, ci_low: float | None, ci_high: float | None, accuracy: JudgeAccuracy) -> Correction:
    """Correct one observed rate and its interval for ``accuracy``; see the module docstring for the two intervals."""
    se, sp = accuracy.sensitivity, accuracy.specificity
    if p is None:
        return Correction(None, None, None, None, None, "no observed rate")
    if se is None or sp is None:
        why = "not correctable: the calibration set lacks positives or negatives, so Se or Sp is unknown"
        return Correction(None, None, None, None, None, why)
    corrected = rogan_gladen(p, se, sp)
    if corrected is None:
        why = (
            f"not correctable: Se + Sp = {se + sp:.3f} <= 1, the judge is no better than chance on its calibration set"
        )
        return Correction(None, None, None, None, None, why)
    lo = rogan_gladen(ci_low, se, sp) if ci_low is not None else None
    hi = rogan_gladen(ci_high, se, sp) if ci_high is not None else None
    notes = []
    if p < 1.0 - sp:
        notes.append(f"observed rate below the judge's false-positive rate {1 - sp:.3f}: corrected to 0")
    elif p > se:
        notes.append(f"observed rate above the judge's sensitivity {se:.3f}: corrected to 1")
    range_low = range_high = None
    if ci_low is not None and ci_high is not None:
        (se_lo, se_hi), (sp_lo, sp_hi) = accuracy.intervals()
        corners = [rogan_gladen(a, b, c) for a, b, c in product((ci_low, ci_high), (se_lo, se_hi), (sp_lo, sp_hi))]
        if all(c is not None for c in corners):
            values = [c for c in corners if c is not None]
            range_low, range_high = min(values), max(values)
        else:
            notes.append("no range with the judge's uncertainty: its Se/Sp intervals reach Se + Sp <= 1")
    return Correction(corrected, lo, hi, range_low, range_high, "; ".join(notes))


class RateRow(Protocol):
    """What a correction reads of an aggregate row (``tianping.core.results.MetricRow`` has it)."""

    @property
    def model(self) -> str: ...

    @property
    def benchmark(self) -> str: ...

    @property
    def metric(self) -> str: ...

    @property
    def n(self) -> int: ...

    @property
    def score(self) -> float | None: ...

    @property
    def ci_low(self) -> float | None: ...

    @property
    def ci_high(self) -> float | None: ...


@dataclass(frozen=True)
class CorrectedRow:
    """An observed rate next to its judge-corrected value, for a report to show."""

    model: str
    benchmark: str
    metric: str
    """The observed metric (``attack_success``)."""
    n: int
    observed: float | None
    observed_low: float | None
    observed_high: float | None
    corrected: float | None
    ci_low: float | None
    ci_high: float | None
    range_low: float | None
    range_high: float | None
    judge: str
    sensitivity: float | None
    specificity: float | None
    calibration_set: str
    note: str


def load_calibration(path: Path | None = None) -> dict[str, dict[str, JudgeAccuracy]]:
    """``{judge: {metric: JudgeAccuracy}}`` from the calibration file (default :data:`CALIBRATION_PATH`).

    Raises:
        ValueError: for a file that is not in the expected shape (the message names the entry).
    """
    where = path or CALIBRATION_PATH
    data = json.loads(Path(where).read_text(encoding="utf-8"))
    out: dict[str, dict[str, JudgeAccuracy]] = {}
    for judge, metrics in (data.get("judges") or {}).items():
        for metric, entry in metrics.items():
            try:
                counts = {k: int(entry[k]) for k in ("tp", "fn", "tn", "fp")}
                source, model = str(entry["calibration_set"]), entry.get("model")
                acc = JudgeAccuracy(judge, metric, **counts, calibration_set=source, model=model)
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{where}: judges.{judge}.{metric}: {type(exc).__name__}: {exc}") from None
            if min(counts.values()) < 0:
                raise ValueError(f"{where}: judges.{judge}.{metric}: negative count")
            out.setdefault(judge, {})[metric] = acc
    return out


def judge_name_of(spec: Mapping[str, Any]) -> str:
    """The calibration key of a run's judge, from its stored spec: ``rules`` without an LLM judge, else the preset."""
    if not spec.get("judge"):
        return "rules"
    return str(spec.get("judge_preset") or "tianping")


def corrected_rows(
    metric_rows: Iterable[RateRow],
    judge_name: str,
    calibration: Mapping[str, Mapping[str, JudgeAccuracy]] | None = None,
) -> list[CorrectedRow]:
    """The judge-corrected version of every correctable rate among ``metric_rows``.

    Call it with a run's metric rows (``tianping.report.collect.metric_rows``) and the run's judge name
    (:func:`judge_name_of` of the stored spec). One :class:`CorrectedRow` comes back per row whose metric is in
    :data:`CORRECTABLE_METRICS` (other rows are left out), in input order. A row that cannot be corrected -- no
    calibration for this judge and metric, Se + Sp <= 1, no observed rate -- still comes back, with
    ``corrected`` None and ``note`` saying why, so that a report can show the reason instead of a gap.
    ``calibration`` defaults to :func:`load_calibration` of the packaged file.
    """
    table = load_calibration() if calibration is None else calibration
    out: list[CorrectedRow] = []
    for row in metric_rows:
        if row.metric not in CORRECTABLE_METRICS:
            continue
        acc = table.get(judge_name, {}).get(row.metric)
        if acc is None:
            fix = Correction(None, None, None, None, None, f"no calibration for judge {judge_name!r} on {row.metric}")
        else:
            fix = correct_rate(row.score, row.ci_low, row.ci_high, acc)
        out.append(
            CorrectedRow(
                model=row.model,
                benchmark=row.benchmark,
                metric=row.metric,
                n=row.n,
                observed=row.score,
                observed_low=row.ci_low,
                observed_high=row.ci_high,
                corrected=fix.corrected,
                ci_low=fix.ci_low,
                ci_high=fix.ci_high,
                range_low=fix.range_low,
                range_high=fix.range_high,
                judge=judge_name,
                sensitivity=acc.sensitivity if acc else None,
                specificity=acc.specificity if acc else None,
                calibration_set=acc.calibration_set if acc else "",
                note=fix.note,
            )
        )
    return out


def write_calibration(entries: Iterable[JudgeAccuracy], facts: Mapping[str, Any], path: Path | None = None) -> Path:
    """Merge ``entries`` into the calibration file (other judges' entries are kept) and return its path.

    ``facts`` (command, machine, date) are stored with each entry, so a reader can tell how old a figure is.
    """
    where = Path(path or CALIBRATION_PATH)
    data: dict[str, Any] = json.loads(where.read_text(encoding="utf-8")) if where.exists() else {}
    data["about"] = (
        "Sensitivity and specificity of tianping's safety judges against human labels, used to correct attack "
        "success and over-refusal rates (tianping.safety.correction). Keyed by judge (rules = no LLM judge, "
        "else the judge preset) and metric. Regenerate with: python benchmarks/calibrate_safety_judge.py "
        "--write-calibration (after any change to the judge rules)."
    )
    judges = data.setdefault("judges", {})
    for acc in entries:
        judges.setdefault(acc.judge, {})[acc.metric] = {**acc.as_dict(), "generated": dict(facts)}
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return where
