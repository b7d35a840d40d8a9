"""BFCL's AST checker, in our words: is a decoded answer one of the calls ``possible_answer`` accepts?

A decoded answer is a list of ``{function name: {parameter: value}}``. The rules are BFCL's (``ast_checker``):

- simple: exactly one call, of the documented function (with ``.`` written ``_`` when the model was given the
  functions through a tools API, which forbids dots in names); every required parameter present; no parameter
  that is undocumented or absent from the answer key; each value of the documented type, then among the accepted
  values; every answer-key parameter present unless ``""`` is among its accepted values (optional);
- types: Python ``int`` is accepted for ``float``, a tuple is compared as a list; Java and JavaScript values are
  strings converted by the declared type first (``convert``); a value whose type is the answer key's rather than
  the declared one is a "variable" and compared as is; a list's items are type-checked one level deep;
- values: strings (and the strings inside lists and dicts) compared case-insensitively without spaces and
  ``,./-_*^``, with ``'`` read as ``"``; dicts key by key, lists of dicts item by item in order;
- multiple: one call, checked against the one expected function;
- parallel (and parallel multiple): as many calls as expected, in any order: each expected call, in the answer
  key's order, takes the first unmatched call that passes it. This greedy pairing is BFCL's, kept for parity; a
  true bipartite assignment could accept an answer that it refuses (``bipartite_valid`` says which).

A ``Verdict`` carries BFCL's ``error_type`` (``simple_function_checker:wrong_func_name``, ``type_error:simple``,
``value_error:string`` ...), from which the task's outcome labels are drawn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tianping.agents.bfcl.convert import JAVA_TYPES, JS_TYPES, Unsupported, java_value, js_value

PYTHON_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "float": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "any": str,
}
_PYTHON_NESTED = ("array", "tuple")
_CONVERTED_NESTED = ("Array", "ArrayList", "array")
_IGNORED = re.compile(r"[ \,\.\/\-\_\*\^]")


@dataclass(frozen=True)
class Verdict:
    valid: bool
    error: str = ""
    error_type: str = ""
    is_variable: bool = False
    inner: str = ""
    """For a parallel answer that no call matches: the error type of the first call tried."""


VALID = Verdict(True)


def normalized(text: str) -> str:
    """A string as BFCL compares it: no spaces or ``,./-_*^``, lower case, ``'`` as ``"``."""
    return _IGNORED.sub("", text).lower().replace("'", '"')


def _answer_type(accepted: Sequence[Any]) -> type | None:
    for value in accepted:
        if value != "":
            return type(value)
    return None


def check_type(param: str, value: Any, accepted: Sequence[Any], declared: str, expected: type,
               nested: type | None) -> Verdict:  # fmt: skip
    """BFCL's ``type_checker``: the declared type, or the answer key's (a "variable"); list items one level."""
    answer_type = _answer_type(accepted)
    is_variable = answer_type is not None and answer_type != expected
    failed: Verdict | None = None
    if type(value) == expected:  # noqa: E721 - exact types, as BFCL compares them (bool is not int)
        if nested is None:
            return Verdict(True, is_variable=is_variable)
        for option in accepted:
            ok = True
            if isinstance(option, list):
                items: Any = value  # a list: its type was just checked
                for item in items:
                    if not check_type(param, item, option, str(nested), nested, None).valid:
                        ok = False
                        break
            if ok:
                return Verdict(True, is_variable=is_variable)
        failed = Verdict(False, f"nested type check failed for {param!r}", "type_error:nested")
    if answer_type is not None and type(value) == answer_type:  # noqa: E721
        return failed or Verdict(True, is_variable=True)
    return Verdict(False, f"incorrect type for {param!r}: expected {declared}, got {type(value).__name__}",
                   "type_error:simple")  # fmt: skip


def check_string(param: str, value: str, accepted: Sequence[Any]) -> Verdict:
    if normalized(value) in [normalized(a) for a in accepted if type(a) == str]:  # noqa: E721
        return VALID
    return Verdict(False, f"invalid value for {param!r}: {value!r}", "value_error:string")


def check_list(param: str, value: Sequence[Any], accepted: Sequence[Any]) -> Verdict:
    mine = [normalized(v) if type(v) == str else v for v in value]  # noqa: E721
    options = [[normalized(x) if type(x) == str else x for x in option] for option in accepted]  # noqa: E721
    if mine in options:
        return VALID
    return Verdict(False, f"invalid value for {param!r}: {value!r}", "value_error:list/tuple")


