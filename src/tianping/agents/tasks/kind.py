"""Multi-step tool tasks as a task kind: ``agent_<environment>`` (``agent_files``, ``agent_sqlite``,
``agent_calendar``, ``agent_calculator``), suite ``agent``.

Each sample is one task of the environment's file played once: an episode of model turns and tool calls
(``tianping.agents.loop``) against a fresh environment in the task's seed state, scored by the environment's final
state alone -- what the model says at the end does not count. Repeated trials (for pass@k and pass^k) come from the
run's ``--completions-per-prompt K``: a conversation cannot branch into K completions per turn, so each task is
played K times as K samples (``<task>#1`` .. ``<task>#K``), every turn asking one completion, trial t > 1 with
seed + t - 1 so that the trials are distinct requests (and distinct cache entries); their success rate is
clustered by task, and the report's agent table shows pass@k and pass^k per task.

A user's own task file runs as ``agent:PATH.yaml`` (``tianping.agents.tasks.task_files``), a task of that name.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from tianping.agents.env import ENVIRONMENTS, CheckResult, make_environment
from tianping.agents.loop import ENDED_WORDS, Ask, Conversation, converse, tools_json
from tianping.agents.tasks.catalog import AgentItem, Catalog, catalogs
from tianping.agents.tasks.prices import PRICES_INPUT, Prices, cost_of, prices_input, read_prices
from tianping.agents.tasks.task_files import is_task_file, load_task_file, task_file_record
from tianping.core.errors import TaskConfigError
from tianping.core.results import MetricRow, RunInfo
from tianping.core.task import (
    GENERATE,
    LOGLIKELIHOOD,
    TOOLS,
    AggregatedByAttributes,
    Episode,
    ReportSection,
    ScoringContext,
    Task,
    TaskAbout,
    TaskSettings,
)
from tianping.core.types import GenerationParams, Message, Request, Response, Sample, Score

PREFIX = "agent_"
SUITE = "agent"
VERSION = "1"
TASKS = tuple(PREFIX + name for name in ENVIRONMENTS)
LABELS = ("success", "failed_state", "budget_exhausted", "invalid_calls")
"""Outcome words: the final state passed; the model ended the task with the state wrong; a budget (turns or
tokens) ran out first; the model made too many invalid calls."""
DESCRIBED = {
    "files": "a file system in a private temporary folder",
    "sqlite": "a SQLite database",
    "calendar": "a room-booking calendar",
    "calculator": "a calculator with memory",
}
SYSTEM = {
    "en": (
        "You are an agent that completes the user's task by calling the tools you are given. Look at and change the "
        "environment only through the tools; you may call several tools in one turn. When the task is done, reply "
        "with a short summary and call no tool: that reply ends the task."
    ),
    "zh": (
        "你是一个智能体，通过调用给定的工具来完成用户的任务。只能通过工具查看和修改环境；一轮中可以调用多个工具。"
        "任务完成后，请用简短的总结回复，并且不要再调用任何工具：这条回复即结束任务。"
    ),
}


def trials_of(spec: Mapping[str, Any]) -> int:
    """Trials per task: the run's completions per prompt (``generation.n``), 1 when unset."""
    n = (spec.get("generation") or {}).get("n")
    return int(n) if isinstance(n, int) and n > 1 else 1


