"""Named groups of tasks (``tianping run --suite core-zh``), read from the bundled ``suites.yaml``.

A suite is a standard evaluation: its tasks are chosen so that together they measure dimensions of the
indicator tree (``indicators/default.yaml``), which is what the report rolls them up into. The tests hold
each suite to that: every task it names exists and is counted somewhere in the tree.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError

SOURCE = "tianping/benchmarks/suites.yaml"


class SuiteError(ValueError):
    pass


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str
    tasks: list[str] = Field(min_length=1)
    """Task names (a benchmark, a variant, or another kind's task such as ``safety``), run in this order."""


class _Suites(RootModel[dict[str, Suite]]):
    pass


def parse_suites(text: str, source: str) -> dict[str, Suite]:
    """Suites from YAML text; errors name ``source`` and the field."""
    try:
        raw = yaml.safe_load(text)
        suites = _Suites.model_validate(raw or {}).root
    except yaml.YAMLError as exc:
        raise SuiteError(f"{source}: invalid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise SuiteError(f"{source}: {problems}") from None
    for name, suite in suites.items():
        repeated = sorted({t for t in suite.tasks if suite.tasks.count(t) > 1})
        if repeated:
            raise SuiteError(f"{source}: suite '{name}' names {', '.join(repeated)} more than once")
    return suites


@cache
def bundled_suites() -> dict[str, Suite]:
    text = resources.files("tianping.benchmarks").joinpath("suites.yaml").read_text("utf-8")
    return parse_suites(text, SOURCE)
