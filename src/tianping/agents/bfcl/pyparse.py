"""A model's text answer in Python call syntax, read as data: ``[f(a=1), g(b="x")]`` -> ``[{"f": {"a": 1}},
{"g": {"b": "x"}}]``.

It follows BFCL's prompt-mode decoder (``default_decode_ast_prompting`` with ``ast_parse``): the same trimming and
bracketing, ``ast.parse`` of the result, keyword arguments only (positional ones are dropped), dotted names joined,
and each value read as BFCL reads it (a bare name is its text, a call without keywords its source, a call with
keywords a nested ``{name: {args}}``, ``-x`` the negated constant even for ``+x``, a subscript its source).

Nothing is ever evaluated. Where BFCL hands an arithmetic expression to ``eval``, only literal arithmetic is
computed here (constants, containers of them and the arithmetic operators, with bounds on the size of the result);
an expression that names anything or calls anything is refused, so that an answer like
``f(a=__import__("os").system("..."))`` stays data.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any


class DecodeError(ValueError):
    """The answer is not a list of calls in the syntax asked for."""


def bracketed(text: str) -> str:
    """The answer trimmed of backticks, newlines and spaces at its ends and wrapped in ``[...]`` (BFCL's
    ``default_decode_ast_prompting`` before parsing)."""
    text = text.strip("`\n ")
    if not text.startswith("["):
        text = "[" + text
    if not text.endswith("]"):
        text = text + "]"
    return text


def decode_python(text: str) -> list[dict[Any, Any]]:
    """The calls of an answer in Python syntax; ``DecodeError`` when it is not one."""
    source = bracketed(text).strip().strip("'")
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise DecodeError(f"not Python call syntax: {type(exc).__name__}: {exc}") from None
    body = tree.body
    try:
        if isinstance(body, ast.Call):
            return [_call(body)]
        if not isinstance(body, (ast.List, ast.Tuple, ast.Set)):
            raise DecodeError(f"expected a list of calls, got {type(body).__name__}")
        calls = []
        for element in body.elts:
            if not isinstance(element, ast.Call):
                raise DecodeError(f"expected a call in the list, got {type(element).__name__}")
            calls.append(_call(element))
        return calls
    except RecursionError:
        raise DecodeError("answer nested too deeply") from None


def _call(node: ast.Call) -> dict[Any, Any]:
    parts = []
    func: ast.expr = node.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    args: dict[Any, Any] = {}
    for keyword in node.keywords:
        args[keyword.arg] = _value(keyword.value)  # ``**x`` gives the key None, as BFCL's decoder does
    return {".".join(reversed(parts)): args}


def _value(node: ast.AST | None) -> Any:
    if isinstance(node, ast.Constant):
        return "..." if node.value is Ellipsis else node.value
    if isinstance(node, ast.UnaryOp):
        # BFCL negates the operand's constant whatever the operator (so ``+5`` reads as -5)
        operand = node.operand
        if not isinstance(operand, ast.Constant):
            raise DecodeError(f"unsupported operand of a unary operator: {type(operand).__name__}")
        value: Any = operand.value
        try:
            return -value
        except TypeError as exc:
            raise DecodeError(str(exc)) from None
    if isinstance(node, ast.List):
        return [_value(e) for e in node.elts]
    if isinstance(node, ast.Dict):
        out = {}
        for key, value in zip(node.keys, node.values, strict=True):
            k = _value(key)
            try:
                out[k] = _value(value)
            except TypeError as exc:  # an unhashable key
                raise DecodeError(str(exc)) from None
        return out
    if isinstance(node, ast.BinOp):
        return literal_arithmetic(node)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        return ast.unparse(node) if not node.keywords else _call(node)
    if isinstance(node, ast.Tuple):
        return tuple(_value(e) for e in node.elts)
    if isinstance(node, ast.Subscript):
        return ast.unparse(node.value) + "[" + ast.unparse(node.slice) + "]"
    raise DecodeError(f"unsupported value: {type(node).__name__}")


# -- literal arithmetic ----------------------------------------------------------------------------------------

_MAX_BITS = 100_000
"""Largest integer (in bits) a power or shift may produce."""
_MAX_LENGTH = 1_000_000
"""Longest string, bytes, list or tuple a repetition may produce."""

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
    ast.BitOr: operator.or_,
    ast.BitXor: operator.xor,
    ast.BitAnd: operator.and_,
}
_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Invert: operator.invert,
    ast.Not: operator.not_,
}


def literal_arithmetic(node: ast.BinOp) -> Any:
    """The value of an arithmetic expression over literals, as Python computes it; ``DecodeError`` for anything
    else (a name, a call, an attribute) and for results past the size bounds."""
    try:
        return _literal(node)
    except DecodeError:
        raise
    except (ArithmeticError, TypeError, ValueError, RecursionError, MemoryError) as exc:
        raise DecodeError(f"arithmetic failed: {type(exc).__name__}: {exc}") from None


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_literal(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _literal(node.left), _literal(node.right)
        _check_size(node.op, left, right)
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.List):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e) for e in node.elts)
    if isinstance(node, ast.Set):
        return {_literal(e) for e in node.elts}
    if isinstance(node, ast.Dict) and all(k is not None for k in node.keys):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values, strict=True) if k is not None}
    raise DecodeError(f"not literal arithmetic (never evaluated): {type(node).__name__}")


def _check_size(op: ast.operator, left: Any, right: Any) -> None:
    """Refuse what would take a long time or much memory to compute (``9**9**9``, ``"x" * 10**12``)."""
    if isinstance(op, ast.Pow) and isinstance(left, int) and isinstance(right, int) and right > 0:
        if abs(left) > 1 and right * math.log2(abs(left)) > _MAX_BITS:
            raise DecodeError("power too large to compute")
    elif isinstance(op, ast.LShift) and isinstance(right, int) and right > _MAX_BITS:
        raise DecodeError("shift too large to compute")
    elif isinstance(op, ast.Mult):
        for seq, count in ((left, right), (right, left)):
            sized = isinstance(seq, (str, bytes, list, tuple)) and isinstance(count, int)
            if sized and count * len(seq) > _MAX_LENGTH:
                raise DecodeError("repetition too long to compute")
    elif (
        isinstance(op, (ast.Add, ast.BitOr))
        and isinstance(left, (str, bytes, list, tuple))
        and len(left) + len(right) > _MAX_LENGTH
    ):
        raise DecodeError("result too long to compute")
