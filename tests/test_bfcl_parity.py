"""BFCL parity with the ``bfcl-eval`` package itself: on every item of every category, in both modes, BFCL's own
evaluation (its handlers' ``decode_ast`` and ``ast_checker``, through ``eval_runner``'s per-entry functions) and
ours give the same verdict for each synthetic answer (right ones from ``possible_answer``, wrong values and types,
missing and extra arguments, swapped and missing parallel calls, wrong function, no call, broken JSON, truncated
and fenced text, and answers at the edges of Python, Java and JavaScript syntax); and the requests we send equal
the messages and tools BFCL's inference builds.

Skipped when bfcl-eval is not installed (it is not a dependency of tianping); CI installs it with its checker's
imports (see docs/sources/bfcl.md). Answers that BFCL would ``eval`` (arithmetic that calls or names something)
are left out: there our verdicts differ by design.
"""

from __future__ import annotations

import collections
import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bfcl_outputs import Answer, answers, edge_answers
from tianping.agents.bfcl.data import CATEGORIES, BfclItem, is_relevance, language_of, load_category
from tianping.agents.bfcl.scoring import judge
from tianping.agents.bfcl.task import BfclTask
from tianping.core.types import Completion, GenerationParams

FC_MODEL, PROMPT_MODEL = "gpt-4o-2024-11-20-FC", "gpt-4o-2024-11-20"
"""BFCL's configurations of one OpenAI model with native tool calls (dots in names as ``_``) and prompted."""


@pytest.fixture(scope="module")
def bfcl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    saved = {k: os.environ.get(k) for k in ("BFCL_PROJECT_ROOT", "OPENAI_API_KEY")}
    # importing bfcl_eval creates result folders under its project root: keep them out of site-packages
    os.environ["BFCL_PROJECT_ROOT"] = str(tmp_path_factory.mktemp("bfcl_root"))
    os.environ.setdefault("OPENAI_API_KEY", "unused")  # its handlers build an OpenAI client; nothing is sent
    try:
        try:
            from bfcl_eval.constants.enums import Language, ReturnFormat
            from bfcl_eval.eval_checker import eval_runner
        except Exception as exc:  # noqa: BLE001 - any failure to import the reference means: not installed here
            pytest.skip(f"bfcl-eval is not importable: {type(exc).__name__}: {exc}")
        handlers = {"tools": eval_runner.get_handler(FC_MODEL), "prompt": eval_runner.get_handler(PROMPT_MODEL)}
        formats = {
            "python": (Language.PYTHON, ReturnFormat.PYTHON),
            "java": (Language.JAVA, ReturnFormat.JAVA),
            "javascript": (Language.JAVASCRIPT, ReturnFormat.JAVASCRIPT),
        }
        yield eval_runner, handlers, formats
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def bfcl_verdict(bfcl: Any, item: BfclItem, completion: Completion, mode: str) -> bool:
    """BFCL's verdict on an answer given as its inference would have stored it (FC: ``[{name: arguments}]`` when
    the reply has tool calls, else the text; prompting: the text). An exception in its checker: not valid."""
    eval_runner, handlers, formats = bfcl
    model = FC_MODEL if mode == "tools" else PROMPT_MODEL
    if mode == "tools" and completion.tool_calls:
        result: Any = [{c.name: c.arguments} for c in completion.tool_calls]
    else:
        result = completion.text
    entry = {"id": item.id, "question": [[{"role": r, "content": c} for r, c in item.messages]],
             "function": copy.deepcopy(list(item.functions))}  # fmt: skip
    try:
        if is_relevance(item.category):
            out = eval_runner._evaluate_single_relevance_entry(handlers[mode], item.id, result, entry, model,
                                                               item.category)  # fmt: skip
        else:
            language, return_format = formats[language_of(item.category)]
            out = eval_runner._evaluate_single_ast_entry(
                handlers[mode], item.id, result, copy.deepcopy(list(item.ground_truth or ())), entry, model,
                item.category, language=language, return_format=return_format,
            )  # fmt: skip
    except Exception:  # noqa: BLE001 - the reference cannot check this answer: it is not a valid one
        return False
    return bool(out["valid"])


def _compare(bfcl: Any, item: BfclItem, mode: str, found: Iterator[Answer], report: list[str],
             tally: collections.Counter[tuple[str, str, bool]]) -> None:  # fmt: skip
    for answer in found:
        ours = judge(item, answer.completion, mode)
        theirs = bfcl_verdict(bfcl, item, answer.completion, mode)
        tally[(mode, answer.variant, ours.valid)] += 1
        if ours.valid != theirs:
            shown = answer.completion.text or [(c.name, c.arguments) for c in answer.completion.tool_calls]
            report.append(f"{item.id} {mode} {answer.variant}: ours {ours.valid} ({ours.label}), bfcl {theirs}: "
                          f"{str(shown)[:300]}")  # fmt: skip


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_item_gets_bfcls_verdict_in_both_modes(bfcl: Any, category: str, data_dir: Path) -> None:
    items, _ = load_category(data_dir, category)
    report: list[str] = []
    tally: collections.Counter[tuple[str, str, bool]] = collections.Counter()
    for item in items:
        for mode in ("tools", "prompt"):
            _compare(bfcl, item, mode, answers(item, mode), report, tally)
        _compare(bfcl, item, "prompt", edge_answers(item), report, tally)
    assert not report, f"{len(report)} verdicts differ from bfcl-eval's:\n" + "\n".join(report[:30])
    # the answers exercise both verdicts: most right answers pass, every wrong kind fails somewhere
    for mode in ("tools", "prompt"):
        if is_relevance(category):
            assert tally[(mode, "prose", True)] == len(items) * ("irrelevance" in category)
            continue
        right = tally[(mode, "right", True)] / len(items)
        assert right >= (0.8 if language_of(category) != "java" else 0.75), (mode, right)
        for wrong in ("wrong_value", "missing", "extra", "wrong_function", "prose"):
            assert tally[(mode, wrong, False)] > 0, (mode, wrong)
            assert tally[(mode, wrong, True)] <= 0.05 * len(items), (mode, wrong, tally[(mode, wrong, True)])


