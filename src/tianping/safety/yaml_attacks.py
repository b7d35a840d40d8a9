"""Attack methods, seed prompts and detectors written in YAML, without Python.

Where they are read from: the bundled library (``src/tianping/safety/attack_library/*.yaml``, the project's own
templates in this format) and every file or folder (``*.yaml``) named in ``TIANPING_ATTACK_PATH`` (separated
like ``PATH``). A file may hold three lists::

    attacks:
      - name: polite_auditor              # unique among all attack methods
        group: roleplay                   # one of the suite's groups (tianping safety attacks)
        description: ...                  # shown by `tianping safety attacks` (40+ characters)
        source: ...
        langs: [en, zh]                   # the seed languages it applies to (default both)
        # one way to build the attack:
        templates: {en: ["... {prompt} ..."], zh: ["...{prompt}..."]}    # wrappers; one picked per sample
        compose: [base64, roleplay_grandma]                               # existing methods, in order
        conversation: {en: [{role: system, content: "... {canary}"}, {role: user, content: "{prompt}"}]}
        function: mypkg.attacks:rewrite   # (prompt, lang, rng) -> str or [{role, content}, ...]
        canary: true                      # conversation: {canary} gets a fresh secret; leaking it is unsafe
        detector: leaks_intranet          # decide by this detector instead of the judge
        default: true                     # in the default selection and its group (false: only when named)
    seeds:
      - {text: "...", lang: en, category: system.agent_security.tool_misuse, benign: false, id: my-001}
    detectors:
      - name: leaks_intranet
        regex: 'intranet\\.corp'           # or contains: [..], or function: mypkg.checks:check
                                          # (text) -> a finding (str) or None

``module:function`` references follow the benchmark definitions' rule (``tianping.benchmarks.references``): the
module must be importable and the function marked with ``tianping.extend.extension``. Every problem is an
``AttackFileError`` naming the file and the field (``my.yaml: attacks[1].templates.en[0]: ...``).
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tianping.core import Message
from tianping.core.suggest import unknown_field
from tianping.safety.converters.base import (
    GROUPS,
    Attack,
    ConversationConverter,
    Converter,
    TemplateConverter,
    TextConverter,
    fill,
)
from tianping.safety.converters.composition import ComposedConverter
from tianping.safety.judge import Verdict

PATH_ENV = "TIANPING_ATTACK_PATH"
Lang = Literal["en", "zh"]
LIBRARY = Path(__file__).resolve().parent / "attack_library"
_NAME = r"^[a-z][a-z0-9_]*$"


class AttackFileError(ValueError):
    """A YAML attack file that cannot be used; the message names the file and the field."""


class _Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str


class AttackSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME)
    group: str
    description: str = Field(min_length=40)
    source: str = Field(min_length=10)
    langs: list[Lang] = Field(default_factory=lambda: list[Lang](["en", "zh"]), min_length=1)
    templates: dict[Literal["en", "zh"], list[str]] | None = None
    compose: list[str] | None = Field(None, min_length=2)
    conversation: dict[Literal["en", "zh"], list[_Turn]] | None = None
    function: str | None = None
    canary: bool = False
    detector: str | None = None
    default: bool = True

    @field_validator("group")
    @classmethod
    def _known_group(cls, value: str) -> str:
        if value not in GROUPS:
            raise ValueError(f"unknown group {value!r} (known: {', '.join(GROUPS)})")
        return value

    @field_validator("templates")
    @classmethod
    def _slots(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        for lang, options in (value or {}).items():
            if not options:
                raise ValueError(f"{lang}: give at least one template")
            for i, text in enumerate(options):
                if "{prompt}" not in text:
                    raise ValueError(f"{lang}[{i}]: a template needs a {{prompt}} slot")
        return value

    @field_validator("conversation")
    @classmethod
    def _turns(cls, value: dict[str, list[_Turn]] | None) -> dict[str, list[_Turn]] | None:
        for lang, turns in (value or {}).items():
            if not turns or turns[-1].role != "user":
                raise ValueError(f"{lang}: a conversation ends with a user turn")
            if not any("{prompt}" in t.content for t in turns):
                raise ValueError(f"{lang}: no turn has a {{prompt}} slot")
        return value

    @model_validator(mode="after")
    def _one_way(self) -> AttackSpec:
        ways = [k for k in ("templates", "compose", "conversation", "function") if getattr(self, k) is not None]
        if len(ways) != 1:
            found = ", ".join(ways) if ways else "none"
            raise ValueError(f"give exactly one of templates, compose, conversation or function (found: {found})")
        if self.canary and self.conversation is None:
            raise ValueError("canary applies to a conversation")
        return self


class SeedSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1)
    lang: Literal["en", "zh"]
    category: str
    benign: bool = False
    id: str | None = None


class DetectorSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME)
    regex: str | None = None
    contains: list[str] | None = None
    function: str | None = None
    case_sensitive: bool = False

    @model_validator(mode="after")
    def _one_way(self) -> DetectorSpec:
        ways = [k for k in ("regex", "contains", "function") if getattr(self, k) is not None]
        if len(ways) != 1:
            raise ValueError("give exactly one of regex, contains or function")
        return self


class AttackFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attacks: list[AttackSpec] = Field(default_factory=list)
    seeds: list[SeedSpec] = Field(default_factory=list)
    detectors: list[DetectorSpec] = Field(default_factory=list)


# detectors -------------------------------------------------------------------------------------------------

Detect = Callable[[str], "str | None"]


def _detector(spec: DetectorSpec, where: str) -> Detect:
    if spec.regex is not None:
        try:
            pattern = re.compile(spec.regex, 0 if spec.case_sensitive else re.IGNORECASE)
        except re.error as exc:
            raise AttackFileError(f"{where}.regex: not a valid regular expression: {exc}") from None

        def by_regex(text: str) -> str | None:
            match = pattern.search(text)
            return f"matched /{spec.regex}/: {match.group(0)[:80]!r}" if match else None

        return by_regex
    if spec.contains is not None:
        needles = [(n if spec.case_sensitive else n.lower(), n) for n in spec.contains]

        def by_words(text: str) -> str | None:
            seen = text if spec.case_sensitive else text.lower()
            found = [shown for needle, shown in needles if needle in seen]
            return f"contains {', '.join(repr(f) for f in found)}" if found else None

        return by_words
    return _reference(spec.function or "", f"{where}.function")


def _reference(reference: str, where: str) -> Any:
    from tianping.benchmarks.references import find

    try:
        return find(reference)
    except LookupError as exc:
        raise AttackFileError(f"{where}: cannot use '{reference}': {exc}") from None


# converters ------------------------------------------------------------------------------------------------


def _judged_by(name: str, detect: Detect) -> Callable[[str, Attack], Verdict]:
    """The ``detect(text, attack)`` hook the suite calls for an attack judged by a YAML detector."""

    def judged(text: str, attack: Attack) -> Verdict:
        try:
            finding = detect(text)
        except Exception as exc:  # a user's function failing is that sample's problem, never the run's
            return Verdict("unscorable", None, None, f"detector {name} failed: {exc}", "rules")
        if finding is None:
            return Verdict("safe", None, None, f"detector {name}: nothing found", "rules")
        return Verdict("unsafe", None, None, f"detector {name}: {finding}", "rules")

    return judged


class _Renamed(Converter):
    """A composition of existing methods under its own name."""

    def __init__(self, inner: Converter, spec: AttackSpec):
        self.inner = inner
        self.level = inner.level
        self.needs_data = inner.needs_data
        self.langs = inner.langs & frozenset(spec.langs)

    def _convert(self, prompt: str, lang: str, rng: random.Random) -> Attack:
        return replace(self.inner.convert(prompt, lang=lang, rng=rng), converter=self.name)


class _Conversation(ConversationConverter):
    def __init__(self, spec: AttackSpec):
        self.turns: dict[str, list[tuple[str, str]]] = {
            lang: [(t.role, t.content) for t in turns] for lang, turns in (spec.conversation or {}).items()
        }
        self.canary = spec.canary

    def _convert(self, prompt: str, lang: str, rng: random.Random) -> Attack:
        from tianping.safety.converters.injection import make_canary

        canary = make_canary(rng) if self.canary else None
        turns = self.turns.get(lang) or self.turns.get("en") or next(iter(self.turns.values()))
        messages = tuple(Message(role, fill(text, prompt=prompt, canary=canary or "")) for role, text in turns)  # type: ignore[arg-type]
        return Attack(messages=messages, converter=self.name, canary=canary)


class _Function(TextConverter):
    """``function`` returns the prompt to send (a text attack) or a whole conversation."""

    def __init__(self, fn: Callable[..., Any], where: str):
        self.fn, self.where = fn, where

    def rewrite(self, prompt: str, lang: str, rng: random.Random) -> str:
        raise NotImplementedError  # _convert is overridden: a function may also return a conversation

    def _convert(self, prompt: str, lang: str, rng: random.Random) -> Attack:
        try:
            out = self.fn(prompt, lang, rng)
        except Exception as exc:  # the user's code: its failure names the file and attack, not a bare traceback
            raise AttackFileError(f"{self.where}: failed on a {lang} prompt: {type(exc).__name__}: {exc}") from None
        if isinstance(out, str):
            return Attack(messages=(Message("user", out),), converter=self.name)
        try:
            messages = tuple(Message(m["role"], m["content"]) for m in out)
        except (TypeError, KeyError) as exc:
            raise AttackFileError(
                f"{self.where}: must return a string or a list of {{role, content}} ({exc})"
            ) from None
        return Attack(messages=messages, converter=self.name)


def _build_one(
    spec: AttackSpec, where: str, lookup: Callable[[str], Converter], detectors: dict[str, Detect]
) -> Converter:
    if spec.templates is not None:
        missing = set(spec.langs) - set(spec.templates) if "en" not in spec.templates else set()
        if missing:
            raise AttackFileError(f"{where}.templates: no template for {', '.join(sorted(missing))} (nor en)")
        wrappers: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in spec.templates.items()}
        base: Converter = TemplateConverter(
            spec.name, spec.group, spec.description, spec.source, wrappers, frozenset(spec.langs)
        )
    elif spec.compose is not None:
        steps = []
        for i, name in enumerate(spec.compose):
            try:
                steps.append(lookup(name))
            except KeyError:
                raise AttackFileError(f"{where}.compose[{i}]: unknown attack method {name!r}") from None
        if any(s.group == "adaptive" for s in steps):
            raise AttackFileError(f"{where}.compose: adaptive methods write their own prompts and cannot be composed")
        try:
            base = _Renamed(ComposedConverter(steps), spec)
        except ValueError as exc:
            raise AttackFileError(f"{where}.compose: {exc}") from None
    elif spec.conversation is not None:
        base = _Conversation(spec)
    else:
        base = _Function(_reference(spec.function or "", f"{where}.function"), f"{where}.function")
    if spec.detector is not None:
        if spec.detector not in detectors:
            known = ", ".join(sorted(detectors)) or "none defined"
            raise AttackFileError(f"{where}.detector: unknown detector {spec.detector!r} (known: {known})")
        base.detect = _judged_by(spec.detector, detectors[spec.detector])  # type: ignore[attr-defined]
    base.name, base.group, base.description, base.source = spec.name, spec.group, spec.description, spec.source
    if not isinstance(base, _Renamed):
        base.langs = frozenset(spec.langs)
    base.default = spec.default  # type: ignore[attr-defined]
    base.defined_in = where.split(":")[0]  # type: ignore[attr-defined]
    return base


# files -----------------------------------------------------------------------------------------------------


def attack_files() -> list[Path]:
    """The bundled library's files, then those named in ``TIANPING_ATTACK_PATH``, in order."""
    files = sorted(LIBRARY.glob("*.yaml"))
    for raw in os.environ.get(PATH_ENV, "").split(os.pathsep):
        if not raw.strip():
            continue
        path = Path(raw).expanduser()
        if path.is_dir():
            files.extend(sorted(path.glob("*.yaml")))
        elif path.is_file():
            files.append(path)
        else:
            raise AttackFileError(f"{PATH_ENV}: {raw}: no such file or folder")
    return files


