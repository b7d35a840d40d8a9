"""The conversation loop of a multi-step tool task: the model and an environment's tools, turn by turn.

Each model turn is one request through the engine's ``ask`` (so it is cached, counted and retried like any other
request), carrying the whole conversation so far: the task's messages, then each assistant turn with its tool
calls and one ``tool`` message per call with the tool's answer. The loop ends when the model answers without a
tool call (it says it is done), or when a budget is spent: model turns, tokens (prompt and completion, as the
server counts them, summed over turns), or invalid calls. What happened is kept as a trajectory of plain data.

Nothing here depends on where the tools run: any ``ToolProvider`` (a built-in environment, an MCP server) serves.
A resumed run plays an unfinished episode again from its first turn with a fresh environment; the turns asked
before come back from the cache, and the environment reaches the same state by the same calls.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from tianping.agents.tools import ToolProvider, ToolResult, ToolSpec
from tianping.core.types import Message, Request, Response, ToolCall

Ask = Callable[[Request], Awaitable[Response]]
Ended = Literal["finished", "steps", "tokens", "invalid_calls"]

ENDED_WORDS = {
    "finished": "the model ended the task",
    "steps": "the step budget was spent",
    "tokens": "the token budget was spent",
    "invalid_calls": "too many invalid calls",
}
_CHARS_PER_TOKEN = 4
"""For a server that reports no usage: tokens estimated from characters (marked as estimated)."""


@dataclass(frozen=True)
class Budget:
    steps: int = 12
    """Model turns at most."""
    tokens: int = 60_000
    """Prompt plus completion tokens over all turns: no turn is asked once they are spent."""
    invalid_calls: int = 5
    """Invalid calls (malformed arguments, calls a tool refused) that end the episode."""


@dataclass
class Conversation:
    """One played episode: the last request asked and its answer (what the run stores), and every step."""

    request: Request
    response: Response
    steps: list[dict[str, Any]] = field(default_factory=list)
    ended: Ended = "finished"
    incomplete: bool = False
    """The last turn's reasoning never finished, so it holds no answer."""
    tool_calls: int = 0
    invalid_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_estimated: bool = False
    seconds: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def tools_json(specs: list[ToolSpec] | tuple[ToolSpec, ...]) -> str:
    """Tool specs as the ``Request.tools`` text (stable, so that requests are keyed alike in every process)."""
    return json.dumps([s.openai() for s in specs], ensure_ascii=False, sort_keys=True)


async def converse(ask: Ask, provider: ToolProvider, first: Request, budget: Budget) -> Conversation:
    """Play the conversation that starts with ``first`` (its messages, model and settings; its tools, or the
    provider's when it has none) until the model ends it or a budget is spent."""
    if first.messages is None:
        raise ValueError("a tool conversation starts from a chat request")
    messages = list(first.messages)
    if first.tools is None:
        first = dataclasses.replace(first, tools=tools_json(tuple(await provider.list_tools())))
    started = time.perf_counter()
    request = first
    result: Conversation | None = None
    while True:
        if result is not None and len(result.steps) >= budget.steps:
            result.ended = "steps"
            break
        if result is not None and result.tokens >= budget.tokens:
            result.ended = "tokens"
            break
        asked = time.perf_counter()
        response = await ask(request)
        waited = time.perf_counter() - asked
        if result is None:
            result = Conversation(request, response)
        result.request, result.response = request, response
        step = _step(result, len(result.steps) + 1, request, response, waited)
        result.steps.append(step)
        completion = response.first
        if not completion.tool_calls:
            result.incomplete = completion.incomplete
            result.ended = "finished"
            break
        calls = _with_ids(completion.tool_calls, step["step"])
        messages.append(Message("assistant", completion.text, tool_calls=calls))
        for call in calls:
            answer, record = await _call(provider, call)
            step["calls"].append(record)
            result.tool_calls += 1
            result.invalid_calls += 0 if answer.ok else 1
            messages.append(Message("tool", answer.text, tool_call_id=call.id))
        if result.invalid_calls >= budget.invalid_calls:
            result.ended = "invalid_calls"
            break
        request = Request(
            model=first.model, messages=tuple(messages), params=first.params, tools=first.tools,
            tool_choice=first.tool_choice,
        )  # fmt: skip
    result.seconds = round(time.perf_counter() - started, 4)
    return result


def _step(result: Conversation, number: int, request: Request, response: Response, waited: float) -> dict[str, Any]:
    completion = response.first
    prompt, answer = response.prompt_tokens, response.completion_tokens
    if prompt is None and answer is None:
        result.tokens_estimated = True
        prompt = math.ceil(len(request.payload_json) / _CHARS_PER_TOKEN)
        written = completion.text + "".join(c.name + c.arguments for c in completion.tool_calls)
        answer = math.ceil(len(written) / _CHARS_PER_TOKEN)
    result.prompt_tokens += prompt or 0
    result.completion_tokens += answer or 0
    return {
        "step": number,
        "text": completion.text,
        "reasoning": completion.reasoning,
        "finish_reason": completion.finish_reason,
        "incomplete": completion.incomplete,
        "latency_s": _seconds(response.latency_s),
        "seconds": _seconds(waited),
        "prompt_tokens": prompt,
        "completion_tokens": answer,
        "calls": [],
    }


def _with_ids(calls: tuple[ToolCall, ...], step: int) -> tuple[ToolCall, ...]:
    """The calls with an id each, unique within the turn: a tool message names the call it answers."""
    seen: set[str] = set()
    out = []
    for j, call in enumerate(calls):
        ident = call.id if call.id and call.id not in seen else f"call_{step}_{j}"
        seen.add(ident)
        out.append(call if ident == call.id else dataclasses.replace(call, id=ident))
    return tuple(out)


async def _call(provider: ToolProvider, call: ToolCall) -> tuple[ToolResult, dict[str, Any]]:
    started = time.perf_counter()
    arguments, problem = parse_arguments(call.arguments)
    invalid: str | None
    if problem is not None:
        answer, invalid = ToolResult(f"error: {call.name}: {problem}", ok=False), "malformed arguments"
    else:
        answer = await provider.call(call.name, arguments)
        invalid = None if answer.ok else "refused by the tool"
    record = {
        "id": call.id,
        "name": call.name,
        "arguments": call.arguments,
        "result": answer.text,
        "ok": answer.ok,
        "invalid": invalid,
        "seconds": _seconds(time.perf_counter() - started),
    }
    return answer, record


def parse_arguments(text: str) -> tuple[dict[str, Any], str | None]:
    """A call's arguments as an object, or why they are not one (the model's malformed call)."""
    if not text.strip():
        return {}, None  # some servers send nothing for a call without arguments
    try:
        value = json.loads(text)
    except ValueError as exc:
        return {}, f"the arguments are not valid JSON ({exc})"
    if not isinstance(value, dict):
        return {}, f"the arguments must be a JSON object, not {type(value).__name__}"
    return value, None


def _seconds(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 4)