class AgentTask(AggregatedByAttributes):
    """The tasks of one environment, each played ``trials`` times."""

    helpers: frozenset[str] = frozenset()
    requires = frozenset({GENERATE, TOOLS})
    warnings: tuple[str, ...] = ()
    generation = GenerationParams(temperature=0.0, max_tokens=2048)
    metric_name = "success"
    breakdowns = ("language",)
    summary_breakdowns = ("language",)
    incomplete = "wrong"
    cluster: str | None = "item"
    breakdown_metrics: tuple[str, ...] = ()
    count_metrics = ("steps", "tool_calls", "invalid_calls", "tokens", "cost")

    def __init__(
        self,
        catalog: Catalog,
        items: Sequence[AgentItem],
        trials: int,
        prices: Prices,
        via_mcp: bool = False,
        name: str | None = None,
    ):
        self.via_mcp = via_mcp
        """The tools are served by an MCP server in the process and called through an MCP client."""
        self.mcp_servers = catalog.mcp_servers
        """The file's MCP servers, whose tools are offered beside the environment's."""
        self.environment = catalog.environment
        self.name = name or PREFIX + catalog.environment
        self.version = VERSION
        self.checksum: str | None = catalog.checksum
        self.trials = trials
        self.prices = prices
        self._items = {item.id: item for item in items}
        self._built: dict[str, Request] = {}
        self.samples = tuple(
            Sample(
                id=item.id if trials == 1 else f"{item.id}#{t}",
                fields={"goal": item.goal},
                target="success",
                meta={"item": item.id, "language": item.language, "environment": item.environment, "trial": t},
            )
            for item in items
            for t in range(1, trials + 1)
        )

    def build_request(self, sample: Sample, model_id: str, params: GenerationParams) -> Request:
        item = self._items[sample.meta["item"]]
        trial = int(sample.meta["trial"])
        seed = params.seed if trial == 1 else (params.seed or 0) + trial - 1
        system = SYSTEM[item.language]
        context = ENVIRONMENTS[item.environment].context(item.seed, item.language)
        request = Request(
            model=model_id,
            messages=(Message("system", system + ("\n" + context if context else "")), Message("user", item.goal)),
            params=dataclasses.replace(params, n=1, seed=seed),
            # with MCP servers the tools are known once the episode connects them: the conversation lists them
            tools=None if self.mcp_servers else tools_json(ENVIRONMENTS[item.environment].TOOLS),
        )
        self._built[sample.id] = request  # the episode starts from this request (this model's id and settings)
        return request

    def precheck(self, sample: Sample) -> Score | None:
        return None

    def episode(self, sample: Sample) -> Episode | None:
        first = self._built.get(sample.id)
        if first is None:
            raise RuntimeError(f"episode({sample.id!r}) before build_request: the model to ask is unknown")
        item = self._items[sample.meta["item"]]

        async def play(ask: Ask, context: ScoringContext) -> tuple[Request, Response, Score]:
            environment = make_environment(item.environment, item.seed)
            try:
                async with contextlib.AsyncExitStack() as stack:
                    tools: Any = environment
                    if self.via_mcp:
                        from tianping.agents.mcp.bridge import through_mcp

                        tools = await stack.enter_async_context(through_mcp(environment))
                    if self.mcp_servers:
                        from tianping.agents.tasks.servers import with_servers

                        tools = await stack.enter_async_context(with_servers(tools, self.mcp_servers))
                    played = await converse(ask, tools, first, item.budget)
                checks = [environment.check(check) for check in item.checks]
            finally:
                await environment.aclose()
            return played.request, played.response, self._score(item, int(sample.meta["trial"]), played, checks)

        return play

    async def ascore(self, sample: Sample, response: Response, context: ScoringContext) -> Score:
        raise RuntimeError("agent tasks are played as episodes; ascore is never called")

    def _score(self, item: AgentItem, trial: int, played: Conversation, checks: list[CheckResult]) -> Score:
        passed = all(c.passed for c in checks)
        if played.ended == "finished":
            outcome = "success" if passed else "failed_state"
        else:
            outcome = "invalid_calls" if played.ended == "invalid_calls" else "budget_exhausted"
        trajectory = {
            "v": 1,
            "item": item.id,
            "trial": trial,
            "environment": item.environment,
            "tools_via": "mcp" if self.via_mcp else "local",
            "outcome": outcome,
            "ended": ENDED_WORDS[played.ended],
            "steps": played.steps,
            "checks": [c.to_json() for c in checks],
            "budget": dataclasses.asdict(item.budget),
            "tokens": played.tokens,
            "tokens_estimated": played.tokens_estimated,
            "seconds": played.seconds,
        }
        metrics = {
            "steps": float(len(played.steps)),
            "tool_calls": float(played.tool_calls),
            "invalid_calls": float(played.invalid_calls),
            "tokens": float(played.tokens),
        }
        weights = {}
        if played.tool_calls:
            metrics["invalid_call_rate"] = played.invalid_calls / played.tool_calls
            weights["invalid_call_rate"] = float(played.tool_calls)
        cost = None if played.tokens_estimated else cost_of(self.prices, played.request.model, played)
        if cost is not None:
            metrics["cost"] = cost
        good = sum(c.passed for c in checks)
        reason = (
            f"{outcome}: {ENDED_WORDS[played.ended]} after {len(played.steps)} step(s); {played.tool_calls} call(s), "
            f"{played.invalid_calls} invalid; checks passed {good}/{len(checks)}"
        )
        failed = [f"{c.check}: {c.detail}" for c in checks if not c.passed]
        if failed:
            reason += " (" + "; ".join(failed)[:1500] + ")"
        if played.incomplete and not passed:  # the last turn's thinking never ended: no answer to judge by
            return Score(
                value=None, status="incomplete", reason=reason, metrics=metrics, weights=weights, trajectory=trajectory
            )
        return Score(
            value=1.0 if outcome == "success" else 0.0,
            extracted=outcome,
            reason=reason,
            metrics=metrics,
            weights=weights,
            trajectory=trajectory,
        )