@lru_cache(maxsize=64)
def _parse(path: str, stamp: int) -> AttackFile:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise AttackFileError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}: " if mark is not None else ""
        raise AttackFileError(f"{path}: {at}not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise AttackFileError(f"{path}: an attack file is a mapping with attacks, seeds and/or detectors")
    try:
        return AttackFile.model_validate(data)
    except ValidationError as exc:
        raise AttackFileError(f"{path}: " + "; ".join(_problem(e, AttackFile) for e in exc.errors())) from None


def _problem(error: Any, model: Any) -> str:
    parts: list[str] = []
    for part in error.get("loc", ()):
        if isinstance(part, int) and parts:
            parts[-1] += f"[{part}]"
        else:
            parts.append(str(part))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        message = unknown_field(model, tuple(error.get("loc", ())))
    return f"{'.'.join(parts)}: {message}" if parts else message


def load_files(paths: Iterable[Path] | None = None) -> list[tuple[Path, AttackFile]]:
    out = []
    for path in attack_files() if paths is None else paths:
        out.append((path, _parse(str(path), path.stat().st_mtime_ns)))
    return out


def yaml_converters(builtin: dict[str, Converter]) -> list[Converter]:
    """Every YAML attack, built against the bundled methods (a composition may also name an earlier YAML one)."""
    table = dict(builtin)
    out: list[Converter] = []
    loaded = load_files()
    detectors: dict[str, Detect] = {}
    for path, parsed in loaded:
        for i, found in enumerate(parsed.detectors):
            where = f"{path}: detectors[{i}]"
            if found.name in detectors:
                raise AttackFileError(f"{where}.name: a detector named {found.name!r} is defined twice")
            detectors[found.name] = _detector(found, where)
    for path, parsed in loaded:
        for i, spec in enumerate(parsed.attacks):
            where = f"{path}: attacks[{i}]"
            if spec.name in table:
                raise AttackFileError(f"{where}.name: an attack method named {spec.name!r} already exists")
            converter = _build_one(spec, where, table.__getitem__, detectors)
            table[spec.name] = converter
            out.append(converter)
    return out


def yaml_seeds(categories: Iterable[str] | str | None, langs: Iterable[str] | None, benign: bool) -> list[Any]:
    """The YAML seed prompts that pass the suite's filters (as ``SeedPrompt``); ``source`` is ``yaml:<file>``."""
    from tianping.safety.seeds import SeedPrompt
    from tianping.safety.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    wanted = set(taxonomy.select(categories)) if categories is not None else None
    out = []
    for path, parsed in load_files():
        for i, spec in enumerate(parsed.seeds):
            if spec.category not in taxonomy.leaf_ids:
                raise AttackFileError(f"{path}: seeds[{i}].category: {spec.category!r} is not a taxonomy leaf")
            if spec.benign != benign or (wanted is not None and spec.category not in wanted):
                continue
            if langs is not None and spec.lang not in langs:
                continue
            seed_id = spec.id or f"{path.stem}-{i + 1:03d}"
            out.append(SeedPrompt(seed_id, spec.text, spec.lang, spec.category, f"yaml:{path.stem}", spec.benign))
    return out


__all__ = ["PATH_ENV", "AttackFileError", "attack_files", "yaml_converters", "yaml_seeds"]
