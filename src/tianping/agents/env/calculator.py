"""A calculator with named memory: the model computes expressions and keeps results in variables.

Expressions go through ``tianping.agents.env.arith`` (a parser of our own, never ``eval``). The final state is the
variables, so a task asks for a value to be stored under a name and checks it there, not in the reply's text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tianping.agents.env.arith import CONSTANTS, FUNCTIONS, ArithmeticError_, evaluate, shown
from tianping.agents.env.base import CheckResult, Environment, SpecError, ToolError, same_number, tool

MAX_VARIABLES = 100
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")
_EXPRESSION = {"type": "string", "maxLength": 500,
               "description": "Arithmetic: numbers, variables, + - * / // % ^, parentheses, "
                              "sqrt abs round floor ceil min max log log10 exp, pi, e"}  # fmt: skip

TOOLS = (
    tool("calculate", "Compute an arithmetic expression (it may use stored variables).", {"expression": _EXPRESSION},
         ["expression"]),
    tool("set_variable", "Compute an expression and store its value under a name (letters, digits, _).",
         {"name": {"type": "string", "maxLength": 32}, "expression": _EXPRESSION}, ["name", "expression"]),
    tool("list_variables", "Show the stored variables and their values."),
    tool("delete_variable", "Forget a stored variable.", {"name": {"type": "string", "maxLength": 32}}, ["name"]),
)  # fmt: skip


class CalculatorEnv(Environment):
    """Seed: ``{"variables": {name: number}}``. Checks: ``{variable: name, equals: number, tolerance: 1e-9}`` (a
    relative or absolute difference), ``{variable: name, absent: true}``."""

    name = "calculator"
    TOOLS = TOOLS
    CHECK_KEYS = frozenset({"variable"})

    def __init__(self, seed: Mapping[str, Any] | None = None) -> None:
        super().__init__(seed)
        seed = seed or {}
        self.validate_seed(seed)
        self.variables: dict[str, float] = {k: float(v) for k, v in (seed.get("variables") or {}).items()}

    @classmethod
    def validate_seed(cls, seed: Mapping[str, Any]) -> None:
        unknown = set(seed) - {"variables"}
        if unknown:
            raise SpecError("seed", f"unknown keys {sorted(unknown)} (a calculator seed has variables)")
        variables = seed.get("variables") or {}
        if not isinstance(variables, Mapping) or not all(
            isinstance(k, str) and _NAME.match(k) and isinstance(v, int | float) and not isinstance(v, bool)
            for k, v in variables.items()
        ):
            raise SpecError("seed.variables", "must map names (letters, digits, _) to numbers")

    @classmethod
    def validate_check(cls, check: Mapping[str, Any]) -> None:
        super().validate_check(check)
        given = set(check) - {"variable"}
        if given not in ({"equals"}, {"equals", "tolerance"}, {"absent"}):
            raise SpecError("checks", f"a variable check takes equals (and tolerance) or absent, got {sorted(check)}")
        if "equals" in check and (not isinstance(check["equals"], int | float) or isinstance(check["equals"], bool)):
            raise SpecError("checks", "equals must be a number")

    def _compute(self, expression: str) -> float:
        try:
            return evaluate(expression, self.variables)
        except ArithmeticError_ as exc:
            raise ToolError(str(exc)) from None

    def tool_calculate(self, expression: str) -> str:
        return shown(self._compute(expression))

    def tool_set_variable(self, name: str, expression: str) -> str:
        if not _NAME.match(name):
            raise ToolError(f"{name!r} is not a name: letters, digits and _, not starting with a digit")
        if name in FUNCTIONS or name in CONSTANTS:
            raise ToolError(f"{name!r} is a built-in name")
        if name not in self.variables and len(self.variables) >= MAX_VARIABLES:
            raise ToolError(f"at most {MAX_VARIABLES} variables")
        value = self._compute(expression)
        self.variables[name] = value
        return f"{name} = {shown(value)}"

    def tool_list_variables(self) -> str:
        if not self.variables:
            return "no variables"
        return "\n".join(f"{name} = {shown(value)}" for name, value in sorted(self.variables.items()))

    def tool_delete_variable(self, name: str) -> str:
        if self.variables.pop(name, None) is None:
            raise ToolError(f"no variable named {name!r}")
        return f"deleted {name}"

    def check(self, check: Mapping[str, Any]) -> CheckResult:
        name = check["variable"]
        value = self.variables.get(name)
        if "absent" in check:
            ok = (value is None) == bool(check["absent"])
            found = "no such variable" if value is None else f"{name} = {shown(value)}"
            words = f"variable {name} {'is absent' if check['absent'] else 'exists'}"
            return CheckResult(words, ok, "" if ok else found)
        tolerance = float(check.get("tolerance", 1e-9))
        words = f"variable {name} equals {check['equals']}" + (
            f" (within {tolerance:g})" if "tolerance" in check else ""
        )
        if value is None:
            return CheckResult(words, False, "no such variable")
        ok = same_number(value, check["equals"], tolerance)
        return CheckResult(words, ok, "" if ok else f"{name} = {shown(value)}")