def check_dict(param: str, value: Mapping[Any, Any], accepted: Sequence[Any]) -> Verdict:
    verdict = Verdict(False, f"no accepted dict for {param!r}", "dict_checker:unclear")
    for option in accepted:
        if option == "":
            continue
        verdict = _dict_against(value, option)
        if verdict.valid:
            return VALID
    return verdict


def _dict_against(value: Mapping[Any, Any], option: Any) -> Verdict:
    for key, item in value.items():
        if key not in option:
            return Verdict(False, f"unexpected dict key {key!r}", "value_error:dict_key")
        mine = normalized(item) if type(item) == str else item  # noqa: E721
        allowed = [normalized(a) if type(a) == str else a for a in option[key]]  # noqa: E721
        if mine not in allowed:
            return Verdict(False, f"invalid value for dict key {key!r}: {item!r}", "value_error:dict_value")
    for key, allowed in option.items():
        if key not in value and "" not in allowed:
            return Verdict(False, f"missing dict key {key!r}", "value_error:dict_key")
    return VALID


def check_list_of_dicts(param: str, value: Sequence[Any], accepted: Sequence[Any]) -> Verdict:
    verdict = Verdict(False, f"no accepted list of dicts for {param!r}", "list_dict_checker:unclear")
    for option in accepted:
        if len(value) != len(option):
            verdict = Verdict(False, "wrong number of dicts in the list", "value_error:list_dict_count")
            continue
        ok = True
        for k in range(len(value)):
            verdict = check_dict(param, value[k], [option[k]])
            if not verdict.valid:
                ok = False
                break
        if ok:
            return VALID
    return verdict


def expected_name(name: str, dots_as_underscores: bool) -> str:
    return name.replace(".", "_") if dots_as_underscores and "." in name else name


def check_call(doc: Mapping[str, Any], call: Mapping[Any, Any], answer: Mapping[str, Any], language: str,
               dots_as_underscores: bool) -> Verdict:  # fmt: skip
    """One decoded call against one expected call of the answer key (BFCL's ``simple_function_checker``)."""
    accepted_params: Mapping[str, Any] = next(iter(answer.values()))
    name = expected_name(doc["name"], dots_as_underscores)
    documented = doc["parameters"]["properties"]
    if name not in call:
        return Verdict(False, f"function {name!r} not called", "simple_function_checker:wrong_func_name")
    given = call[name]
    for param in doc["parameters"]["required"]:
        if param not in given:
            return Verdict(False, f"missing required parameter {param!r}", "simple_function_checker:missing_required")
    for param, value in given.items():
        if param not in documented or param not in accepted_params:
            return Verdict(False, f"unexpected parameter {param!r}", "simple_function_checker:unexpected_param")
        verdict = _check_param(param, value, documented[param], accepted_params[param], language)
        if not verdict.valid:
            return verdict
    for param, allowed in accepted_params.items():
        if param not in given and "" not in allowed:
            return Verdict(False, f"parameter {param!r} not given and not optional",
                           "simple_function_checker:missing_optional")  # fmt: skip
    return VALID


def _check_param(param: str, value: Any, details: Mapping[str, Any], accepted: Sequence[Any], language: str) -> Verdict:
    declared = details["type"]
    nested: type | None = None
    try:
        if language in ("java", "javascript"):
            types, convert = (JAVA_TYPES, java_value) if language == "java" else (JS_TYPES, js_value)
            if declared not in types:
                raise Unsupported(f"unsupported {language} type {declared}")
            expected = types[declared]
            if type(value) != str:  # noqa: E721
                return Verdict(False, f"incorrect type for {param!r}: expected String, got {type(value).__name__}",
                               "type_error:java" if language == "java" else "type_error:js")  # fmt: skip
            if declared in _CONVERTED_NESTED:
                inner = details["items"]["type"]
                nested = types[inner]
                value = convert(value, declared, inner)
            else:
                value = convert(value, declared)
        else:
            if declared not in PYTHON_TYPES:
                raise Unsupported(f"unsupported Python type {declared}")
            expected = PYTHON_TYPES[declared]
            if declared in _PYTHON_NESTED:
                nested = PYTHON_TYPES[details["items"]["type"]]
    except (Unsupported, KeyError) as exc:
        # BFCL stops with an exception here; an answer it cannot check is not a valid one
        return Verdict(False, f"cannot check {param!r}: {exc}", "type_error:unsupported")
    if declared == "tuple" and type(value) == tuple:  # noqa: E721 - the answer key's tuples were lists in JSON
        value = list(value)
    if language == "python" and declared == "float" and type(value) == int:  # noqa: E721
        value = float(value)
    typed = check_type(param, value, accepted, declared, expected, nested)
    if not typed.valid:
        return typed
    if not typed.is_variable:
        if expected is dict:
            return check_dict(param, value, accepted)
        if expected is list and nested is dict:
            return check_list_of_dicts(param, value, accepted)
        if expected is str:
            return check_string(param, value, accepted)
        if expected is list:
            return check_list(param, value, accepted)
    if value not in accepted:
        return Verdict(False, f"invalid value for {param!r}: {value!r}", "value_error:others")
    return VALID


