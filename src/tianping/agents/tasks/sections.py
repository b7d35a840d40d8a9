"""The report table of a run's agent tasks: per task and overall, the success rate with its interval, pass@k and
pass^k over the run's trials, steps, invalid calls, tokens and (where prices are configured) cost.

It is computed from the samples the run stored (their per-sample metrics), read from the run's database, so a
re-rendered report shows the same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from math import comb
from typing import Any

from tianping.core.results import RunInfo
from tianping.core.task import ReportSection
from tianping.scoring.stats import clustered_proportion

TITLE = "Agent tasks"
NOTE = (
    "Success: the environment's final state passed every check of the task (what the model says does not count); "
    "an unfinished answer counts as a failure, a transport error is left out. The interval is Wilson's, widened "
    "for the trials of one task being alike. With n trials of a task of which c succeed, pass@k = 1 - C(n-c, k) / "
    "C(n, k) (at least one of k trials succeeds) and pass^k = C(c, k) / C(n, k) (all k succeed, as tau-bench "
    "defines it), k = the run's trials (--completions-per-prompt). Steps: model turns per episode; invalid calls: "
    "share of tool calls that were malformed or refused; tokens: prompt + completion over all turns, per episode; "
    "cost: dollars over all trials, at the prices of TIANPING_PRICES."
)


@dataclass
class _Tally:
    outcomes: list[float] = field(default_factory=list)
    steps: list[float] = field(default_factory=list)
    tokens: list[float] = field(default_factory=list)
    calls: float = 0.0
    invalid: float = 0.0
    cost: float | None = None

    def add(self, row: dict[str, Any]) -> None:
        self.outcomes.append(1.0 if row["status"] == "scored" and (row["score"] or 0.0) >= 1.0 else 0.0)
        metrics = row.get("metrics") or {}
        if "steps" in metrics:
            self.steps.append(metrics["steps"])
            self.tokens.append(metrics.get("tokens", 0.0))
            self.calls += metrics.get("tool_calls", 0.0)
            self.invalid += metrics.get("invalid_calls", 0.0)
        if "cost" in metrics:
            self.cost = (self.cost or 0.0) + metrics["cost"]


def pass_at_k(n: int, c: int, k: int) -> float | None:
    """At least one of k trials succeeds (unbiased, from n trials with c successes); None when n < k."""
    return None if n < k or k < 1 else 1.0 - comb(n - c, k) / comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float | None:
    """All k trials succeed (tau-bench's pass^k); None when n < k."""
    return None if n < k or k < 1 else comb(c, k) / comb(n, k)


def _is_agent(name: str, tasks: Sequence[str]) -> bool:
    """A bundled agent task or a user's task file (``agent:PATH.yaml``)."""
    from tianping.agents.tasks.task_files import is_task_file

    return name in tasks or is_task_file(name)


def _rows_of(info: RunInfo) -> list[dict[str, Any]]:
    from tianping.agents.tasks.kind import TASKS
    from tianping.store import Store

    assert info.database is not None
    store = Store(info.database, readonly=True)
    try:
        return [
            r for r in store.sample_rows(info.run_id) if _is_agent(r["benchmark"], TASKS) and r["status"] != "error"
        ]
    finally:
        store.close()


def agent_sections(info: RunInfo) -> list[ReportSection]:
    if info.database is None:
        return [ReportSection(TITLE, (), (), note="no samples to read the episodes from", id="agent-tasks")]
    return [section] if (section := agent_table(_rows_of(info))) is not None else []


def agent_table(rows: Iterable[dict[str, Any]]) -> ReportSection | None:
    """The table of the stored sample rows of agent tasks; None when there are none."""
    items: dict[tuple[str, str, str], _Tally] = defaultdict(_Tally)
    languages: dict[str, str] = {}
    for row in rows:
        item = str(row["meta"].get("item", row["sample_id"]))
        languages[item] = str(row["meta"].get("language", ""))
        items[(row["model"], row["benchmark"], item)].add(row)
    if not items:
        return None
    k = max(len(t.outcomes) for t in items.values())
    with_cost = any(t.cost is not None for t in items.values())
    out: list[tuple[str, ...]] = []
    for model in sorted({m for m, _, _ in items}):
        tasks = sorted({b for m, b, _ in items if m == model})
        for bench in tasks:
            mine = sorted((i, t) for (m, b, i), t in items.items() if m == model and b == bench)
            for item, tally in mine:
                out.append(_line(model, bench, item, languages.get(item, ""), [(item, tally)], k, with_cost))
            out.append(_line(model, bench, f"(all {len(mine)})", "", mine, k, with_cost))
        if len(tasks) > 1:
            every = sorted((i, t) for (m, _, i), t in items.items() if m == model)
            out.append(_line(model, "(all agent tasks)", f"(all {len(every)})", "", every, k, with_cost))
    columns: tuple[str, ...] = ("Model", "Task", "Item", "Lang", "Trials", "Success (%)", "95% CI",
                                f"pass@{k} (%)", f"pass^{k} (%)", "Steps", "Invalid calls (%)", "Tokens")  # fmt: skip
    if with_cost:
        columns += ("Cost ($)",)
    else:
        out = [line[:-1] for line in out]
    return ReportSection(TITLE, columns, tuple(out), note=NOTE, id="agent-tasks")


def _line(
    model: str, bench: str, item: str, language: str, tallies: Sequence[tuple[str, _Tally]], k: int, with_cost: bool
) -> tuple[str, ...]:
    values = [v for _, t in tallies for v in t.outcomes]
    clusters = [name for name, t in tallies for _ in t.outcomes]
    estimate = clustered_proportion(values, clusters)
    at = [pass_at_k(len(t.outcomes), int(sum(t.outcomes)), k) for _, t in tallies]
    hat = [pass_hat_k(len(t.outcomes), int(sum(t.outcomes)), k) for _, t in tallies]
    steps = [s for _, t in tallies for s in t.steps]
    tokens = [s for _, t in tallies for s in t.tokens]
    calls = sum(t.calls for _, t in tallies)
    invalid = sum(t.invalid for _, t in tallies)
    costs = [t.cost for _, t in tallies if t.cost is not None]
    trials = {len(t.outcomes) for _, t in tallies}
    return (
        model,
        bench,
        item,
        language,
        str(trials.pop()) if len(trials) == 1 else f"{min(trials)}-{max(trials)}",
        _pct(estimate.value),
        "—" if estimate.ci_low is None else f"[{100 * estimate.ci_low:.1f}, {100 * (estimate.ci_high or 0):.1f}]",
        _pct(_mean(at)),
        _pct(_mean(hat)),
        f"{sum(steps) / len(steps):.1f}" if steps else "—",
        _pct(invalid / calls) if calls else "—",
        f"{sum(tokens) / len(tokens):.0f}" if tokens else "—",
        f"{sum(costs):.4f}" if costs and with_cost else "—",
    )


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"
