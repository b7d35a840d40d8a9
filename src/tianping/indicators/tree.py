"""The indicator tree's schema and loading; an invalid tree fails with its file and field named."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tianping.core.suggest import validation_problems


class IndicatorTreeError(ValueError):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BenchmarkRef(_Strict):
    benchmark: str = Field(min_length=1)
    weight: float = Field(1.0, gt=0)
    metric: str = "accuracy"
    invert: bool = False
    """The metric is a rate where lower is better (attack success, over-refusal): it counts as 1 - rate, shown as
    ``benchmark:1-metric``, its interval mirrored."""


class Capability(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str
    weight: float = Field(1.0, gt=0)
    benchmarks: list[BenchmarkRef] = Field(min_length=1)


class Dimension(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str
    name_zh: str | None = None
    weight: float = Field(1.0, gt=0)
    capabilities: list[Capability] = Field(default_factory=list)
    """Empty for a declared dimension that no benchmark measures yet."""


class IndicatorTree(_Strict):
    name: str
    version: str
    dimensions: list[Dimension] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> IndicatorTree:
        dims = [d.id for d in self.dimensions]
        if len(set(dims)) != len(dims):
            raise ValueError(f"dimension ids must be unique, got {dims}")
        for d in self.dimensions:
            caps = [c.id for c in d.capabilities]
            if len(set(caps)) != len(caps):
                raise ValueError(f"capability ids of dimension '{d.id}' must be unique, got {caps}")
        return self


def parse_tree(raw: object, source: str) -> IndicatorTree:
    if isinstance(raw, dict) and isinstance(raw.get("version"), int | float):
        raw = {**raw, "version": str(raw["version"])}
    try:
        return IndicatorTree.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{source}: field '{where}': {message}" for where, message in validation_problems(exc, IndicatorTree)
        ]
        raise IndicatorTreeError("\n".join(problems)) from None


def load_tree(path: Path | str) -> IndicatorTree:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise IndicatorTreeError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise IndicatorTreeError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_tree(raw, str(path))


def default_tree() -> IndicatorTree:
    text = resources.files("tianping.indicators").joinpath("default.yaml").read_text("utf-8")
    return parse_tree(yaml.safe_load(text), "tianping/indicators/default.yaml")
