"""Synthetic model answers for BFCL items: right ones built from ``possible_answer`` and a spread of wrong and
broken ones, in both modes (tool calls for the tools API, text for prompt mode). Shared by the parity test (every
item) and the end-to-end test (a fake model's answers)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tianping.agents.bfcl.data import BfclItem, language_of
from tianping.core.types import Completion, ToolCall


@dataclass(frozen=True)
class Answer:
    variant: str
    completion: Completion


Calls = list[tuple[str, dict[str, Any]]]


def _chosen(accepted: list[Any]) -> tuple[bool, Any]:
    for value in accepted:
        if value != "":
            return True, value
    return False, None


def right_calls(item: BfclItem) -> Calls:
    """Each expected call with the first accepted value of each parameter (an optional-only one left out)."""
    calls = []
    for expected in item.ground_truth or ():
        name, params = next(iter(expected.items()))
        args = {}
        for param, accepted in params.items():
            present, value = _chosen(accepted)
            if present:
                args[param] = value
        calls.append((name, args))
    return calls


def _doc(item: BfclItem, name: str) -> dict[str, Any]:
    return next((d for d in item.functions if d["name"] == name), item.functions[0])


def _declared(item: BfclItem, name: str, param: str) -> str:
    return _doc(item, name)["parameters"]["properties"].get(param, {}).get("type", "string")


def _wrong(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 7
    if isinstance(value, str):
        return value + " zz"
    if isinstance(value, list):
        return [*value, "extra"]
    if isinstance(value, dict):
        return {**value, "extra_key": 1}
    return "wrong"


def _retyped(value: Any) -> Any:
    return 12345 if isinstance(value, str) else str(value)


def _shouted(value: Any) -> Any:
    """What BFCL's string normalisation forgives: case, spaces and ``,./-_*^``."""
    if isinstance(value, str):
        return value.upper().replace(" ", "  ") + "."
    if isinstance(value, list):
        return [_shouted(v) for v in value]
    return value


def variants(item: BfclItem) -> dict[str, Calls]:
    """Named call lists for an item with an answer key."""
    right = right_calls(item)
    out: dict[str, Calls] = {"right": right}
    if len(right) > 1:
        out["swapped"] = list(reversed(right))
        out["one_less"] = right[:-1]
    if not right:
        return out
    name, args = right[0]
    rest = right[1:]
    if args:
        first = next(iter(args))
        out["wrong_value"] = [(name, {**args, first: _wrong(args[first])}), *rest]
        out["wrong_type"] = [(name, {**args, first: _retyped(args[first])}), *rest]
        out["shouted"] = [(n, {k: _shouted(v) for k, v in a.items()}) for n, a in right]
        ints = {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in args.items()}
        if ints != args or any(type(ints[k]) is not type(args[k]) for k in args):
            out["int_for_float"] = [(name, ints), *rest]
    required = [p for p in _doc(item, name)["parameters"].get("required", []) if p in args]
    if required:
        out["missing"] = [(name, {k: v for k, v in args.items() if k != required[0]}), *rest]
    out["extra"] = [(name, {**args, "unexpected_param_q": 1}), *rest]
    out["wrong_function"] = [("not_a_listed_function", args), *rest]
    out["twice"] = [*right, right[0]]
    return out


def relevance_calls(item: BfclItem) -> dict[str, Calls]:
    """For (ir)relevance items: a call of the first function with its required parameters filled in."""
    if not item.functions:  # some live irrelevance items offer no function at all
        return {"call": [("lookup", {"query": "x"})], "empty_call": [("lookup", {})]}
    doc = item.functions[0]
    props = doc["parameters"]["properties"]
    args = {p: _placeholder(props.get(p, {}).get("type", "string")) for p in doc["parameters"].get("required", [])}
    return {"call": [(doc["name"], args)], "empty_call": [(doc["name"], {})]}


def _placeholder(kind: str) -> Any:
    return {"integer": 3, "float": 2.5, "boolean": True, "array": ["a"], "tuple": ["a"], "dict": {"k": "v"}}.get(
        kind, "x"
    )


# -- rendering -----------------------------------------------------------------------------------------------------


