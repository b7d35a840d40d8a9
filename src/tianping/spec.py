"""RunSpec: everything that defines a run, stored with it so that ``resume`` can redo it exactly.

Secrets are not part of a spec: a model names the environment variable its key is read from.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tianping.core import GenerationParams
from tianping.core.limits import MIB, ReplyLimits
from tianping.core.media import IMAGE_MAX_MB, IMAGE_MAX_SIDE
from tianping.core.secrets import check_env_name, endpoint_identity, strip_credentials
from tianping.data.location import default_data_dir as located_data_dir

DATA_DIR_ENV = "TIANPING_DATA_DIR"
RESULTS_DIR_ENV = "TIANPING_RESULTS_DIR"
BACKENDS = ("openai", "hf", "ref", "vllm")

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_run_id(value: str) -> str:
    """A run id is also a file name (``RESULTS/RUN.html``): letters, digits, ``.``, ``_`` and ``-`` only."""
    if not _RUN_ID.match(value) or ".." in value:
        raise ValueError(
            f"run id {value!r} is not allowed: use 1-128 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit (it names files under the results directory)"
        )
    return value


def check_base_url(value: str) -> str:
    """An http(s) URL with a host; the message shows it without credentials."""
    try:
        parts = urlsplit(value.strip())
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"base URL must be an http(s) URL such as http://127.0.0.1:8000/v1, got {strip_credentials(value)!r}"
        )
    return value.strip()


class GenerationOverrides(BaseModel):
    """Generation settings given for a run (command line or plan) or for one model (a plan's model entry); None
    keeps the setting from below: the benchmark's own, or the run's under a model's (``RunSpec.params_for``)."""

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = Field(None, ge=0, le=100, allow_inf_nan=False)
    top_p: float | None = Field(None, gt=0, le=1, allow_inf_nan=False)
    max_tokens: int | None = Field(None, ge=1, le=1 << 24)
    seed: int | None = Field(None, ge=-(1 << 63), lt=1 << 63)
    stop: list[str] | None = None
    n: int | None = Field(None, ge=1, le=200)

    def apply(self, base: GenerationParams) -> GenerationParams:
        return GenerationParams(
            temperature=self.temperature if self.temperature is not None else base.temperature,
            top_p=self.top_p if self.top_p is not None else base.top_p,
            max_tokens=self.max_tokens if self.max_tokens is not None else base.max_tokens,
            seed=self.seed if self.seed is not None else base.seed,
            stop=tuple(self.stop) if self.stop is not None else base.stop,
            n=self.n if self.n is not None else base.n,
        )


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    """``openai/<name>``, ``hf/<checkpoint dir>`` or ``ref/<bundled model>``: the backend before the slash. Unique
    in a run: answers, scores and the cache are keyed by it."""
    served_name: str | None = Field(None, min_length=1, max_length=512)
    """The model name sent to an OpenAI-compatible endpoint; None: ``name`` (the id after the backend slash).
    Lets two entries such as ``openai/qwen@provider-a`` and ``openai/qwen@provider-b`` both ask for ``qwen``."""
    generation: GenerationOverrides | None = None
    """This model's generation overrides, applied over the run's (``RunSpec.params_for``)."""
    base_url: str | None = None
    """May carry credentials for this process; they are stripped before the spec is stored (``stored_spec``)."""
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(32, ge=1, le=4096)
    timeout_s: float = Field(120.0, gt=0, le=86400, allow_inf_nan=False)
    max_retries: int = Field(6, ge=0, le=50)
    rpm: float | None = Field(None, gt=0, le=1e7, allow_inf_nan=False)
    stream: bool = False
    max_reply_mb: float = Field(16.0, ge=0.001, le=4096, allow_inf_nan=False)
    """Largest reply accepted from an endpoint, in MiB after decompression (``ReplyLimits.max_body_bytes``)."""
    image_max_side: int = Field(IMAGE_MAX_SIDE, ge=32, le=16384)
    """OpenAI-compatible endpoints: an image's longest side in pixels as sent; a larger one is scaled down."""
    image_max_mb: float = Field(IMAGE_MAX_MB, ge=0.001, le=64, allow_inf_nan=False)
    """OpenAI-compatible endpoints: most MiB of one encoded image as sent; a larger one is re-encoded smaller."""
    # local models (hf/<path>, ref/<name>); ignored by remote backends
    device: str = "auto"
    """``auto`` (CUDA, else MPS, else CPU), or a torch device such as ``cpu`` or ``cuda:1``."""
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "float32"
    """``auto``: the checkpoint's own (config ``dtype``/``torch_dtype``; float32 when it names none), as lm-eval's
    ``dtype=auto``: the choice for big checkpoints. The default stays float32 (exact, and what stored runs used)."""
    trust_remote_code: bool = False
    """Run custom modeling/tokenizer code that a checkpoint ships (its config's ``auto_map``); refused without."""
    revision: str | None = Field(None, min_length=1, max_length=256, pattern=r"^[^\s/\\][^\s\\]*$")
    """For a hub id (``hf/<owner>/<name>``, read from the local hub cache): the branch, tag or commit; None: main."""
    adapter: str | None = Field(None, min_length=1)
    """A PEFT adapter folder (LoRA, ...) applied on the weights (merged), stored as an absolute path."""
    quantization: Literal["none", "8bit", "4bit"] = "none"
    """Quantize an unquantized checkpoint as it loads (bitsandbytes, CUDA only). Checkpoints saved quantized
    (GPTQ, AWQ, ...) load as they are, with their library installed."""
    device_map: Literal["auto", "balanced", "balanced_low_0", "sequential"] | None = None
    """Spread the model over several devices (accelerate); ``device`` is not used then."""
    batch_size: Annotated[int, Field(ge=1, le=4096)] | Literal["auto"] = 16
    """Most sequences per model call; halved automatically when the device runs out of memory. ``auto``: the
    largest call that fits, found by probing (doubled until out of memory, then backed off)."""
    chat_template: bool | None = None
    """Render chat requests with the tokenizer's template: None uses it when there is one, False never
    (plain ``Role: content`` text), True requires it."""
    max_length: int | None = Field(None, ge=2)
    """The model window in tokens; None reads it from the model config as lm-eval does."""
    completions_logprobs: bool = False
    """OpenAI-compatible endpoints: answer log-likelihood requests on ``/completions`` with ``echo`` and
    ``logprobs`` (the prompt's token log-probabilities, as lm-eval's ``local-completions`` asks for them)."""

    @field_validator("id")
    @classmethod
    def _has_backend(cls, value: str) -> str:
        backend, sep, name = value.partition("/")
        if not sep or not backend or not name:
            raise ValueError(f"model id must look like 'openai/<name>', 'hf/<path>' or 'ref/<name>', got {value!r}")
        if backend not in BACKENDS:
            from tianping.models.registry import known_backends  # plugins register further backends

            known = known_backends()
            if backend not in known:
                from tianping.core.suggest import did_you_mean

                hint = did_you_mean(backend, list(known), n=1, shown=lambda b: f"{b}/{name}")
                hint = f"; {hint}" if hint else ""
                raise ValueError(f"unknown backend '{backend}' in model id {value!r}{hint} (known: {', '.join(known)})")
        return value

    @field_validator("served_name")
    @classmethod
    def _served_name(cls, value: str | None) -> str | None:
        if value is not None and (value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value)):
            raise ValueError(f"served_name must have no surrounding spaces or control characters, got {value!r}")
        return value

    @model_validator(mode="after")
    def _served_by_endpoint(self) -> ModelSpec:
        if self.served_name is not None and self.backend in ("hf", "ref", "vllm"):
            raise ValueError(
                f"served_name is the model name sent to an endpoint; {self.id} is a local model (its id names it)"
            )
        if self.completions_logprobs and self.backend != "openai":
            raise ValueError(
                f"completions_logprobs scores on an OpenAI-compatible /completions endpoint; {self.id} is not one"
                " (local models score log-likelihoods themselves)"
            )
        return self

    @model_validator(mode="after")
    def _revision_for_hub_ids(self) -> ModelSpec:
        if self.revision is not None and self.backend != "hf":
            raise ValueError(f"revision names a version of a hub model (hf/<owner>/<name>); {self.id} is not one")
        return self

    @field_validator("adapter")
    @classmethod
    def _absolute_adapter(cls, value: str | None) -> str | None:
        return None if value is None else str(Path(value).expanduser().absolute())

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return None if value is None else check_base_url(value)

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        return check_env_name(value, "api_key_env")

    @property
    def backend(self) -> str:
        return self.id.partition("/")[0]

    @property
    def name(self) -> str:
        """The id after the backend slash: the model name, checkpoint path or bundled model."""
        return self.id.partition("/")[2]

    @property
    def request_name(self) -> str:
        """The model name sent to the endpoint: ``served_name``, else ``name``."""
        return self.served_name if self.served_name is not None else self.name

    @property
    def endpoint(self) -> str:
        """Who answers this model's requests: the endpoint's identity (no credentials) or the local weights.
        Part of the cache key, and recorded with every sample."""
        if self.backend == "openai":
            where = endpoint_identity(self.base_url) if self.base_url else ""
            # one endpoint may serve several models under one id's name: the name asked for is part of who answers
            where = f"{where}#{self.served_name}" if self.served_name is not None and where else where
            # an image sent at other limits is another question: answers cached at the defaults are not reused
            if where and (self.image_max_side, self.image_max_mb) != (IMAGE_MAX_SIDE, IMAGE_MAX_MB):
                where += f";images={self.image_max_side}px,{self.image_max_mb:g}MiB"
            return where
        if self.backend in ("hf", "ref"):  # the weights (a hub id with its cached commit), adapter, quantization
            from tianping.models.hf_hub import local_identity

            return local_identity(
                self.backend,
                self.name,
                revision=self.revision,
                adapter=self.adapter,
                quantization=self.quantization,
                dtype=self.dtype,
                chat_template=self.chat_template,
                max_length=self.max_length,
            )
        if self.backend == "vllm":  # the resolved checkpoint folder, or the hub id vLLM loads
            from tianping.models.hf_hub import render_identity
            from tianping.models.vllm_local import model_source

            dtype = f";dtype={self.dtype}" if self.dtype != "float32" else ""
            return f"vllm:{model_source(self.name)}{dtype}{render_identity(self.chat_template, self.max_length)}"
        if self.backend == "http":  # an application: its target file and the digest of its text
            from tianping.targets import target_identity

            return target_identity(self.name)
        return f"{self.backend}:{self.name}"

    @property
    def reply_limits(self) -> ReplyLimits:
        return ReplyLimits(max_body_bytes=int(self.max_reply_mb * MIB))


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
    include_copyright: bool = False
    """Plan HarmBench's copyright behaviours. HarmBench judges them by overlap with the protected source text,
    which the datasets do not hold, so they are left out by default and, when included, stored as unscorable."""
    # adaptive attacks (``--attacks adaptive``): what one sample may spend
    adaptive_queries: int = Field(20, ge=1, le=1000)
    """Most requests to the evaluated model per sample of PAIR, TAP and adaptive Crescendo."""
    adaptive_attacker_calls: int = Field(60, ge=1, le=5000)
    """Most calls to the attacker model per sample (refinements, on-topic checks and re-asks all count)."""
    adaptive_retries: int = Field(2, ge=0, le=10)
    """Re-asks of an attacker whose reply cannot be read, before that round is skipped."""
    best_of_n: int = Field(10, ge=1, le=10000)
    """Augmented samples Best-of-N sends per seed prompt at most (its request budget)."""
    tap_depth: int = Field(5, ge=1, le=100)
    """Levels of the TAP tree."""
    tap_width: int = Field(4, ge=1, le=100)
    """Leaves TAP keeps per level after pruning by score."""
    tap_branching: int = Field(2, ge=1, le=20)
    """Refinements TAP asks of the attacker per leaf and level."""
    crescendo_turns: int = Field(10, ge=1, le=100)
    """User turns of an adaptive Crescendo conversation at most."""
    crescendo_backtracks: int = Field(5, ge=0, le=100)
    """Refused turns adaptive Crescendo may drop and ask again."""


class RunSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[ModelSpec] = Field(min_length=1)
    benchmarks: list[str] = Field(min_length=1)
    limit: int | None = Field(None, ge=1)
    limit_mode: Literal["spread", "first", "per-subject"] | None = None
    """How ``limit`` picks samples: ``spread`` (None) takes them round-robin over subjects, so a small limit
    still spans them; ``first`` takes the first N in file order; ``per-subject`` the first N of each subject.
    lm-evaluation-harness's ``--limit`` is per task: ``first`` on one-task benchmarks, ``per-subject`` on
    benchmarks that are a group of subject tasks there (MMLU, CMMLU, C-Eval, BBH)."""
    data_dir: str
    generation: GenerationOverrides = Field(default_factory=GenerationOverrides)
    use_cache: bool = True
    unsafe_exec: bool = False
    """Run model-written code without an isolation mechanism (only with rlimits and timeouts)."""
    safety: SafetyOptions | None = None
    """How the safety suite is sized and filtered (only for the ``safety*`` benchmarks)."""
    judge: ModelSpec | None = None
    """The LLM judge used by scorers that need one (safety stage 2); None: rules only."""
    judge_preset: str = "tianping"
    """How the judge is asked and read (``tianping.safety.judge_presets.PRESETS``): ``tianping`` (the 0-4 harm
    rubric), ``llamaguard3``, ``llamaguard4``, ``shieldgemma``, ``wildguard`` or ``harmbench``."""
    attacker: ModelSpec | None = None
    """The attacker model of adaptive safety attacks (PAIR, TAP, Crescendo); None: those attacks are not run."""
    mode: Literal["generate", "loglikelihood"] | None = None
    """How benchmarks are asked: ``generate`` (answers are generated and extracted) or ``loglikelihood``
    (each choice's log-likelihood is scored, as lm-evaluation-harness does); None: each benchmark's own
    default, which is ``generate`` unless its definition says otherwise."""
    modes: dict[str, Literal["generate", "loglikelihood"]] = Field(default_factory=dict)
    """Per-benchmark modes (``{"mmlu": "loglikelihood", "gsm8k": "generate"}``), over ``mode``."""
    limits: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    """Per-benchmark sample limits, over ``limit``."""
    items: dict[str, list[str]] = Field(default_factory=dict)
    """Per-benchmark sample ids: exactly those samples are scored, in this order (a pack derived by ``tianping
    fidelity pack-stats``, ``tianping.core.items``). Takes no ``limit``/``limits`` for the same benchmark."""
    allow_outside_data: bool = False
    """Let a benchmark definition read files outside the data directory and its own folder."""
    include_paths: list[str] = Field(default_factory=list)
    """Folders of plugins (``*.py``, imported) and benchmark definitions (``*.yaml``, nameable) the run uses;
    stored with the run, so that ``resume``, ``show`` and ``report`` import them again
    (``tianping.engine.tasks.use_include_paths``)."""
    num_fewshot: int | None = Field(None, ge=0, le=64)
    """Few-shot examples of every benchmark, over its definition's ``fewshot.k`` (lm-eval's ``--num_fewshot``);
    None: each definition's own. N > 0 needs a few-shot source (``fewshot.dataset``)."""
    apply_chat_template: bool = False
    """Log-likelihood mode: ask the context as a chat rendered by the model's template, generation prompt
    appended (lm-eval's ``--apply_chat_template``)."""
    fewshot_as_multiturn: bool = False
    """With ``apply_chat_template``: shots as user/assistant turns, not one user message (lm-eval's
    ``--fewshot_as_multiturn``)."""
    agent_tools: Literal["local", "mcp"] = "local"
    """Agent tasks: their environments' tools called in the process, or served by an MCP server and called through
    an MCP client (the Model Context Protocol path end to end; the scores must not differ)."""
    system_instruction: str | None = Field(None, max_length=100_000)
    """Text before the description: a system turn with a chat template, else the start of the context
    (lm-eval's ``--system_instruction``)."""

    @field_validator("include_paths")
    @classmethod
    def _absolute_paths(cls, value: list[str]) -> list[str]:
        return [str(Path(p).expanduser().absolute()) for p in value]

    @model_validator(mode="after")
    def _safety_options_where_used(self) -> RunSpec:
        """The safety suite's options belong to a run that plans its tasks (defaults when none were given), and
        to no other: a run that does not plan them stores none."""
        from tianping.safety import TASKS

        uses = any(name in TASKS for name in self.benchmarks)
        if uses and self.safety is None:
            self.safety = SafetyOptions()
        elif not uses:
            self.safety = None
        return self

    @model_validator(mode="after")
    def _distinct_models(self) -> RunSpec:
        ids = [m.id for m in self.models]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(
                f"model {', '.join(twice)} given more than once: answers are keyed by the model id, so two endpoints "
                "of one model need two ids (a plan file's `label:`, or openai/<name>@<where>)"
            )
        return self

    def params_for(self, model: ModelSpec, base: GenerationParams) -> GenerationParams:
        """The generation settings ``model`` is asked with on a benchmark whose own are ``base``: the run's
        overrides over ``base``, then the model's over those."""
        params = self.generation.apply(base)
        return model.generation.apply(params) if model.generation is not None else params

    @property
    def helper_models(self) -> list[ModelSpec]:
        """The judge and the attacker, where given: models a run asks besides the ones it evaluates."""
        return [m for m in (self.judge, self.attacker) if m is not None]

    @field_validator("judge_preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        if value == "tianping":  # the default: known without importing the safety package
            return value
        from tianping.safety.judge_presets import check_preset

        return check_preset(value)

    @model_validator(mode="after")
    def _preset_has_judge(self) -> RunSpec:
        if self.judge is None and self.judge_preset != "tianping":
            raise ValueError(f"judge preset {self.judge_preset!r} needs a judge model (--judge-model)")
        return self

    @model_validator(mode="after")
    def _multiturn_needs_template(self) -> RunSpec:
        if self.fewshot_as_multiturn and not self.apply_chat_template:
            raise ValueError(
                "--fewshot-as-multiturn needs --apply-chat-template (fewshot_as_multiturn: shots as turns of a chat)"
            )
        return self

    @model_validator(mode="after")
    def _endpoints_given(self) -> RunSpec:
        for m in [*self.models, *self.helper_models]:
            if m.backend == "openai" and not m.base_url:
                raise ValueError(f"model {m.id}: --base-url is required for OpenAI-compatible endpoints")
        return self

    @field_validator("items", mode="before")
    @classmethod
    def _item_ids(cls, value: Any) -> Any:
        from tianping.core.items import check_ids

        if not isinstance(value, dict):
            return value
        return {name: check_ids(ids, f"items.{name}") for name, ids in value.items()}

    @model_validator(mode="after")
    def _items_alone(self) -> RunSpec:
        """Chosen items are the whole selection of their benchmark: a limit on top would silently drop some."""
        for name in self.items:
            if name not in self.benchmarks:
                raise ValueError(f"items.{name}: {name} is not among the run's benchmarks")
            if name in self.limits or self.limit is not None:
                which = f"limits.{name}" if name in self.limits else "limit (--limit)"
                raise ValueError(
                    f"items.{name} chooses {name}'s samples by id; {which} cannot be combined with it: "
                    "drop the limit, or the benchmark's items"
                )
        return self


EXECUTION_FIELDS = frozenset(
    {"base_url", "api_key_env", "concurrency", "timeout_s", "max_retries", "rpm", "stream", "max_reply_mb",
     "device", "device_map", "batch_size", "data_dir", "unsafe_exec", "allow_outside_data", "include_paths"}
)  # fmt: skip
"""How a run executes, as opposed to what determines its results: ``resume`` may change these (a corrected URL,
more concurrency, a longer timeout). The endpoint a URL names is checked apart, against the samples already
answered (``Runner``), and the data against its checksums."""


MODEL_EXECUTION_FIELDS = EXECUTION_FIELDS - {"data_dir", "unsafe_exec", "allow_outside_data", "include_paths"}
"""The execution settings of a model (the rest are the run's)."""


def stored_spec(spec: RunSpec) -> dict[str, Any]:
    """The spec as stored with a run: every URL without credentials (they live only in this process)."""
    return without_credentials(spec.model_dump(mode="json"))


def without_credentials(data: Any) -> Any:
    """A stored spec (or any part of one) with every ``base_url`` stripped of credentials; also applied when
    showing specs that an older version stored with them."""
    if isinstance(data, dict):
        return {k: strip_credentials(v) if k == "base_url" and isinstance(v, str) else without_credentials(v)
                for k, v in data.items()}  # fmt: skip
    if isinstance(data, list):
        return [without_credentials(v) for v in data]
    return data


def corrected_spec(
    stored: dict[str, Any],
    corrections: dict[str, Any],
    *,
    judge_base_url: str | None = None,
    attacker_base_url: str | None = None,
    data_dir: str | None = None,
    include_paths: list[str] | None = None,
) -> dict[str, Any]:
    """A stored spec with the execution settings a resume may change: ``corrections`` (fields of
    ``MODEL_EXECUTION_FIELDS``; None leaves one as stored) go to every model, and to the judge and the attacker but for
    their own URL; the data and plugin folders may have moved (their checksums are checked apart). Not validated:
    the run's plugins are imported first, since one may provide the backend a model names."""
    unknown = sorted(set(corrections) - MODEL_EXECUTION_FIELDS)
    if unknown:
        raise TypeError(
            f"a resume cannot change {', '.join(unknown)}: only {', '.join(sorted(MODEL_EXECUTION_FIELDS))}, "
            "the data folder and the plugin folders"
        )
    given = {k: v for k, v in corrections.items() if v is not None}
    data: dict[str, Any] = json.loads(json.dumps(stored))
    for m in data["models"]:
        m.update(given)
    for role, url in (("judge", judge_base_url), ("attacker", attacker_base_url)):
        if data.get(role):
            data[role].update(
                {**{k: v for k, v in given.items() if k != "base_url"}, **({"base_url": url} if url else {})}
            )
    if data_dir is not None:
        data["data_dir"] = data_dir
    if include_paths:
        data["include_paths"] = list(include_paths)
    return data


def result_fields(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored spec without its execution settings: two runs with the same result fields ask the same
    questions with the same settings."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in EXECUTION_FIELDS}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(stored)


def default_data_dir() -> Path:
    """``TIANPING_DATA_DIR``, else the per-user folder ``tianping data pull`` fills
    (``~/.cache/tianping/datasets``, ``XDG_CACHE_HOME`` honoured)."""
    return located_data_dir()


def default_results_dir() -> Path:
    return Path(os.environ.get(RESULTS_DIR_ENV, "results"))
