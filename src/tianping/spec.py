"""RunSpec: everything that defines a run, stored with it so that ``resume`` can redo it exactly.

Secrets are not part of a spec: a model names the environment variable its key is read from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tianping.core import GenerationParams

DATA_DIR_ENV = "TIANPING_DATA_DIR"
RESULTS_DIR_ENV = "TIANPING_RESULTS_DIR"


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    """``openai/<name>``, ``hf/<checkpoint dir>`` or ``ref/<bundled model>``: the backend before the slash."""
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(32, ge=1, le=4096)
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(6, ge=0, le=50)
    rpm: float | None = Field(None, gt=0)
    stream: bool = False
    # local models (hf/<path>, ref/<name>); ignored by remote backends
    device: str = "auto"
    """``auto`` (CUDA, else MPS, else CPU), or a torch device such as ``cpu`` or ``cuda:1``."""
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    batch_size: int = Field(16, ge=1, le=4096)
    """Most sequences per model call; halved automatically when the device runs out of memory."""
    chat_template: bool | None = None
    """Render chat requests with the tokenizer's template: None uses it when there is one, False never
    (plain ``Role: content`` text), True requires it."""
    max_length: int | None = Field(None, ge=2)
    """The model window in tokens; None reads it from the model config as lm-eval does."""

    @field_validator("id")
    @classmethod
    def _has_backend(cls, value: str) -> str:
        backend, sep, name = value.partition("/")
        if not sep or not backend or not name:
            raise ValueError(f"model id must look like 'openai/<name>', 'hf/<path>' or 'ref/<name>', got {value!r}")
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


class SafetyOptions(BaseModel):
    """Which attacks and risk categories a safety run covers, and how many samples it may send."""

    model_config = ConfigDict(extra="forbid")

    attacks: list[str] | None = None
    """Attack method names or group names; None: every method."""
    categories: list[str] | None = None
    """Taxonomy ids or prefixes (``redline``, ``ethics.discrimination``); None: all."""
    langs: list[str] | None = None
    """Seed languages (``en``, ``zh``); None: both."""
    budget: int = Field(2000, ge=1)
    """Most samples (seed x attack pairs) the harmful-prompt task sends; seeds are drawn stratified over leaves."""
    overrefusal_budget: int = Field(300, ge=0)
    """Most benign look-alike prompts sent to measure over-refusal."""
    seed: int = 0
    """Seed for sampling prompts and for randomised attacks (canaries, templates)."""


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
    safety: SafetyOptions | None = None
    """How the safety suite is sized and filtered (only for the ``safety*`` benchmarks)."""
    judge: ModelSpec | None = None
    """The LLM judge used by scorers that need one (safety stage 2); None: rules only."""
    mode: Literal["generate", "loglikelihood"] | None = None
    """How benchmarks are asked: ``generate`` (answers are generated and extracted) or ``loglikelihood``
    (each choice's log-likelihood is scored, as lm-evaluation-harness does); None: each benchmark's own
    default, which is ``generate`` unless its definition says otherwise."""
    modes: dict[str, Literal["generate", "loglikelihood"]] = Field(default_factory=dict)
    """Per-benchmark modes (``{"mmlu": "loglikelihood", "gsm8k": "generate"}``), over ``mode``."""
    limits: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    """Per-benchmark sample limits, over ``limit``."""


def default_data_dir() -> Path | None:
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value) if value else None


def default_results_dir() -> Path:
    return Path(os.environ.get(RESULTS_DIR_ENV, "results"))