def _java_text(value: Any, declared: str, nested: bool = False) -> str:
    """A value as Java source (an answer key's string is already source, except for String parameters)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        items = ", ".join(_java_text(v, "any", True) for v in value)
        return f"new ArrayList<>(Arrays.asList({items}))" if declared == "ArrayList" else f"new Object[]{{{items}}}"
    if isinstance(value, dict):
        puts = " ".join(f'put("{k}", {_java_text(_chosen(v)[1] if isinstance(v, list) else v, "any", True)});'
                        for k, v in value.items())  # fmt: skip
        return f"new HashMap<String, Object>() {{{{ {puts} }}}}"
    text = str(value)
    if declared == "String" or (nested and not text.replace(".", "").isidentifier()):
        return json.dumps(text)
    return text


def _js_text(value: Any, declared: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_js_text(v, "String" if isinstance(v, str) else "any") for v in value) + "]"
    if isinstance(value, dict):
        pairs = ", ".join(
            f"{k}: {_js_text(_chosen(v)[1] if isinstance(v, list) else v, 'any')}" for k, v in value.items()
        )
        return "{" + pairs + "}"
    text = str(value)
    return json.dumps(text) if declared == "String" else text


def as_text(item: BfclItem, calls: Calls) -> str:
    """Calls in the item's language as a prompting model writes them."""
    language = language_of(item.category)
    parts = []
    for name, args in calls:
        if language == "python":
            rendered = ", ".join(f"{k}={v!r}" for k, v in args.items())
        elif language == "java":
            rendered = ", ".join(f"{k}={_java_text(v, _declared(item, name, k))}" for k, v in args.items())
        else:
            rendered = ", ".join(f"{k}={_js_text(v, _declared(item, name, k))}" for k, v in args.items())
        parts.append(f"{name}({rendered})")
    return "[" + ", ".join(parts) + "]"


def as_tool_calls(item: BfclItem, calls: Calls) -> tuple[ToolCall, ...]:
    """Calls as a tools-API reply: dotted names written with ``_``; Java/JavaScript values as source strings."""
    language = language_of(item.category)
    out = []
    for k, (name, args) in enumerate(calls):
        if language == "java":
            args = {p: v if isinstance(v, str) else _java_text(v, _declared(item, name, p)) for p, v in args.items()}
        elif language == "javascript":
            args = {p: v if isinstance(v, str) else _js_text(v, _declared(item, name, p)) for p, v in args.items()}
        out.append(ToolCall(name=name.replace(".", "_"), arguments=json.dumps(args), id=f"call_{k}"))
    return tuple(out)