def _doc_named(docs: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    return next((d for d in docs if d["name"] == name), None)


def check_answer(docs: Sequence[Mapping[str, Any]], calls: Sequence[Mapping[Any, Any]],
                 truth: Sequence[Mapping[str, Any]], category: str, language: str,
                 dots_as_underscores: bool) -> Verdict:  # fmt: skip
    """A decoded answer against the answer key, by the category's rule (BFCL's ``ast_checker``)."""
    try:
        return _check_answer(docs, calls, truth, category, language, dots_as_underscores)
    except (AttributeError, TypeError, KeyError, IndexError) as exc:
        # shapes BFCL's checker would stop on (a list item that is not a dict where dicts are expected): not valid
        return Verdict(False, f"cannot check the answer: {type(exc).__name__}: {exc}", "checker_error")


def _check_answer(docs: Sequence[Mapping[str, Any]], calls: Sequence[Mapping[Any, Any]],
                  truth: Sequence[Mapping[str, Any]], category: str, language: str,
                  dots_as_underscores: bool) -> Verdict:  # fmt: skip
    if "parallel" in category:
        return _parallel(docs, calls, truth, language, dots_as_underscores)
    if "multiple" in category:
        if len(calls) != len(truth):
            return Verdict(False, "wrong number of calls", "multiple_function_checker:wrong_count")
        doc = _doc_named(docs, next(iter(truth[0])))
        if doc is None:
            return Verdict(False, "the expected function is not documented", "multiple_function_checker:no_doc")
        return check_call(doc, calls[0], truth[0], language, dots_as_underscores)
    if len(calls) != 1:
        return Verdict(False, "wrong number of calls", "simple_function_checker:wrong_count")
    return check_call(docs[0], calls[0], truth[0], language, dots_as_underscores)


def _parallel(docs: Sequence[Mapping[str, Any]], calls: Sequence[Mapping[Any, Any]], truth: Sequence[Mapping[str, Any]],
              language: str, dots_as_underscores: bool) -> Verdict:  # fmt: skip
    if len(calls) != len(truth):
        return Verdict(False, "wrong number of calls", "parallel_function_checker_no_order:wrong_count")
    matched: set[int] = set()
    for k, expected in enumerate(truth):
        doc = _doc_named(docs, next(iter(expected)))
        if doc is None:
            return Verdict(
                False, "the expected function is not documented", "parallel_function_checker_no_order:no_doc"
            )
        verdict, first_failure = VALID, None
        for index in range(len(calls)):
            if index in matched:
                continue
            verdict = check_call(doc, calls[index], expected, language, dots_as_underscores)
            if verdict.valid:
                matched.add(index)
                break
            first_failure = first_failure or verdict
        if not verdict.valid:
            # the first call tried is the one in the expected call's place when the answer keeps the key's order
            shown = first_failure or verdict
            return Verdict(False, f"no call matches expected call {k}: {shown.error}",
                           "parallel_function_checker_no_order:cannot_find_match", inner=shown.error_type)  # fmt: skip
    return VALID


def bipartite_valid(docs: Sequence[Mapping[str, Any]], calls: Sequence[Mapping[Any, Any]],
                    truth: Sequence[Mapping[str, Any]], language: str, dots_as_underscores: bool) -> bool:  # fmt: skip
    """Whether some one-to-one pairing of calls and expected calls passes every pair (augmenting paths)."""
    if len(calls) != len(truth):
        return False
    passes = []
    for expected in truth:
        doc = _doc_named(docs, next(iter(expected)))
        passes.append([doc is not None and check_call(doc, c, expected, language, dots_as_underscores).valid
                       for c in calls])  # fmt: skip
    owner: dict[int, int] = {}

    def assign(k: int, seen: set[int]) -> bool:
        for index, ok in enumerate(passes[k]):
            if ok and index not in seen:
                seen.add(index)
                if index not in owner or assign(owner[index], seen):
                    owner[index] = k
                    return True
        return False

    return all(assign(k, set()) for k in range(len(truth)))
