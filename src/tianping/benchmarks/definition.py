"""The schema of a benchmark definition file and its validation.

A definition is data: which files to read, how to turn a row into a prompt, how to pull the answer
out of the output and how to score it. ``load_definitions`` reads a YAML file into validated
``BenchmarkDef`` objects (one per variant) and reports errors as ``file: field: problem``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from tianping.benchmarks.errors import BenchmarkDefinitionError
from tianping.core.suggest import validation_problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetDef(_Strict):
    loader: str
    """A registered loader name (see ``tianping.benchmarks.loaders``)."""
    path: str
    """A file or directory, relative to the data directory."""
    options: dict[str, Any] = Field(default_factory=dict)


class FewshotDef(_Strict):
    k: int = Field(0, ge=0, le=64)
    dataset: DatasetDef | None = None
    match: str | None = None
    """Take shots only from rows whose ``meta[match]`` equals the question's (e.g. ``subject``)."""
    sampler: Literal["first", "random"] = "first"
    seed: int = 1234
    style: Literal["multiturn", "inline"] = "multiturn"
    """Chat prompts: shots as user/assistant turns, or all inside the first user message."""


class PromptDef(_Strict):
    format: Literal["chat", "completion"] = "chat"
    system: str | None = None
    instruction: str | None = None
    """Text placed once before the first question (Jinja2; sees the first sample's fields)."""
    question: str
    """Jinja2 template of one question, from a sample's fields."""
    answer: str = "{{ target }}"
    """Jinja2 template of a shot's answer."""
    separator: str = "\n\n"


class GenerationDef(_Strict):
    temperature: float | None = 0.0
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] = Field(default_factory=list)
    n: int = Field(1, ge=1, le=200)
    """Completions per request (pass@k needs n >= k)."""


