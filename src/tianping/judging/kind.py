"""The judged benchmarks as a task kind: ``mt_bench``, ``arena_hard`` (v2.0), ``arena_hard_v0_1``,
``alpaca_eval`` and custom rubrics (``rubric:PATH``); suite ``subjective``. ``judge_llmbar`` and ``judge_autoj``
score the model under test itself as a pairwise judge against human labels.

Each needs a judge model: a run without ``--judge-model`` is refused when its tasks load, before any request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tianping.core.errors import TaskConfigError
from tianping.core.results import MetricRow, RunInfo
from tianping.core.task import ReportSection, Task, TaskAbout, TaskSettings

__all__ = ["KIND", "TASKS", "JudgedKind"]

AGREEMENT_TASKS = ("judge_llmbar", "judge_autoj")
"""The model under test as the judge, scored against human labels (``judging.agreement_tasks``): no judge model."""
TASKS = ("mt_bench", "arena_hard", "arena_hard_v0_1", "alpaca_eval", *AGREEMENT_TASKS)
RUBRIC_PREFIX = "rubric:"
PAIR_LABELS = ("win", "tie", "loss", "unparseable")
ABOUT: dict[str, TaskAbout] = {
    "mt_bench": TaskAbout("open-ended chat, two turns, graded 1-10 by a judge model", ("en",), 80,
                          "normalized_rating", "mt-bench"),
    "arena_hard": TaskAbout("hard open-ended prompts, judged pairwise against o3-mini", ("en",), 750, "win_rate",
                            "arena-hard-auto"),
    "arena_hard_v0_1": TaskAbout("hard open-ended prompts, judged pairwise against gpt-4-0314", ("en",), 500,
                                 "win_rate", "arena-hard-auto"),
    "alpaca_eval": TaskAbout("instruction following, judged pairwise against gpt4_1106_preview", ("en",), 805,
                             "win_rate", "alpacaeval"),
    "judge_llmbar": TaskAbout("pairwise judgement in both orders, scored against LLMBar's gold labels", ("en",),
                              419, "accuracy", "llmbar"),
    "judge_autoj": TaskAbout("pairwise judgement in both orders (ties too), scored against Auto-J's human labels",
                             ("en",), 1392, "accuracy", "autoj-pairwise"),
}  # fmt: skip
"""What ``tianping benchmarks`` can say of each task (the catalog dataset holds its license)."""


class JudgedKind:
    name = "judged"

    def task_names(self) -> Sequence[str]:
        return TASKS

    def suites(self) -> Mapping[str, Sequence[str]]:
        return {"subjective": ("mt_bench", "arena_hard", "alpaca_eval")}

    def claims(self, name: str) -> bool:
        return name.startswith(RUBRIC_PREFIX)

    def inputs(self, name: str) -> Mapping[str, Any]:
        if not name.startswith(RUBRIC_PREFIX):
            return {}  # the bundled tasks' data is pinned by their checksums
        from tianping.judging.rubric import read_rubric_text

        text, source = read_rubric_text(name)
        return {name: {"rubric": text, "source": source}}

    def load(self, name: str, settings: TaskSettings) -> list[Task]:
        spec = settings.spec
        # judge_llmbar / judge_autoj: the model under test is the judge, a --judge-model is not asked there
        if not spec.get("judge") and name not in AGREEMENT_TASKS:
            raise TaskConfigError(
                f"{name} is judged by a model: pass --judge-model openai/<name> (and --judge-base-url if it is "
                "served elsewhere)"
            )
        preset = spec.get("judge_preset") or "tianping"
        if preset != "tianping" and name not in AGREEMENT_TASKS:
            raise TaskConfigError(
                f"{name}: --judge-preset {preset} is a safety classifier's preset; judged benchmarks ask a general "
                "chat model with tianping's grading prompts (leave --judge-preset out)"
            )
        task = self._build(name, settings)
        from tianping.judging.sources import limited

        key = task.breakdowns[0] if task.breakdowns else None
        task.samples = tuple(limited(list(task.samples), settings.limit, settings.limit_mode, key))
        return [task]

    def _build(self, name: str, settings: TaskSettings) -> Any:
        from tianping.judging import sources
        from tianping.judging.tasks import MTBenchTask, PairwiseTask

        data = Path(settings.data_dir)
        if name.startswith(RUBRIC_PREFIX):
            from tianping.judging.rubric import load_rubric_task, read_rubric_text

            stored = (settings.stored_inputs or {}).get(name)
            if isinstance(stored, Mapping) and isinstance(stored.get("rubric"), str):
                text, source = stored["rubric"], str(stored.get("source", name))
            else:
                text, source = read_rubric_text(name)
            return load_rubric_task(name, text, source, data)
        if name in AGREEMENT_TASKS:
            from tianping.judging.agreement_tasks import load_agreement_task

            return load_agreement_task(name, data)
        if name == "mt_bench":
            loaded = sources.mt_bench_samples(data)
            return MTBenchTask(name, tuple(loaded.samples), sources.digest(loaded.files), max_tokens=1024,
                               breakdowns=("category",), summary_breakdowns=("category",))  # fmt: skip
        if name == "alpaca_eval":
            loaded = sources.alpaca_eval_samples(data)
            return PairwiseTask(name, tuple(loaded.samples), sources.digest(loaded.files), max_tokens=2048,
                                breakdowns=("dataset",))  # fmt: skip
        if name in sources.ARENA_HARD:
            loaded = sources.arena_hard_samples(data, name)
            return PairwiseTask(name, tuple(loaded.samples), sources.digest(loaded.files), max_tokens=4096,
                                breakdowns=sources.ARENA_HARD[name].breakdowns)  # fmt: skip
        raise TaskConfigError(f"unknown judged task {name!r} (known: {', '.join(TASKS)}, or rubric:PATH)")

    def about(self, name: str) -> TaskAbout | None:
        """Task type, languages, items a full run scores, primary metric and catalog dataset; None for a rubric."""
        return ABOUT.get(name)

    def outcome_labels(self, name: str) -> Sequence[str]:
        if name == "mt_bench":
            from tianping.judging.grading import Scale
            from tianping.judging.tasks import rating_labels

            return (*rating_labels(Scale(1, 10), turns=2), "unparseable")
        if name in AGREEMENT_TASKS:  # a score of 1 is agreement with the gold label: "correct" says it
            return ()
        return PAIR_LABELS if name in TASKS else ()

    def report_sections(self, info: RunInfo, metrics: Sequence[MetricRow]) -> list[ReportSection]:
        """Bias diagnostics, grades per turn and category, AlpacaEval's win rates: for any run with judged tasks."""
        planned = info.spec.get("benchmarks") or ()
        if not (
            any(m.benchmark in TASKS for m in metrics)
            or any(isinstance(b, str) and b.startswith(RUBRIC_PREFIX) for b in planned)
        ):
            return []
        from tianping.judging.sections import judged_sections
        from tianping.store.store import StoreError

        try:
            sections = judged_sections(info)
            if any(m.benchmark in AGREEMENT_TASKS for m in metrics) or any(b in AGREEMENT_TASKS for b in planned):
                from tianping.judging.agreement_tasks import agreement_sections

                sections += agreement_sections(info)
            return sections
        except (OSError, ValueError, StoreError) as exc:  # a store that cannot be read costs these tables only
            return [ReportSection("Judge bias diagnostics", (), (), note=f"not available: {exc}", id="judge-bias")]


KIND = JudgedKind()
