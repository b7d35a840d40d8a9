"""One BFCL answer judged: decoded as BFCL decodes it in the item's mode, checked, and given an outcome label.

- ``tools`` mode: the calls are the reply's tool calls, each ``{name: json.loads(arguments)}`` (BFCL's FC
  ``decode_ast``); a reply without tool calls is no call (BFCL's decoder fails on the text, or reads an empty
  text as ``[]``: neither is a valid answer).
- ``prompt`` mode: the reply's text read in the item's language (``pyparse`` / ``javaparse`` / ``jsparse``).
- (ir)relevance: whether any call was decoded (a decoding failure or an empty list is no call; in prompt mode
  the text is read as Python whatever the category, as BFCL does).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tianping.agents.bfcl.checker import Verdict, check_answer
from tianping.agents.bfcl.data import BfclItem, is_relevance, language_of
from tianping.agents.bfcl.javaparse import decode_java
from tianping.agents.bfcl.jsparse import decode_javascript
from tianping.agents.bfcl.pyparse import DecodeError, decode_python
from tianping.core.types import Completion

MODES = ("tools", "prompt")
LABELS = (
    "valid",
    "wrong_function",
    "wrong_count",
    "missing_arg",
    "extra_arg",
    "wrong_type",
    "wrong_value",
    "malformed",
    "no_call",
    "abstained",
    "called",
)
"""Outcome labels: a valid answer; which check failed; a reply that is not calls (malformed) or makes none
(no_call); for irrelevance the right abstention (abstained) or a call made anyway (called), for relevance a call
made (called) or not (no_call)."""


@dataclass(frozen=True)
class Judgement:
    valid: bool
    label: str
    detail: str
    calls: Any = None
    """The decoded answer (for the record)."""


def decode(completion: Completion, mode: str, language: str) -> Any:
    """The answer as BFCL's decoder returns it (a list of ``{name: arguments}`` when well formed); DecodeError
    when it is not calls at all."""
    if mode == "tools":
        if not completion.tool_calls:
            if completion.text == "":
                return []
            raise DecodeError("no tool call (a text reply)")
        calls = []
        for call in completion.tool_calls:
            try:
                calls.append({call.name: json.loads(call.arguments)})
            except (ValueError, RecursionError) as exc:
                raise DecodeError(f"arguments of {call.name!r} are not JSON: {exc}") from None
        return calls
    if language == "java":
        return decode_java(completion.text)
    if language == "javascript":
        return decode_javascript(completion.text)
    return decode_python(completion.text)


def is_call_list(decoded: Any) -> bool:
    """BFCL's ``is_function_calling_format_output``: a list of one-key dicts whose value is a dict."""
    if type(decoded) is not list:
        return False
    return all(type(c) is dict and len(c) == 1 and type(next(iter(c.values()))) is dict for c in decoded)


def makes_a_call(decoded: Any) -> bool:
    """Not BFCL's ``is_empty_output``: a well-formed, non-empty list of calls."""
    return is_call_list(decoded) and len(decoded) > 0 and not (len(decoded) == 1 and len(decoded[0]) == 0)


def judge(item: BfclItem, completion: Completion, mode: str) -> Judgement:
    language = language_of(item.category)
    if is_relevance(item.category):
        try:
            decoded = decode(completion, mode, "python")
            called = makes_a_call(decoded)
        except DecodeError as exc:
            decoded, called = str(exc), False
        if "irrelevance" in item.category:
            return Judgement(not called, "called" if called else "abstained", "", decoded)
        return Judgement(called, "called" if called else "no_call", "", decoded)
    try:
        decoded = decode(completion, mode, language)
    except DecodeError as exc:
        # a text without a parenthesis did not try to call anything: prose, a refusal, a question back
        no_call = not completion.tool_calls and (mode == "tools" or "(" not in completion.text)
        return Judgement(False, "no_call" if no_call else "malformed", str(exc))
    if not is_call_list(decoded):
        return Judgement(False, "malformed", "not a list of calls", decoded)
    if not decoded:
        return Judgement(False, "no_call", "no call made", decoded)
    assert item.ground_truth is not None
    verdict = check_answer(item.functions, decoded, item.ground_truth, item.category, language, mode == "tools")
    return Judgement(verdict.valid, label_of(verdict), verdict.error, decoded)


def label_of(verdict: Verdict) -> str:
    if verdict.valid:
        return "valid"
    kind = verdict.inner or verdict.error_type
    if kind.endswith("wrong_count"):
        return "wrong_count"
    if kind.endswith("wrong_func_name"):
        return "wrong_function"
    if kind.endswith(("missing_required", "missing_optional")):
        return "missing_arg"
    if kind.endswith("unexpected_param"):
        return "extra_arg"
    if kind.startswith("type_error"):
        return "wrong_type"
    return "wrong_value"


def rendered(calls: Any) -> str:
    """The decoded calls as compact text for the record (not for parsing)."""
    if isinstance(calls, Sequence) and not isinstance(calls, str):
        try:
            return json.dumps(calls, ensure_ascii=False, default=repr)
        except (TypeError, ValueError):
            pass
    return repr(calls)
