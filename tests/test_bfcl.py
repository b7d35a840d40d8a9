"""BFCL without the reference package: the data, tool calls through the core and the OpenAI backend, answers read
as data and never run, and whole runs through the command line against a scripted fake model in both modes, whose
scores equal what the script meant exactly."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from bfcl_outputs import as_text, as_tool_calls, right_calls, variants
from engine_helpers import cli
from fake_openai import FakeOpenAIServer, running_server
from tianping.agents.bfcl.data import CATEGORIES, load_category
from tianping.agents.bfcl.pyparse import DecodeError, decode_python
from tianping.agents.bfcl.scoring import LABELS, judge
from tianping.agents.bfcl.task import KIND, PROMPT_TASKS, TOOL_TASKS, parse_name
from tianping.benchmarks.errors import DatasetError
from tianping.core.errors import TaskConfigError
from tianping.core.task import GENERATE, TOOLS, TaskSettings
from tianping.core.types import Completion, GenerationParams, Message, Request, Response, ToolCall
from tianping.engine.tasks import missing_capabilities
from tianping.models.errors import ModelError, ReplyTooLarge
from tianping.models.openai_api import OpenAIChatBackend

COUNTS = {
    "simple_python": 400, "simple_java": 100, "simple_javascript": 50, "multiple": 200, "parallel": 200,
    "parallel_multiple": 200, "irrelevance": 240, "live_simple": 258, "live_multiple": 1053, "live_parallel": 16,
    "live_parallel_multiple": 24, "live_irrelevance": 884, "live_relevance": 16,
}  # fmt: skip
"""Rows per category, as the data's SOURCE.md counts them."""


# -- data ------------------------------------------------------------------------------------------------------


def test_every_category_loads_with_its_answer_key(data_dir: Path) -> None:
    for category in CATEGORIES:
        items, checksum = load_category(data_dir, category)
        assert len(items) == COUNTS[category], category
        assert len({i.id for i in items}) == len(items) and len(checksum) == 64
        has_key = "relevance" not in category
        assert all((i.ground_truth is not None) == has_key for i in items), category
    assert sum(COUNTS.values()) == 3641
    assert [parse_name(n) for n in ("bfcl_live_multiple", "bfcl_live_multiple_prompt", "bfcl_nope", "gsm8k")] == [
        ("live_multiple", "tools"), ("live_multiple", "prompt"), None, None,
    ]  # fmt: skip


def test_bad_data_is_refused_naming_file_line_and_field(tmp_path: Path) -> None:
    folder = tmp_path / "bfcl" / "possible_answer"
    folder.mkdir(parents=True)
    question = tmp_path / "bfcl" / "BFCL_v4_simple_python.json"
    doc = {"name": "f", "parameters": {"type": "dict", "properties": {}, "required": []}}
    good = {"id": "simple_python_0", "question": [[{"role": "user", "content": "q"}]], "function": [doc]}
    question.write_text(json.dumps(good) + "\n" + json.dumps({**good, "id": "simple_python_1", "question": "q"}) + "\n")
    answers = folder / "BFCL_v4_simple_python.json"
    answers.write_text(json.dumps({"id": "simple_python_0", "ground_truth": [{"f": {}}]}) + "\n")
    with pytest.raises(DatasetError, match=r"1 answers for 2 questions"):
        load_category(tmp_path, "simple_python")
    answers.write_text(answers.read_text() + json.dumps({"id": "simple_python_1", "ground_truth": []}) + "\n")
    with pytest.raises(DatasetError, match=r"BFCL_v4_simple_python.json:2: field 'question' must be a list"):
        load_category(tmp_path, "simple_python")
    question.write_text(json.dumps(good) + "\n" + json.dumps({**good, "id": "other"}) + "\n")
    with pytest.raises(DatasetError, match=r"possible_answer/BFCL_v4_simple_python.json:2: id 'simple_python_1'"):
        load_category(tmp_path, "simple_python")
    question.write_text(json.dumps(good) + "\n{broken\n")
    with pytest.raises(DatasetError, match=r"BFCL_v4_simple_python.json:2: not JSON"):
        load_category(tmp_path, "simple_python")
    with pytest.raises(DatasetError, match="missing"):
        load_category(tmp_path, "live_simple")


