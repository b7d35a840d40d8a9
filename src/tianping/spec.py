"""RunSpec: everything that defines a run, stored with it so that ``resume`` can redo it exactly.

Secrets are not part of a spec: a model names the environment variable its key is read from.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tianping.core import GenerationParams

DATA_DIR_ENV = "TIANPING_DATA_DIR"
RESULTS_DIR_ENV = "TIANPING_RESULTS_DIR"


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    """``openai/<name>``: the backend before the slash, the name the server knows after it."""
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(32, ge=1, le=4096)
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(6, ge=0, le=50)
    rpm: float | None = Field(None, gt=0)
    stream: bool = False

    @field_validator("id")
    @classmethod
    def _has_backend(cls, value: str) -> str:
        backend, sep, name = value.partition("/")
        if not sep or not backend or not name:
            raise ValueError(f"model id must look like 'openai/<model name>', got {value!r}")
        return value

    @property
    def backend(self) -> str:
        return self.id.partition("/")[0]

    @property
    def name(self) -> str:
        return self.id.partition("/")[2]


class GenerationOverrides(BaseModel):
    """Values given on the command line; None keeps the benchmark's own setting."""

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = Field(None, ge=1)
    seed: int | None = None
    stop: list[str] | None = None
    n: int | None = Field(None, ge=1)

    def apply(self, base: GenerationParams) -> GenerationParams:
        return GenerationParams(
            temperature=self.temperature if self.temperature is not None else base.temperature,
            top_p=self.top_p if self.top_p is not None else base.top_p,
            max_tokens=self.max_tokens if self.max_tokens is not None else base.max_tokens,
            seed=self.seed if self.seed is not None else base.seed,
            stop=tuple(self.stop) if self.stop is not None else base.stop,
            n=self.n if self.n is not None else base.n,
        )


class RunSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[ModelSpec] = Field(min_length=1)
    benchmarks: list[str] = Field(min_length=1)
    limit: int | None = Field(None, ge=1)
    data_dir: str
    generation: GenerationOverrides = Field(default_factory=GenerationOverrides)
    use_cache: bool = True
    unsafe_exec: bool = False
    """Run model-written code without an isolation mechanism (only with rlimits and timeouts)."""


def default_data_dir() -> Path | None:
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value) if value else None


def default_results_dir() -> Path:
    return Path(os.environ.get(RESULTS_DIR_ENV, "results"))
