"""A safe arithmetic parser: numbers, variables, + - * / // % ^ **, parentheses and a few functions.

The expression is tokenised and parsed by recursive descent into a value directly: nothing is evaluated by Python
(no ``eval``, no ``ast``), names are looked up only among the given variables and the listed functions, and sizes
are bounded (length, nesting, exponent, result) so that no expression can take long or grow without end.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MAX_CHARS = 500
MAX_DEPTH = 50
MAX_EXPONENT = 1000.0


class ArithmeticError_(ValueError):
    """An expression that cannot be computed; ``str(exc)`` says why."""


def _round(x: float, digits: float = 0) -> float:
    """Half away from zero, on the number as written (``round(2.675, 2)`` is 2.68, as a person expects)."""
    if not float(digits).is_integer() or not -12 <= digits <= 12:
        raise ArithmeticError_("round() takes a whole number of digits between -12 and 12")
    try:
        quantum = Decimal(1).scaleb(-int(digits))
        return float(Decimal(repr(x)).quantize(quantum, rounding=ROUND_HALF_UP))
    except InvalidOperation:
        raise ArithmeticError_("round(): the number is too large") from None


def _log(x: float, base: float | None = None) -> float:
    if x <= 0 or (base is not None and (base <= 0 or base == 1)):
        raise ArithmeticError_("log() needs a positive number (and a positive base other than 1)")
    return math.log(x) if base is None else math.log(x, base)


def _sqrt(x: float) -> float:
    if x < 0:
        raise ArithmeticError_("sqrt() of a negative number")
    return math.sqrt(x)


FUNCTIONS: dict[str, tuple[Callable[..., float], int, int]] = {
    "sqrt": (_sqrt, 1, 1),
    "abs": (abs, 1, 1),
    "round": (_round, 1, 2),
    "floor": (lambda x: float(math.floor(x)), 1, 1),
    "ceil": (lambda x: float(math.ceil(x)), 1, 1),
    "min": (min, 1, 50),
    "max": (max, 1, 50),
    "log": (_log, 1, 2),
    "log10": (lambda x: _log(x, 10), 1, 1),
    "exp": (lambda x: math.exp(min(x, 700.0)) if x <= 700 else math.inf, 1, 1),
}
"""name -> (function, fewest arguments, most arguments)."""
CONSTANTS = {"pi": math.pi, "e": math.e}

_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>\*\*|//|[-+*/%^(),]))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, at = [], 0
    text = text.rstrip()
    while at < len(text):
        found = _TOKEN.match(text, at)
        if found is None or found.end() == at:
            raise ArithmeticError_(f"unexpected character {text[at:].lstrip()[:1]!r} at position {at + 1}")
        kind = found.lastgroup or ""
        out.append((kind, found.group(kind)))
        at = found.end()
    return out


class _Parser:
    def __init__(self, text: str, variables: Mapping[str, float]):
        self.tokens = _tokens(text)
        self.at = 0
        self.variables = variables
        self.depth = 0

    def peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise ArithmeticError_("the expression ends too early")
        token = self.tokens[self.at]
        self.at += 1
        return token

    def expect(self, op: str) -> None:
        kind, value = self.take()
        if value != op:
            raise ArithmeticError_(f"expected {op!r}, found {value!r}")

    def expression(self) -> float:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ArithmeticError_(f"the expression nests deeper than {MAX_DEPTH} levels")
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            right = self.term()
            value = value + right if op == "+" else value - right
        self.depth -= 1
        return value

    def term(self) -> float:
        value = self.unary()
        while self.peek() in ("*", "/", "//", "%"):
            op = self.take()[1]
            right = self.unary()
            if op == "*":
                value = value * right
            elif right == 0:
                raise ArithmeticError_("division by zero")
            elif op == "/":
                value = value / right
            elif op == "//":
                value = float(math.floor(value / right))
            else:
                value = value % right  # the sign of the divisor, as Python and most calculators give it
        return value

    def unary(self) -> float:
        if self.peek() in ("+", "-"):
            op = self.take()[1]
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ArithmeticError_(f"the expression nests deeper than {MAX_DEPTH} levels")
            value = self.unary()
            self.depth -= 1
            return -value if op == "-" else value
        return self.power()

    def power(self) -> float:
        base = self.atom()
        if self.peek() in ("^", "**"):
            self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ArithmeticError_(f"the expression nests deeper than {MAX_DEPTH} levels")
            exponent = self.unary()  # right-associative: 2^3^2 is 2^9
            self.depth -= 1
            if abs(exponent) > MAX_EXPONENT:
                raise ArithmeticError_(f"exponents above {MAX_EXPONENT:g} are not computed")
            if base < 0 and not float(exponent).is_integer():
                raise ArithmeticError_("a negative number to a fractional power")
            if base == 0 and exponent < 0:
                raise ArithmeticError_("division by zero")
            try:
                return math.pow(base, exponent)
            except OverflowError:
                raise ArithmeticError_("the result is too large") from None
        return base

    def atom(self) -> float:
        kind, value = self.take()
        if kind == "number":
            return float(value)
        if value == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        if kind == "name":
            if self.peek() == "(":
                return self.call(value)
            if value in self.variables:
                return float(self.variables[value])
            if value in CONSTANTS:
                return CONSTANTS[value]
            if value in FUNCTIONS:
                raise ArithmeticError_(f"{value} is a function: write {value}(...)")
            raise ArithmeticError_(f"unknown name {value!r} (variables: {', '.join(self.variables) or 'none'})")
        raise ArithmeticError_(f"unexpected {value!r}")

    def call(self, name: str) -> float:
        if name not in FUNCTIONS:
            raise ArithmeticError_(f"unknown function {name!r} (functions: {', '.join(FUNCTIONS)})")
        function, fewest, most = FUNCTIONS[name]
        self.expect("(")
        args = [] if self.peek() == ")" else [self.expression()]
        while self.peek() == ",":
            self.take()
            args.append(self.expression())
        self.expect(")")
        if not fewest <= len(args) <= most:
            raise ArithmeticError_(f"{name}() takes {fewest}{'' if fewest == most else f' to {most}'} arguments")
        try:
            return float(function(*args))
        except (OverflowError, ValueError) as exc:
            if isinstance(exc, ArithmeticError_):
                raise
            raise ArithmeticError_(f"{name}(): {exc}") from None


def evaluate(text: str, variables: Mapping[str, float] | None = None) -> float:
    """The value of an arithmetic expression; ``ArithmeticError_`` for anything that is not one."""
    if not isinstance(text, str) or not text.strip():
        raise ArithmeticError_("an empty expression")
    if len(text) > MAX_CHARS:
        raise ArithmeticError_(f"expressions are at most {MAX_CHARS} characters")
    parser = _Parser(text, variables or {})
    try:
        value = parser.expression()
    except (OverflowError, ZeroDivisionError) as exc:  # an infinity met on the way (floor of 1e308 * 10)
        raise ArithmeticError_(f"the result is not a finite number ({exc})") from None
    if parser.at != len(parser.tokens):
        raise ArithmeticError_(f"unexpected {parser.tokens[parser.at][1]!r} after a complete expression")
    if not math.isfinite(value):
        raise ArithmeticError_("the result is not a finite number")
    return value


def shown(value: float) -> str:
    """A value as the calculator answers it: whole numbers without a fraction, others to 12 significant digits."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.12g}"