def test_the_kind_names_suites_modes_and_what_each_mode_needs(data_dir: Path) -> None:
    assert KIND.suites() == {"bfcl": TOOL_TASKS, "bfcl-prompt": PROMPT_TASKS} and len(TOOL_TASKS) == 13
    assert tuple(KIND.outcome_labels("bfcl_parallel")) == LABELS and KIND.outcome_labels("gsm8k") == ()
    settings = TaskSettings(data_dir=data_dir, limit=3)
    (tools,) = KIND.load("bfcl_simple_java", settings)
    (prompt,) = KIND.load("bfcl_simple_java_prompt", settings)
    assert tools.requires == {GENERATE, TOOLS} and prompt.requires == {GENERATE} and len(tools.samples) == 3
    missing = missing_capabilities([tools, prompt], [("hf/local", frozenset({GENERATE}))])
    assert [(m.task, m.needs) for m in missing] == [("bfcl_simple_java", ("tools",))]
    with pytest.raises(TaskConfigError, match="no log-likelihood mode"):
        KIND.load("bfcl_multiple", TaskSettings(data_dir=data_dir, mode="loglikelihood"))


# -- tool calls in the core and the backend --------------------------------------------------------------------


def test_requests_without_tools_keep_their_keys_and_tools_join_the_payload_when_set() -> None:
    messages = (Message("user", "hi"),)
    plain = Request(model="openai/m", messages=messages, params=GenerationParams(max_tokens=5))
    canonical = json.dumps({"model": "openai/m", "payload": {"messages": [{"role": "user", "content": "hi"}],
                            "temperature": 0.0, "max_tokens": 5}}, sort_keys=True, separators=(",", ":"))  # fmt: skip
    assert plain.key == hashlib.sha256(canonical.encode()).hexdigest()  # the key before tools existed
    tools = json.dumps([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
    with_tools = Request(model="openai/m", messages=messages, params=GenerationParams(max_tokens=5), tools=tools)
    chosen = Request(model="openai/m", messages=messages, tools=tools, tool_choice='{"type": "function"}')
    assert with_tools.payload()["tools"][0]["function"]["name"] == "f" and with_tools.key != plain.key
    assert chosen.payload()["tool_choice"] == {"type": "function"} and chosen.key != with_tools.key
    with pytest.raises(ValueError, match="chat generation request"):
        Request(model="openai/m", prompt="p", tools=tools)
    with pytest.raises(ValueError, match="list of tool specs"):
        Request(model="openai/m", messages=messages, tools='{"a": 1}')


def test_tool_calls_are_stored_and_read_back_and_old_answers_still_load() -> None:
    call = ToolCall(name="f", arguments='{"a": 1}', id="call_0")
    response = Response(completions=(Completion(text="", tool_calls=(call,)),), latency_s=0.1)
    assert Response.from_json(response.to_json()) == response
    plain = Response(completions=(Completion(text="hi"),), latency_s=0.1)
    assert "tool_calls" not in plain.to_json()
    old = ('{"completions": [{"text": "hi", "reasoning": null, "finish_reason": "stop", "incomplete": false, '
           '"raw": null}], "latency_s": 0.1, "prompt_tokens": 3, "completion_tokens": 1, "reasoning_tokens": null, '
           '"attempts": 1}')  # fmt: skip
    assert Response.from_json(old).first == Completion(text="hi", finish_reason="stop")


def _ask(server: FakeOpenAIServer, request: Request, **opts: Any) -> Response:
    async def go() -> Response:
        async with OpenAIChatBackend(model="m", base_url=server.base_url, max_retries=0, **opts) as backend:
            return await backend.generate(request)

    return asyncio.run(go())


def test_the_backend_sends_tools_and_reads_tool_calls_bounded(tmp_path: Path) -> None:
    replies: dict[str, Any] = {}
    tools = json.dumps([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])

    def answer(body: dict[str, Any]) -> Any:
        return replies[body["messages"][-1]["content"]]

    replies.update({
        "one": {"content": None, "tool_calls": [{"name": "f", "arguments": '{"a": 1}'}]},
        "object": {"tool_calls": [{"name": "f", "arguments": {"a": [1, 2]}}]},
        "text": "no call needed",
        "not a list": {"tool_calls": {"name": "f"}},
        "bad name": {"tool_calls": [{"function": {"name": 7, "arguments": "{}"}}]},
        "too many": {"tool_calls": [{"name": "f", "arguments": "{}"}] * 200},
        "too long": {"tool_calls": [{"name": "f", "arguments": "x" * (2 << 20)}]},
    })  # fmt: skip

    def request(text: str) -> Request:
        return Request(model="openai/m", messages=(Message("user", text),), tools=tools)

    with running_server(answer_fn=answer) as server:
        got = _ask(server, request("one"), stream=True)
        assert (
            got.first.tool_calls == (ToolCall("f", '{"a": 1}', "call_0"),) and got.first.finish_reason == "tool_calls"
        )
        assert server.last_body is not None and server.last_body["tools"] == json.loads(tools)
        assert "stream" not in server.last_body  # tool requests are not streamed
        assert json.loads(_ask(server, request("object")).first.tool_calls[0].arguments) == {"a": [1, 2]}
        assert _ask(server, request("text")).first.tool_calls == ()
        for odd in ("not a list", "bad name"):
            with pytest.raises(ModelError, match="malformed response"):
                _ask(server, request(odd))
        for large in ("too many", "too long"):
            with pytest.raises(ReplyTooLarge):
                _ask(server, request(large))


# -- answers are data ------------------------------------------------------------------------------------------


def test_an_answer_that_tries_to_run_code_is_read_as_data_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    run = f"__import__('os').system('touch {marker}')"
    assert decode_python(f"[f(a={run})]") == [{"f": {"a": run}}]  # a call without keywords: kept as its text
    assert decode_python(f"[f(a=(lambda: {run})())]") == [{"f": {"a": f"(lambda: {run})()"}}]
    for text in (f"[f(a={run} + 1)]", f"[f(a=1 + {run})]", f"[f(a=[{run}][0] * 2)]", f"[f(a=lambda: {run})]"):
        with pytest.raises(DecodeError):  # BFCL would eval these; here they are refused
            decode_python(text)
    start = time.perf_counter()
    for text in (
        "[f(a=9**9**9)]",
        "[f(a='x' * 10**12)]",
        "[f(a=1 << 10**9)]",
        "[" * 100_000,
        "[f(a=" + "-" * 10**5 + "1)]",
    ):
        with pytest.raises(DecodeError):
            decode_python(text)
    assert time.perf_counter() - start < 2
    assert not marker.exists()
    assert decode_python("[f(a=2**10, b='a' + 'b', c=+5, d=x[0], e=g(k=1))]") == [
        {"f": {"a": 1024, "b": "ab", "c": -5, "d": "x[0]", "e": {"g": {"k": 1}}}}  # +5 is -5, as BFCL reads it
    ]


def test_outcome_labels_say_what_went_wrong(data_dir: Path) -> None:
    (item, *_), _ = load_category(data_dir, "parallel")
    named = variants(item)
    got = {
        v: judge(item, Completion(text="", tool_calls=as_tool_calls(item, c)), "tools").label for v, c in named.items()
    }
    assert got["right"] == got["swapped"] == "valid" and got["one_less"] == got["twice"] == "wrong_count"
    assert got["wrong_value"] == "wrong_value" and got["wrong_type"] == "wrong_type" and got["extra"] == "extra_arg"
    assert got["missing"] == "missing_arg" and got["wrong_function"] == "wrong_function"
    assert judge(item, Completion(text="no"), "tools").label == "no_call"
    assert judge(item, Completion(text="[f(a=1"), "prompt").label == "malformed"
    (irrelevant, *_), _ = load_category(data_dir, "irrelevance")
    assert judge(irrelevant, Completion(text="I cannot answer that."), "prompt").label == "abstained"
    assert judge(irrelevant, Completion(text="[f(a=1)]"), "prompt").label == "called"


# -- whole runs ------------------------------------------------------------------------------------------------

LIMIT = 30
INTENTS = ("right", "right", "wrong_value", "malformed", "prose")
"""What the scripted model answers for item k: ``INTENTS[k % 5]``; right answers are the only valid ones."""
EXPECTED_LABEL = {"right": "valid", "wrong_value": "wrong_value", "malformed": "malformed", "prose": "no_call"}


def _scripted(data_dir: Path, mode: str) -> Any:
    items, _ = load_category(data_dir, "simple_python")
    by_question = {item.messages[-1][1]: (k, item) for k, item in enumerate(items[:LIMIT])}

    def answer(body: dict[str, Any]) -> Any:
        k, item = by_question[body["messages"][-1]["content"]]
        intent = INTENTS[k % len(INTENTS)]
        sent_right = ("tools" in body) == (mode == "tools") and (body["messages"][0]["role"] == "system") == (
            mode == "prompt"
        )
        if intent == "prose" or not sent_right:
            return "I would need more information to call a function."
        calls = variants(item)[intent] if intent == "wrong_value" else right_calls(item)
        if mode == "prompt":
            text = as_text(item, calls)
            return text[:-2] if intent == "malformed" else text  # cut short: its closing ")]" lost
        tool_calls = [{"name": c.name, "arguments": c.arguments[:-2] if intent == "malformed" else c.arguments}
                      for c in as_tool_calls(item, calls)]  # fmt: skip
        return {"content": None, "tool_calls": tool_calls}

    return answer


@pytest.mark.parametrize("mode", ["tools", "prompt"])
def test_a_run_scores_exactly_what_the_scripted_model_meant(tmp_path: Path, data_dir: Path, mode: str) -> None:
    task = "bfcl_simple_python" + ("_prompt" if mode == "prompt" else "")
    results = tmp_path / "results"
    with running_server(answer_fn=_scripted(data_dir, mode)) as server:
        out = cli("run", "--benchmark", task, "--model", "openai/x", "--base-url", server.base_url,
                  "--limit", str(LIMIT), "--data-dir", str(data_dir), "--results-dir", str(results))  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    with sqlite3.connect(results / "tianping.sqlite") as db:
        rows = db.execute("select sample_id, score, extracted from samples where benchmark = ?", (task,)).fetchall()
        (score,) = db.execute(
            "select score from aggregates where benchmark = ? and group_kind = 'all'", (task,)
        ).fetchone()
    order = {f"simple_python_{k}": INTENTS[k % len(INTENTS)] for k in range(LIMIT)}
    assert len(rows) == LIMIT
    for sample_id, value, label in rows:
        assert (value == 1.0) == (order[sample_id] == "right"), sample_id
        assert label == EXPECTED_LABEL[order[sample_id]], (sample_id, label)
    assert score == pytest.approx(sum(i == "right" for i in order.values()) / LIMIT) == pytest.approx(0.4)
    assert "40.0" in out.stdout


def test_the_listing_facts_match_the_data(data_dir: Path) -> None:
    from tianping.agents.bfcl.data import CATEGORIES, load_category
    from tianping.agents.bfcl.task import KIND, task_name

    for category in CATEGORIES:
        items, _ = load_category(data_dir, category)
        for mode in ("tools", "prompt"):
            about = KIND.about(task_name(category, mode))
            assert about is not None and about.items == len(items) and about.dataset == "bfcl"