def _item(category: str, functions: list[dict[str, Any]], truth: list[dict[str, Any]] | None) -> BfclItem:
    return BfclItem(f"{category}_synthetic", category, (("user", "q"),), tuple(functions),
                    tuple(truth) if truth is not None else None, 1)  # fmt: skip


def _fn(name: str, **types: str) -> dict[str, Any]:
    props = {p: {"type": t, "description": p} for p, t in types.items()}
    return {
        "name": name,
        "description": "d",
        "parameters": {"type": "dict", "properties": props, "required": list(types)},
    }


SHORT_JAVA = ["[f(a=1)]", "[f(a=1);]", "[f(a=12345)]", "[f(a=123456)]", "[ f(a=12345) ]", "[f(\na=1)]",
              "[f(a=1); f(a=1)]", "[f(a=1, b=2)]", "[f(a=-1)]", "f(a=1)", "[f(a=0x1)]", "[f(a=1)] "]  # fmt: skip


def test_short_java_statements_and_greedy_parallel_pairing_match_bfcl(bfcl: Any) -> None:
    """The two places where BFCL's result is not what the syntax or the task alone would say: tree-sitter's
    error recovery refuses a short Java statement without ``;``, and parallel calls are paired greedily."""
    java = _item("simple_java", [_fn("f", a="integer")], [{"f": {"a": [1, 12345, 123456, -1]}}])
    for text in SHORT_JAVA:
        completion = Completion(text=text)
        assert judge(java, completion, "prompt").valid == bfcl_verdict(bfcl, java, completion, "prompt"), text
    assert not judge(java, Completion(text="[f(a=1)]"), "prompt").valid
    assert judge(java, Completion(text="[f(a=123456)]"), "prompt").valid

    # expected call 0 accepts a=1 or a=2, expected call 1 only a=1: the answer (a=1, a=2) has a one-to-one
    # pairing, but BFCL gives expected call 0 the first call that fits and then finds none for call 1
    parallel = _item("parallel", [_fn("f", a="integer")], [{"f": {"a": [1, 2]}}, {"f": {"a": [1]}}])
    greedy_trap = Completion(text="[f(a=1), f(a=2)]")
    assert bfcl_verdict(bfcl, parallel, greedy_trap, "prompt") is False
    assert judge(parallel, greedy_trap, "prompt").valid is False
    swapped = Completion(text="[f(a=2), f(a=1)]")
    assert bfcl_verdict(bfcl, parallel, swapped, "prompt") is judge(parallel, swapped, "prompt").valid is True


def test_requests_equal_bfcl_inference_messages_and_tools(bfcl: Any, data_dir: Path) -> None:
    """Every item's request carries what BFCL's OpenAI handlers send: the FC model's messages and tools (hinted
    docs through ``convert_to_tool``), the prompting model's system prompt
    (``system_prompt_pre_processing_chat_model``)."""
    from bfcl_eval.constants.enums import ModelStyle
    from bfcl_eval.constants.type_mappings import GORILLA_TO_OPENAPI
    from bfcl_eval.model_handler.utils import convert_to_tool, system_prompt_pre_processing_chat_model
    from bfcl_eval.utils import _func_doc_language_specific_pre_processing

    checked = 0
    for category in CATEGORIES:
        items, checksum = load_category(data_dir, category)
        tools_task, prompt_task = (
            BfclTask(category, "tools", items, checksum),
            BfclTask(category, "prompt", items, checksum),
        )
        for sample in tools_task.samples:
            item = tools_task._items[sample.id]
            docs = _func_doc_language_specific_pre_processing(copy.deepcopy(list(item.functions)), category)
            question = [{"role": r, "content": c} for r, c in item.messages]
            fc = tools_task.build_request(sample, "openai/m", GenerationParams()).payload()
            expected_tools = convert_to_tool(docs, GORILLA_TO_OPENAPI, ModelStyle.OPENAI_COMPLETIONS)
            assert fc["messages"] == question
            assert fc.get("tools", []) == json.loads(json.dumps(expected_tools)), sample.id
            prompted = prompt_task.build_request(sample, "openai/m", GenerationParams()).payload()
            expected = system_prompt_pre_processing_chat_model(copy.deepcopy(question), docs, item.id)
            assert prompted["messages"] == expected and "tools" not in prompted, sample.id
            checked += 1
    assert checked == 3641
