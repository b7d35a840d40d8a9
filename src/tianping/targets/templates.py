"""The request templates of an HTTP target, rendered in Jinja's sandbox so that a prompt can never change the
request's shape.

Three contexts, each with its own escaping, applied to every ``{{ ... }}`` by Jinja's ``finalize`` hook:

- the JSON body: a value must pass through ``| json`` (``tojson`` is the same filter), which JSON-encodes it; a
  bare ``{{ prompt }}`` is refused when the file is loaded, since a quote in a prompt would end the string and
  the rest of the prompt would become JSON. Numbers, booleans and null may be inserted bare.
- form fields and query values: rendered as text; the HTTP client form- or percent-encodes the whole value.
- the URL: every inserted value is percent-encoded (``/``, ``?`` and ``#`` included), so a conversation id
  cannot reach another path.

The variables: ``prompt`` (the user turn being sent), ``messages`` (the conversation as ``{role, content}``
mappings), ``system`` (the system prompt, or ""), ``session_id`` (the id read from the first reply, else None),
``turn`` (0 for the first user turn), ``max_tokens`` and ``temperature`` (the run's generation settings).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jinja2
from jinja2 import StrictUndefined, meta
from jinja2.sandbox import SandboxedEnvironment

from tianping.core.suggest import unknown_key

VARIABLES = frozenset({"prompt", "messages", "system", "session_id", "turn", "max_tokens", "temperature"})
PROBE = 'a "quoted" \\ back\\slash {{ braces }} </script> & ü 你好\n\t${HOME} %s'
"""A prompt with every character that breaks careless templating, rendered once when a target loads."""


class TemplateProblem(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class _Encoded(str):
    """A value already JSON-encoded by the ``json`` filter: the only kind of string the JSON body accepts."""


def _to_json(value: Any) -> _Encoded:
    if isinstance(value, jinja2.Undefined):
        value.__str__()  # StrictUndefined raises, naming the variable
    return _Encoded(json.dumps(value, ensure_ascii=False))


class _Bare(ValueError):
    pass


def _json_finalize(value: Any) -> Any:
    if isinstance(value, _Encoded) or value is None or isinstance(value, bool | int | float):
        return "null" if value is None else (json.dumps(value) if not isinstance(value, _Encoded) else value)
    raise _Bare("insert every value into a JSON body with '| json' (e.g. {{ prompt | json }}): a quote in a prompt "
                "would otherwise break out of its string")  # fmt: skip


def _text_finalize(value: Any) -> Any:
    return "" if value is None else value


def _url_finalize(value: Any) -> Any:
    return "" if value is None else quote(str(value), safe="")


def _environment(finalize: Any) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=StrictUndefined, finalize=finalize, autoescape=False, keep_trailing_newline=True
    )
    env.filters["json"] = _to_json
    env.filters["tojson"] = _to_json
    return env


@dataclass(frozen=True)
class Rendered:
    url: str
    query: dict[str, str]
    json_body: str | None
    form: dict[str, str] | None


class BodyTemplates:
    """The compiled templates of one target; ``variables`` is every name they read."""

    def __init__(self, url: str, query: dict[str, str], json_template: str | None, form: dict[str, str] | None) -> None:
        self.variables: set[str] = set()
        text_env, json_env, url_env = (
            _environment(_text_finalize),
            _environment(_json_finalize),
            _environment(_url_finalize),
        )
        self._url = self._compile(url_env, url, "url")
        self._query = {k: self._compile(text_env, v, f"query.{k}") for k, v in query.items()}
        self._json = self._compile(json_env, json_template, "body.json") if json_template is not None else None
        self._form = (
            {k: self._compile(text_env, v, f"body.form.{k}") for k, v in form.items()} if form is not None else None
        )
        if "prompt" not in self.variables and "messages" not in self.variables:
            raise TemplateProblem("body", "no template inserts the prompt (use {{ prompt | json }} or a form field)")
        self._check()

    def _compile(self, env: SandboxedEnvironment, source: str, field: str) -> jinja2.Template:
        try:
            names = meta.find_undeclared_variables(env.parse(source))
            template = env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateProblem(field, f"template error on line {exc.lineno}: {exc.message}") from None
        unknown = sorted(names - VARIABLES)
        if unknown:
            name = unknown[0]
            raise TemplateProblem(field, unknown_key(name, sorted(VARIABLES), f"variable '{name}'"))
        self.variables.update(names)
        template.field = field  # type: ignore[attr-defined]
        return template

    def _check(self) -> None:
        """Render once with a hostile prompt, with and without a session id: a template that only fails on some
        prompts, or a JSON body that does not parse, is found before anything is sent."""
        for session_id in (None, "s-1"):
            context = context_for(
                PROBE, [{"role": "user", "content": PROBE}], system=PROBE, session_id=session_id, turn=0
            )
            rendered = self.render(context)
            if rendered.json_body is not None:
                try:
                    json.loads(rendered.json_body)
                except ValueError as exc:
                    raise TemplateProblem("body.json", f"does not render valid JSON: {exc}") from None

    def render(self, context: dict[str, Any]) -> Rendered:
        return Rendered(
            url=self._run(self._url, context),
            query={k: self._run(t, context) for k, t in self._query.items()},
            json_body=self._run(self._json, context) if self._json is not None else None,
            form={k: self._run(t, context) for k, t in self._form.items()} if self._form is not None else None,
        )

    @staticmethod
    def _run(template: jinja2.Template, context: dict[str, Any]) -> str:
        field = template.field  # type: ignore[attr-defined]
        try:
            return template.render(context)
        except _Bare as exc:
            raise TemplateProblem(field, str(exc)) from None
        except jinja2.UndefinedError as exc:
            raise TemplateProblem(field, str(exc)) from None
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateProblem(field, f"refused by the template sandbox: {exc}") from None
        except jinja2.TemplateError as exc:
            raise TemplateProblem(field, f"template error: {exc}") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise TemplateProblem(field, f"cannot render: {exc}") from None


def context_for(
    prompt: str,
    messages: list[dict[str, str]],
    *,
    system: str = "",
    session_id: str | None = None,
    turn: int = 0,
    max_tokens: int | None = None,
    temperature: float | None = None,
) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "messages": messages,
        "system": system,
        "session_id": session_id,
        "turn": turn,
        "max_tokens": max_tokens,
        "temperature": temperature,
    }
