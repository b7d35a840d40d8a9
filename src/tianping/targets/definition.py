"""An HTTP application as a model under test: the target file's schema and its loading.

A target file is YAML. Every problem found in it is a ``TargetError`` whose message starts with the file and
names the field (``app.yaml: body.json: ...``), and is raised when the file is loaded, before any request:
templates are compiled and rendered once with a prompt full of quotes, backslashes and braces, headers'
``${NAME}`` references are looked up, extraction rules are compiled.

Secrets live only in the environment: a header value may refer to ``${NAME}``; the resolved value is held in
memory by the backend and is never printed (error messages replace it with ``***``) nor stored (a run stores
the model id, which is the file's path, never the file's resolved contents).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tianping.core.suggest import unknown_field
from tianping.targets.extract import Extractor, ExtractorSpec
from tianping.targets.templates import BodyTemplates, TemplateProblem

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
Turns = Literal["auto", "single", "history", "session"]


class TargetError(ValueError):
    """A target file that cannot be used; the message names the file and the field."""


class BodySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    json_template: str | None = Field(None, alias="json")
    """A Jinja template that renders the JSON body; every inserted value must go through ``| json``."""
    form: dict[str, str] | None = None
    """Form fields (``application/x-www-form-urlencoded``); each value is a Jinja template rendered as text and
    form-encoded, so a prompt cannot add or break fields."""

    @model_validator(mode="after")
    def _one_kind(self) -> BodySpec:
        if (self.json_template is None) == (self.form is None):
            raise ValueError("give exactly one of 'json' (a JSON template) or 'form' (form fields)")
        return self


class SessionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cookies: bool = True
    """Keep the cookies the app sets, per conversation (a fresh jar for each sample)."""
    id: ExtractorSpec | None = None
    """Where the first reply carries a conversation id; later requests see it as ``session_id``."""


class LimitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rpm: float | None = Field(None, gt=0, le=1e7, allow_inf_nan=False)
    timeout_s: float | None = Field(None, gt=0, le=86400, allow_inf_nan=False)
    max_reply_kb: int | None = Field(None, ge=1, le=4 * 1024 * 1024)
    concurrency: int | None = Field(None, ge=1, le=4096)
    max_retries: int | None = Field(None, ge=0, le=50)


class TargetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str | None = None
    url: str
    """May hold ``{{ session_id }}`` (or any template variable): values are percent-encoded into it."""
    method: Literal["GET", "POST", "PUT", "PATCH"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict)
    """Query parameters; each value a Jinja template rendered as text and percent-encoded."""
    body: BodySpec | None = None
    reply: ExtractorSpec = Field(default_factory=ExtractorSpec)
    """Where the answer is in the reply; nothing given: the whole body as text."""
    turns: Turns = "auto"
    """How a request with several user turns reaches the app: ``history`` (one request; the template reads
    ``messages``), ``session`` (each user turn sent in order in one conversation), ``single`` (such a request
    is refused). ``auto``: ``session`` with a ``session`` block, ``history`` when a template reads
    ``messages``, else ``single``."""
    session: SessionSpec | None = None
    limits: LimitSpec = Field(default_factory=lambda: LimitSpec.model_validate({}))

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {value[:40]!r}")
        if ENV_REF.search(value):
            raise ValueError("${...} references belong in headers only (a URL is shown in messages)")
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
                raise ValueError(f"{name!r} is not a valid header name")
            if any(c in text for c in "\r\n"):
                raise ValueError(f"{name}: a header value cannot hold a line break")
        return value

    @model_validator(mode="after")
    def _body_fits_method(self) -> TargetSpec:
        if self.method == "GET" and self.body is not None:
            raise ValueError("a GET request has no body: put the prompt in 'query' instead")
        if self.turns == "session" and self.session is None:
            raise ValueError("turns: session needs a 'session' block (cookies and/or an id from the first reply)")
        return self


class Target:
    """A loaded, checked target: what the backend sends and how it reads replies."""

    def __init__(self, path: Path, spec: TargetSpec, templates: BodyTemplates, headers: dict[str, str]):
        self.path = path
        self.spec = spec
        self.templates = templates
        self.headers = headers
        self.secrets = tuple(sorted({v for v in _secret_values(spec.headers) if v}, key=len, reverse=True))
        self.reply = Extractor(spec.reply, "reply")
        self.session_id = Extractor(spec.session.id, "session.id") if spec.session and spec.session.id else None
        self.turns: Turns = _turns(spec, templates)

    @property
    def label(self) -> str:
        return self.spec.name or self.path.name

    def redact(self, text: str) -> str:
        """The text with every resolved secret replaced: for messages that may echo what was sent."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def _turns(spec: TargetSpec, templates: BodyTemplates) -> Turns:
    if spec.turns != "auto":
        return spec.turns
    if spec.session is not None:
        return "session"
    return "history" if "messages" in templates.variables else "single"


def _secret_values(headers: dict[str, str]) -> list[str]:
    return [os.environ.get(m.group(1), "") for text in headers.values() for m in ENV_REF.finditer(text)]


def _resolve_headers(where: str, headers: dict[str, str]) -> dict[str, str]:
    resolved: dict[str, str] = {}
    for name, text in headers.items():

        def value(match: re.Match[str], name: str = name) -> str:
            var = match.group(1)
            found = os.environ.get(var)
            if found is None:
                raise TargetError(f"{where}: headers.{name}: environment variable {var} is not set")
            if any(c in found for c in "\r\n"):
                raise TargetError(f"{where}: headers.{name}: environment variable {var} holds a line break")
            return found

        resolved[name] = ENV_REF.sub(value, text)
    return resolved


def load_target(path: str | Path) -> Target:
    """Read, validate and compile a target file; every problem is a ``TargetError`` naming file and field."""
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TargetError(f"{where}: target file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TargetError(f"{where}: cannot read the target file: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}: " if mark is not None else ""
        raise TargetError(f"{where}: {at}not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise TargetError(f"{where}: a target file is a mapping (url, method, headers, body, reply, ...)")
    try:
        spec = TargetSpec.model_validate(data)
    except ValidationError as exc:
        raise TargetError(f"{where}: " + "; ".join(_problem(e, TargetSpec) for e in exc.errors())) from None
    try:
        templates = BodyTemplates(spec.url, spec.query, spec.body.json_template if spec.body else None,
                                  spec.body.form if spec.body else None)  # fmt: skip
    except TemplateProblem as exc:
        raise TargetError(f"{where}: {exc.field}: {exc}") from None
    try:
        Extractor(spec.reply, "reply")
        if spec.session and spec.session.id:
            Extractor(spec.session.id, "session.id")
    except ValueError as exc:
        raise TargetError(f"{where}: {exc}") from None
    return Target(path, spec, templates, _resolve_headers(where, spec.headers))


def _problem(error: Any, model: Any) -> str:
    loc = ".".join(str(part) for part in error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        message = unknown_field(model, tuple(error.get("loc", ())))
    return f"{loc}: {message}" if loc else message