class AgentKind:
    name = "agent"

    def task_names(self) -> Sequence[str]:
        return TASKS

    def suites(self) -> Mapping[str, Sequence[str]]:
        return {SUITE: TASKS}

    def claims(self, name: str) -> bool:
        return is_task_file(name)

    def inputs(self, name: str) -> Mapping[str, Any]:
        # the bundled files are pinned by their checksum, a user's file by its stored text; prices, when
        # configured, are kept for a resume to use alike
        own = {name: task_file_record(name)} if is_task_file(name) else {}
        return {**own, **prices_input()}

    def load(self, name: str, settings: TaskSettings) -> list[Task]:
        if name not in TASKS and not is_task_file(name):
            raise TaskConfigError(f"{name}: not an agent task (known: {', '.join(TASKS)}, or agent:PATH.yaml)")
        if settings.mode == LOGLIKELIHOOD:
            raise TaskConfigError(f"{name} is scored on what the model does with tools: it has no log-likelihood mode")
        if is_task_file(name):
            catalog = load_task_file(name, settings.stored_inputs)
        else:
            catalog = catalogs()[name.removeprefix(PREFIX)]
        items = list(catalog.items)
        if settings.limit is not None:
            items = items[: settings.limit]
        stored = settings.stored_inputs
        prices = read_prices(stored.get(PRICES_INPUT) if stored is not None else None, stored is not None)
        via_mcp = settings.spec.get("agent_tools") == "mcp"
        return [AgentTask(catalog, items, trials_of(settings.spec), prices, via_mcp, name)]

    def about(self, name: str) -> TaskAbout | None:
        if name not in TASKS:
            return None
        environment = name.removeprefix(PREFIX)
        task_type = f"multi-step tool use: {DESCRIBED[environment]}, success judged by the final state"
        return TaskAbout(task_type, ("en", "zh"), len(catalogs()[environment].items), "success")

    def outcome_labels(self, name: str) -> Sequence[str]:
        return LABELS if name in TASKS or is_task_file(name) else ()

    def report_sections(self, info: RunInfo, metrics: Sequence[MetricRow]) -> list[ReportSection]:
        if not any(m.benchmark in TASKS or is_task_file(m.benchmark) for m in metrics):
            return []
        from tianping.agents.tasks.sections import agent_sections

        return agent_sections(info)


KIND = AgentKind()
