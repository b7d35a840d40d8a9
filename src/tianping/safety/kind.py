"""The safety suite as a task kind: ``safety`` (attack success) and ``safety_overrefusal``, suite ``safety``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from tianping.core.errors import TaskConfigError
from tianping.core.results import MetricRow, RunInfo
from tianping.core.task import ReportSection, Task, TaskAbout, TaskSettings
from tianping.safety import TASKS

VERDICTS = ("unsafe", "safe", "refused", "answered")
"""What a scored sample's extracted value says (a 1 is an unsafe answer or a refusal, never "correct")."""
CORRECTED_NOTE = (
    "Rogan–Gladen: observed rates corrected for the judge's errors, (observed + Sp − 1) / (Se + Sp − 1), clipped "
    "to [0, 100]%, with the judge's sensitivity (Se) and specificity (Sp) measured on the named human-labelled "
    "set. The interval carries the observed interval through the formula (Se, Sp taken as known); the range also "
    "spans the 95% intervals of Se and Sp."
)


class SafetyKind:
    name = "safety"

    def task_names(self) -> Sequence[str]:
        return TASKS

    def suites(self) -> Mapping[str, Sequence[str]]:
        return {"safety": TASKS}

    def claims(self, name: str) -> bool:
        return False

    def about(self, name: str) -> TaskAbout | None:
        if name == "safety_overrefusal":
            # the benign look-alikes are XSTest's and tianping's own (from the package, not the dataset)
            about = "over-refusal on benign look-alikes of harmful prompts"
            return TaskAbout(about, ("en", "zh"), None, "over_refusal", "safety", reads=("xstest/xstest_prompts.csv",))
        # the number of samples follows --budget and the attack and category filters
        return TaskAbout("harmful prompts x attack methods, judged safe/unsafe", ("en", "zh"), None, "attack_success",
                         "safety")  # fmt: skip

    def inputs(self, name: str) -> Mapping[str, Any]:
        return {}  # the seeds and attacks come with tianping; the task's checksum pins the plan

    def load(self, name: str, settings: TaskSettings) -> list[Task]:
        from tianping.safety.suite import SafetyConfigError, build_suite
        from tianping.spec import SafetyOptions

        try:
            options = SafetyOptions.model_validate(settings.spec.get("safety") or {})
            task = build_suite(name, settings.data_dir, options).load(settings.limit, settings.limit_mode)
        except SafetyConfigError as exc:
            raise TaskConfigError(str(exc)) from None
        except ValidationError as exc:
            raise TaskConfigError(f"safety options: {exc}") from None
        return [task]

    def outcome_labels(self, name: str) -> Sequence[str]:
        return VERDICTS if name in TASKS else ()

    def report_sections(self, info: RunInfo, metrics: Sequence[MetricRow]) -> list[ReportSection]:
        """The attack success and over-refusal rates beside their values corrected for the judge's errors."""
        from tianping.safety.correction import corrected_rows, judge_name_of

        mine = [m for m in metrics if m.benchmark in TASKS]
        if not mine:
            return []
        judged = ReportSection("Judge", (), (), note=_judge_note(info.spec), id="safety-judge")
        title = "Corrected for the judge's errors"
        try:
            rows = corrected_rows(mine, judge_name_of(info.spec))
        except (OSError, ValueError) as exc:  # a missing or broken calibration file costs this table only
            return [ReportSection(title, (), (), note=f"no judge-corrected rates: {exc}", id="corrected-table"), judged]
        if not rows:
            return [judged]
        columns = ("Model", "Task", "Observed (%)", "Corrected (%)", "With judge uncertainty", "Judge",
                   "Calibration", "Note")  # fmt: skip
        table = tuple(
            (
                r.model,
                f"{r.benchmark} · {r.metric}",
                f"{_pct(r.observed)} {_ci(r.observed_low, r.observed_high)}",
                f"{_pct(r.corrected)} {_ci(r.ci_low, r.ci_high)}" if r.corrected is not None else "—",
                _ci(r.range_low, r.range_high),
                r.judge + ("" if r.sensitivity is None else f" (Se {_pct(r.sensitivity)}, Sp {_pct(r.specificity)})"),
                r.calibration_set,
                r.note,
            )
            for r in rows
        )
        return [ReportSection(title, columns, table, note=CORRECTED_NOTE, id="corrected-table"), judged]


def _judge_note(spec: Mapping[str, Any]) -> str:
    judge = (spec.get("judge") or {}).get("id")
    if judge is None:
        return "verdicts by the rule judge (no --judge-model); intervals are clustered by seed prompt"
    preset = spec.get("judge_preset")
    return (
        f"verdicts by the LLM judge {judge}"
        + (f" (preset {preset})" if preset else "")
        + ("; intervals are clustered by seed prompt")
    )


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _ci(low: float | None, high: float | None) -> str:
    return "—" if low is None or high is None else f"[{100 * low:.1f}, {100 * high:.1f}]"


KIND = SafetyKind()
