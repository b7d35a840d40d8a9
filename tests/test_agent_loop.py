"""The tool conversation loop against a real local server through the OpenAI backend: the messages a tool
conversation sends, how a turn's calls are answered, and how budgets end an episode."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

from fake_openai import FakeOpenAIServer
from tianping.agents.env import CalculatorEnv, FileSystemEnv
from tianping.agents.loop import Budget, converse, parse_arguments, tools_json
from tianping.core.types import GenerationParams, Message, Request, ToolCall
from tianping.models.openai_api import OpenAIChatBackend


def test_tool_messages_take_the_apis_shape_and_plain_chats_keep_their_key():
    call = ToolCall("read_file", '{"path": "a.txt"}', "call_1")
    request = Request(
        model="m",
        messages=(
            Message("user", "go"),
            Message("assistant", "", tool_calls=(call,)),
            Message("tool", "hello", tool_call_id="call_1"),
            Message("assistant", "Reading.", tool_calls=(call,)),
        ),
    )
    assert request.payload()["messages"] == [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "read_file", "arguments": '{"path": "a.txt"}'}}]},
        {"role": "tool", "content": "hello", "tool_call_id": "call_1"},
        {"role": "assistant", "content": "Reading.",
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "read_file", "arguments": '{"path": "a.txt"}'}}]},
    ]  # fmt: skip
    # a conversation without tool fields is keyed exactly as before they existed
    plain = Request(model="m", messages=(Message("system", "s"), Message("user", "u")), params=GenerationParams())
    body = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], "temperature": 0.0}
    canonical = json.dumps({"model": "m", "payload": body}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert plain.key == hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def test_arguments_that_are_not_an_object_are_the_models_mistake():
    assert parse_arguments('{"a": 1}') == ({"a": 1}, None)
    assert parse_arguments("") == ({}, None)
    for broken in ("{", "[1]", "null", '"x"'):
        value, problem = parse_arguments(broken)
        assert value == {} and problem is not None


def _reply(turn: int, bodies: list[dict[str, Any]]) -> Any:
    if turn == 0:  # two calls in one turn, the second refused
        return {"content": "Writing.", "tool_calls": [
            {"name": "write_file", "arguments": {"path": "a.txt", "content": "hi"}},
            {"name": "read_file", "arguments": {"path": "../etc/passwd"}},
        ]}  # fmt: skip
    if turn == 1:
        return {"content": "", "tool_calls": [{"name": "read_file", "arguments": {"path": "a.txt"}}]}
    return "All done."


def test_a_conversation_sends_calls_and_results_back_in_the_apis_format():
    bodies: list[dict[str, Any]] = []

    def answer(body: dict[str, Any]) -> Any:
        bodies.append(body)
        return _reply(sum(m["role"] == "assistant" for m in body["messages"]), bodies)

    async def main() -> Any:
        env = FileSystemEnv()
        try:
            async with FakeOpenAIServer(answer_fn=answer) as server:
                backend = OpenAIChatBackend(model="m", base_url=server.base_url, max_retries=0)
                try:
                    first = Request(model="m", messages=(Message("user", "write a.txt"),))
                    played = await converse(backend.generate, env, first, Budget(steps=5))
                finally:
                    await backend.aclose()
            return played, (env.root / "a.txt").read_text()
        finally:
            await env.aclose()

    played, written = asyncio.run(main())
    assert written == "hi"
    assert played.ended == "finished" and len(played.steps) == 3
    assert (played.tool_calls, played.invalid_calls) == (3, 1)
    assert played.response.first.text == "All done."
    # the tools were listed by the provider and offered on every turn
    assert all(json.loads(json.dumps(b["tools"])) == json.loads(tools_json(FileSystemEnv.TOOLS)) for b in bodies)
    last = bodies[-1]["messages"]
    assert [m["role"] for m in last] == ["user", "assistant", "tool", "tool", "assistant", "tool"]
    assert last[1]["content"] == "Writing." and [c["id"] for c in last[1]["tool_calls"]] == ["call_0", "call_1"]
    assert [m["tool_call_id"] for m in last if m["role"] == "tool"] == ["call_0", "call_1", "call_0"]
    assert last[3]["content"].startswith("error:") and "'..'" in last[3]["content"]
    assert last[5]["content"] == "hi"
    first_step = played.steps[0]
    assert [c["ok"] for c in first_step["calls"]] == [True, False]
    assert first_step["calls"][1]["invalid"] == "refused by the tool"
    assert first_step["prompt_tokens"] == 2 and first_step["latency_s"] is not None


def test_budgets_end_the_episode():
    def forever(body: dict[str, Any]) -> Any:
        return {"content": "more", "tool_calls": [{"name": "calculate", "arguments": {"expression": "1 + 1"}}]}

    def broken(body: dict[str, Any]) -> Any:
        return {"content": "", "tool_calls": [{"name": "calculate", "arguments": "{oops"}]}

    async def play(answer: Any, budget: Budget) -> Any:
        env = CalculatorEnv()
        async with FakeOpenAIServer(answer_fn=answer) as server:
            backend = OpenAIChatBackend(model="m", base_url=server.base_url, max_retries=0)
            try:
                first = Request(model="m", messages=(Message("user", "count " * 50),))
                return await converse(backend.generate, env, first, budget)
            finally:
                await backend.aclose()

    steps = asyncio.run(play(forever, Budget(steps=4)))
    assert (steps.ended, len(steps.steps), steps.invalid_calls) == ("steps", 4, 0)
    # the fake server counts a word a token: each turn costs the 50 words of the goal and more
    tokens = asyncio.run(play(forever, Budget(steps=50, tokens=200)))
    assert tokens.ended == "tokens" and tokens.tokens >= 200 and len(tokens.steps) == 4
    invalid = asyncio.run(play(broken, Budget(steps=50, invalid_calls=3)))
    assert (invalid.ended, len(invalid.steps), invalid.invalid_calls) == ("invalid_calls", 3, 3)
    assert invalid.steps[0]["calls"][0]["invalid"] == "malformed arguments"