class ScoringDef(_Strict):
    extractor: str | None = None
    metric: str = "exact_match"
    scorer: str | None = None
    """A whole-sample scorer instead of extractor + metric (code execution, IFEval, pass@k)."""
    metric_name: str = "accuracy"
    """The name under which the per-sample value is reported (``pass@1``, ``prompt_strict``)."""
    sandbox: bool = False
    """The scorer runs model-written code, so the run needs the code sandbox."""
    breakdowns: list[str] = Field(default_factory=list)
    """``meta`` keys to report separate scores for (e.g. ``category``, ``subject``)."""
    partial_credit: str | None = None
    """A partial-credit rule of :mod:`tianping.scoring.choice_set` (``gaokao``, ``exact``) applied to the
    extracted and target letter sets; reported per sample as the further metric ``partial_credit``."""

    @field_validator("partial_credit")
    @classmethod
    def _known_rule(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from tianping.scoring.choice_set import PARTIAL_CREDIT  # only definitions that use it pay the import

        if value not in PARTIAL_CREDIT:
            raise ValueError(f"unknown partial-credit rule '{value}' (known: {', '.join(sorted(PARTIAL_CREDIT))})")
        return value

    @model_validator(mode="after")
    def _one_way_to_score(self) -> ScoringDef:
        if (self.extractor is None) == (self.scorer is None):
            raise ValueError("give either 'extractor' (with 'metric') or 'scorer', not both or neither")
        if self.partial_credit is not None and self.scorer is not None:
            raise ValueError("'partial_credit' applies to 'extractor' + 'metric'; a 'scorer' reports its own metrics")
        return self


def _known_ll_metric(name: str) -> str:
    from tianping.benchmarks.ll_metrics import LL_METRICS, known_ll_metrics

    # a module:function reference is imported when the benchmark is built, where the error can name the file
    if name not in LL_METRICS and ":" not in name:
        raise ValueError(f"unknown log-likelihood metric '{name}' (known: {', '.join(known_ll_metrics())})")
    return name


LogLikelihoodMetric = Annotated[str, AfterValidator(_known_ll_metric)]
"""A name registered in :mod:`tianping.benchmarks.ll_metrics` (``register_ll_metric``), or a
``module:function`` reference to a metric of the same signature."""
Mode = Literal["generate", "loglikelihood"]


class LogLikelihoodDef(_Strict):
    """Multiple choice scored by the log-likelihood of each choice, laid out as lm-evaluation-harness does.

    The context is ``description`` + one ``question + target_delimiter + gold choice + fewshot_delimiter``
    per shot (from the ``fewshot`` section) + the question; continuation i is ``target_delimiter +
    choice i``. Templates are Jinja2 over a sample's fields (and ``target``).
    """

    description: str = ""
    """Text before the first shot, rendered per question (lm-eval's ``description``, its own trailing newlines)."""
    question: str
    """Jinja2 template of one question without its answer (lm-eval's ``doc_to_text``)."""
    choices: list[str] | None = None
    """One Jinja2 template per choice (``["A", "B", "C", "D"]``): lm-eval's list ``doc_to_choice``."""
    choices_field: str | None = None
    """Instead of ``choices``: a sample field holding the list of choice texts (ARC's ``choices``)."""
    gold: str | None = None
    """Jinja2 template rendering the 0-based index of the right choice, or a list ``[0, 2]`` of the right choices
    when there are several; None: the choice equal to the target (or those named by a target ``A,C``)."""
    target_delimiter: str = " "
    fewshot_delimiter: str = "\n\n"
    metrics: list[LogLikelihoodMetric] = Field(default_factory=lambda: ["acc", "acc_norm"], min_length=1)
    """Names from the log-likelihood metric registry, reported per sample; the first is the primary metric.
    ``acc_norm`` divides by the choice's length in characters and ``acc_bytes`` by its length in UTF-8 bytes,
    as lm-eval 0.4 does; ``mc2`` is the normalised probability of the right choices (TruthfulQA MC2)."""
    breakdowns: list[str] | None = None
    """``meta`` keys to break scores down by; None: those of ``scoring`` (none without one)."""

    @model_validator(mode="after")
    def _one_source_of_choices(self) -> LogLikelihoodDef:
        if (self.choices is None) == (self.choices_field is None):
            raise ValueError("give either 'choices' (templates) or 'choices_field' (a list field), not both or neither")
        if self.choices is not None and len(self.choices) < 2:
            raise ValueError("'choices' needs at least two entries")
        if len(set(self.metrics)) != len(self.metrics):
            raise ValueError(f"'metrics' repeats a metric: {self.metrics}")
        return self


class AboutDef(_Strict):
    """What ``tianping benchmarks`` lists about a benchmark (the license comes from its data catalog entry)."""

    task_type: str = ""
    """In a few words: ``multiple choice``, ``math, numeric answer``, ``extractive QA``, ``code generation``."""
    languages: list[str] = Field(default_factory=list)
    """ISO 639-1 codes of the questions' languages (``en``, ``zh``)."""
    items: int | None = Field(None, ge=1)
    """How many samples a full run scores (checked against the data by the tests)."""
    data: str | None = None
    """The data catalog entry (``tianping data``) the files come from; None: the first folder of ``dataset.path``;
    ``generated``: the loader generates the items (``tp_vision``), nothing is fetched."""


class BenchmarkDef(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    version: str
    description: str = ""
    dataset: DatasetDef
    fewshot: FewshotDef = Field(default_factory=FewshotDef)
    prompt: PromptDef | None = None
    generation: GenerationDef = Field(default_factory=GenerationDef)
    scoring: ScoringDef | None = None
    loglikelihood: LogLikelihoodDef | None = None
    """How to score the benchmark by log-likelihood (``--mode loglikelihood``); None: generation only."""
    about: AboutDef = Field(default_factory=AboutDef)
    mode: Mode | None = None
    """The mode a run uses unless it names one; None: ``generate`` when a prompt is given, else ``loglikelihood``."""

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value

    @model_validator(mode="after")
    def _some_way_to_run(self) -> BenchmarkDef:
        if (self.prompt is None) != (self.scoring is None):
            raise ValueError("'prompt' and 'scoring' go together: give both (generation) or neither")
        if self.prompt is None and self.loglikelihood is None:
            raise ValueError("give 'prompt' and 'scoring' (generation), 'loglikelihood', or both")
        if self.mode is not None and not self.supports(self.mode):
            needed = "the 'prompt' and 'scoring' sections" if self.mode == "generate" else "a 'loglikelihood' section"
            raise ValueError(f"default mode '{self.mode}' needs {needed}")
        return self

    @property
    def default_mode(self) -> Mode:
        if self.mode is not None:
            return self.mode
        return "generate" if self.prompt is not None else "loglikelihood"

    def supports(self, mode: Mode) -> bool:
        return self.prompt is not None if mode == "generate" else self.loglikelihood is not None


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _format_validation_error(source: str, exc: ValidationError) -> str:
    return "\n".join(
        f"{source}: field '{where}': {message}" for where, message in validation_problems(exc, BenchmarkDef)
    )


def parse_definitions(raw: Any, source: str) -> list[BenchmarkDef]:
    """Validate one parsed YAML document; ``variants`` expand into further definitions."""
    if not isinstance(raw, dict):
        raise BenchmarkDefinitionError(f"{source}: expected a mapping at the top level, got {type(raw).__name__}")
    raw = dict(raw)
    variants = raw.pop("variants", None) or {}
    if not isinstance(variants, dict):
        raise BenchmarkDefinitionError(f"{source}: field 'variants': expected a mapping of name -> overrides")
    documents = [(source, raw)]
    for name, override in variants.items():
        if not isinstance(override, dict):
            raise BenchmarkDefinitionError(f"{source}: field 'variants.{name}': expected a mapping of overrides")
        merged = _deep_merge(raw, override)
        merged["name"] = name
        documents.append((f"{source} (variant {name})", merged))
    out = []
    for where, doc in documents:
        try:
            out.append(BenchmarkDef.model_validate(doc))
        except ValidationError as exc:
            raise BenchmarkDefinitionError(_format_validation_error(where, exc)) from None
    return out


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser when libyaml is present


def read_definition_text(path: Path) -> str:
    """A definition file's text; an unreadable or non-UTF-8 file is a BenchmarkDefinitionError naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BenchmarkDefinitionError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise BenchmarkDefinitionError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def parse_definitions_text(text: str, source: str) -> list[BenchmarkDef]:
    """Validate a definition file's text; errors name ``source`` and the line or field."""
    try:
        raw = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise BenchmarkDefinitionError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_definitions(raw, source)


def load_definitions(path: Path) -> list[BenchmarkDef]:
    """Read a YAML definition file; errors name the file and the line or field."""
    return parse_definitions_text(read_definition_text(path), str(path))
