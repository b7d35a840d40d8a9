"""A scripted agent for the fake OpenAI server: it plays each agent task by the task's reference solution, in a
behaviour chosen per task, and knows the outcome each behaviour must get.

It reads only the request (the task's goal in the first user message, how many assistant turns the conversation
already has, the request's seed), so the same request always gets the same answer, in any process: the
conversation is replayed identically on resume, and the cache holds its turns.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tianping.agents.tasks.catalog import AgentItem, catalogs

OUTCOME = {
    "solve": "success",  # one solution call per turn, then a summary
    "batched": "success",  # every solution call in one turn, then a summary
    "recover": "success",  # a call with broken JSON and a call of an unknown tool first, then the solution
    "stop_early": "failed_state",  # all but the last solution call, then claims to be done
    "wander": "budget_exhausted",  # a harmless read every turn, never done
    "garbage": "invalid_calls",  # two malformed calls a turn until the limit ends the episode
}
MODES = tuple(OUTCOME)
LOOK = {"files": "list_dir", "sqlite": "list_tables", "calendar": "list_rooms", "calculator": "list_variables"}
"""A call of each environment that changes nothing."""


def items() -> dict[str, AgentItem]:
    return {item.id: item for catalog in catalogs().values() for item in catalog.items}


def assignment() -> dict[str, str]:
    """Each task's behaviour: the modes in turn over the tasks in id order (each mode on several environments)."""
    return {item_id: MODES[i % len(MODES)] for i, item_id in enumerate(sorted(items()))}


def expected_steps(item: AgentItem, mode: str) -> int:
    n = len(item.solution)
    return {
        "solve": n + 1,
        "batched": 2,
        "recover": n + 2,
        "stop_early": n,
        "wander": item.budget.steps,
        "garbage": -(-item.budget.invalid_calls // 2),
    }[mode]


def expected_invalid(item: AgentItem, mode: str) -> int:
    if mode == "recover":
        return 2
    if mode == "garbage":
        return 2 * expected_steps(item, mode)
    return 0


def _call(name: str, args: Any) -> dict[str, Any]:
    return {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)}


def _done(item: AgentItem) -> dict[str, Any]:
    return {"content": "完成。" if item.language == "zh" else "Done: the task is complete.", "tool_calls": None}


def play(item: AgentItem, mode: str, turn: int) -> dict[str, Any]:
    """The answer of the ``turn``-th model turn (0-based) of a task played in ``mode``."""
    solution = [_call(tool, args) for tool, args in item.solution]
    if mode == "batched":
        return {"content": "", "tool_calls": solution} if turn == 0 else _done(item)
    if mode == "recover":
        if turn == 0:
            broken = [_call(solution[0]["name"], '{"path": "a.txt", '), _call("teleport", {"to": "mars"})]
            return {"content": "Let me try.", "tool_calls": broken}
        turn -= 1
    if mode == "stop_early":
        solution = solution[:-1]
    if mode == "wander":
        return {"content": "", "tool_calls": [_call(LOOK[item.environment], {})]}
    if mode == "garbage":
        return {"content": "", "tool_calls": [_call(solution[0]["name"], "{{nope"), _call("rm_rf", "[]")]}
    if turn < len(solution):
        return {"content": "", "tool_calls": [solution[turn]]}
    return _done(item)


def agent(modes: dict[str, str], per_trial: Callable[[str, int], str] | None = None) -> Callable[[dict[str, Any]], Any]:
    """An ``answer_fn`` for ``FakeOpenAIServer``: each task in its mode (``per_trial(mode, seed)`` may change the
    mode by the request's seed, for repeated trials)."""
    by_goal = {item.goal: item for item in items().values()}

    def answer(body: dict[str, Any]) -> Any:
        messages = body["messages"]
        goal = next(m["content"] for m in messages if m["role"] == "user")
        item = by_goal.get(goal)
        if item is None:
            return "I do not know this task."
        assert body.get("tools"), "an agent turn offers the environment's tools"
        mode = modes[item.id]
        if per_trial is not None:
            mode = per_trial(mode, body.get("seed") or 0)
        turn = sum(1 for m in messages if m["role"] == "assistant")
        return play(item, mode, turn)

    return answer