def answers(item: BfclItem, mode: str) -> Iterator[Answer]:
    """Every synthetic answer for an item in a mode."""
    named = variants(item) if item.ground_truth is not None else relevance_calls(item)
    for variant, calls in named.items():
        if mode == "tools":
            yield Answer(variant, Completion(text="", tool_calls=as_tool_calls(item, calls)))
        else:
            yield Answer(variant, Completion(text=as_text(item, calls)))
    right = next(iter(named.values()))
    yield Answer("prose", Completion(text="I cannot help with that: no function fits the request."))
    if mode == "tools":
        calls = as_tool_calls(item, right)
        if calls:
            broken = ToolCall(calls[0].name, calls[0].arguments[:-1], calls[0].id)
            yield Answer("broken_json", Completion(text="", tool_calls=(broken, *calls[1:])))
            yield Answer("non_object_args", Completion(text="", tool_calls=(ToolCall(calls[0].name, "[1, 2]", "c"),)))
        yield Answer("empty_text", Completion(text=""))
    else:
        text = as_text(item, right)
        yield Answer("truncated", Completion(text=text[: max(1, len(text) * 2 // 3)]))
        yield Answer("fenced", Completion(text="```\n" + text + "\n```"))
        yield Answer("empty_list", Completion(text="[]"))
        if language_of(item.category) == "python":
            yield Answer("unbracketed", Completion(text=text[1:-1]))
            yield Answer("tuple_values", Completion(text=text.replace("[", "(").replace("]", ")")))


def _python_edges(name: str, args: dict[str, Any]) -> list[str]:
    first = next(iter(args), "a")
    rest = ", ".join(f"{k}={v!r}" for k, v in args.items() if k != first)
    rest = ", " + rest if rest else ""
    values = ["2*3", "'a'+'b'", "1/0", "+5", "-5", "-5.5", "not True", "~2", "x[0]", "lambda: 1", "math.pi",
              "{1, 2}", "f'{x}'", "...", "b'x'", "1j", "None", "(1, [2, {'k': (3,)}])", "2**-1", "[1]*3",
              "int('5')", "g(k=1)", "-'x'", "-x", "(1).real"]  # fmt: skip
    out = [f"[{name}({first}={v}{rest})]" for v in values]
    out += [f"[{name}(**{{'{first}': 1}})]", f"[{name}(1, 2{rest})]", f"{name}({first}=1{rest}) and more",
            f"'[{name}({first}=1{rest})]'", f"[{name}({first}=1{rest})][{name}()]", "[[f(a=1)]]"]  # fmt: skip
    return out


def _java_edges(text: str, name: str) -> list[str]:
    inner = text[1:-1]
    call = inner.split("), ")[0] + ")" if "), " in inner else inner
    return [
        f"[{inner};]", f"{inner};", f"Here is the call: {inner}", f"{inner}\n// done", f"/* call */ {inner}",
        inner.replace(", ", ",\n"), f"[{inner}; {inner}]", f"[{inner}, {inner}]", f"x = {inner}", f"{call}",
        "[f(a=1)]", "[f(a=123456)]", "[ f(a=12345) ]", "[f(\na=1)]", "[f(a=1); g(b=2)]", "[a.f(a=1)]",
        f"[{name}(a=new int[5])]", f"[{name}(a={{1, 2}})]", f"[{name}(a=(int) 3.5, b=x -> x + 1, c=Foo.class)]",
        f"[{name}(a=new HashMap<String, List<Integer>>(), b='c', c=10L, d=1.5f, e=null)]",
        f"[{name}(a=\"x\" b=true)]", f"[{name}(a=1, a=2)]", f"[{name}(x, y, a=1)]", f"[{name}(a=b=1)]",
        f"[{name}(a=foo( 1 ).bar, b=!flag, c=i++, d=a ? b : c, e=arr[0])]", f"[{name}(a=\"unterminated)]",
    ]  # fmt: skip


def _js_edges(text: str, name: str) -> list[str]:
    inner = text[1:-1]
    return [
        f"[{inner};]", f"{inner};", f"Here is the call: {inner}", f"{inner}\n// done", f"/* call */ {inner}",
        inner.replace(", ", ",\n"), f"[{inner}; {inner}]", f"[{inner}, {inner}]", f"x = {inner}",
        f"let x = 1; {inner}", f"[{inner}\n{inner}]", f"(({inner}))", f"await {inner}", f"new {inner}",
        f"[{name}(a=/ab+c/gi, b=`t ${{x + 1}}`, c=x => x * 2, d=async (y) => {{ await y; }})]",
        f"[{name}(a={{k: 1, 'j': [2, 3], [c]: 4, ...rest, m() {{ return 1; }}}}, b=[1, , 3, ...more])]",
        f"[{name}(a=false, true, x, 5, 'str', b=null, c=undefined, d=1n, e=0x1F)]",
        f"[{name}(a='it\\'s', b=\"say \\\"hi\\\"\", c=\"\", d='')]", f"[{name}(a=1, a=2)]",
        f"[{name}(a=typeof x, b=!y, c=-z, d=a ?? b, e=a?.b?.(c), f=i++, g=new Date(), h=a ? b : c)]",
        f"[{name}(a=function (x) {{ return x; }}, b=(1, 2))]", f"[{name}(a=\"unterminated)]", f"[{name}(a=)]",
        "[f(a=1)]", f"[{name}(a=1 b=2)]", f"[{name}]", f"[{name}.call(this, a=1)]",
    ]  # fmt: skip


def edge_answers(item: BfclItem) -> Iterator[Answer]:
    """Prompt-mode answers at the edges of each language's syntax (built from the item's first expected call,
    or its first function): what BFCL's parsers accept or refuse, and how they read odd values."""
    language = language_of(item.category)
    calls = right_calls(item) if item.ground_truth else []
    name = calls[0][0] if calls else (item.functions[0]["name"] if item.functions else "lookup")
    args = calls[0][1] if calls else {}
    text = as_text(item, calls[:1] or [(name, args)])
    if language == "python":
        edges = _python_edges(name, args)
    elif language == "java":
        edges = _java_edges(text, name)
    else:
        edges = _js_edges(text, name)
    for k, edge in enumerate(edges):
        yield Answer(f"edge_{k}", Completion(text=edge))
