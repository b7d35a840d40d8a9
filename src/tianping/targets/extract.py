"""Reading the answer (or a conversation id) out of an application's reply: a JSONPath, a regex or a header."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


class ExtractorSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    json_path: str | None = None
    """A JSONPath into the JSON body (``$.choices[0].message.content``); the first match is taken."""
    regex: str | None = None
    """A regular expression over the body text; group ``group`` of the first match (the whole match when the
    pattern has no group)."""
    group: int | str | None = None
    header: str | None = None
    """A response header's value (a conversation id the app sends as ``X-Conversation-Id``)."""

    @model_validator(mode="after")
    def _at_most_one(self) -> ExtractorSpec:
        given = [k for k in ("json_path", "regex", "header") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of json_path, regex or header, not {' and '.join(given)}")
        if self.group is not None and self.regex is None:
            raise ValueError("group applies to a regex only")
        return self


class Unreadable(ValueError):
    """A reply that does not hold what the extraction rule looks for."""


class Extractor:
    """A compiled rule; ``field`` (``reply``, ``session.id``) prefixes its messages."""

    def __init__(self, spec: ExtractorSpec, field: str):
        self.spec = spec
        self.field = field
        self._path: Any = None
        self._regex: re.Pattern[str] | None = None
        if spec.json_path is not None:
            self._path = _compile_path(spec.json_path, f"{field}.json_path")
        if spec.regex is not None:
            try:
                self._regex = re.compile(spec.regex, re.DOTALL)
            except re.error as exc:
                raise ValueError(f"{field}.regex: not a valid regular expression: {exc}") from None
            if isinstance(spec.group, int) and spec.group > self._regex.groups:
                raise ValueError(f"{field}.group: the pattern has only {self._regex.groups} group(s)")
            if isinstance(spec.group, str) and spec.group not in self._regex.groupindex:
                raise ValueError(f"{field}.group: the pattern has no group named {spec.group!r}")

    @property
    def whole_body(self) -> bool:
        return self._path is None and self._regex is None and self.spec.header is None

    def extract(self, text: str, headers: Mapping[str, str]) -> str:
        """The extracted value as text; ``Unreadable`` when the reply does not hold it."""
        if self.spec.header is not None:
            found = headers.get(self.spec.header)
            if found is None:
                raise Unreadable(f"{self.field}.header: the reply has no {self.spec.header} header")
            return found
        if self._regex is not None:
            match = self._regex.search(text)
            if match is None:
                raise Unreadable(f"{self.field}.regex: no match in the reply")
            group = self.spec.group if self.spec.group is not None else (1 if self._regex.groups else 0)
            value = match.group(group)
            if value is None:
                raise Unreadable(f"{self.field}.regex: group {group} did not take part in the match")
            return value
        if self._path is not None:
            try:
                data = json.loads(text)
            except ValueError:
                raise Unreadable(f"{self.field}.json_path: the reply is not JSON") from None
            matches = self._path.find(data)
            if not matches:
                raise Unreadable(f"{self.field}.json_path: {self.spec.json_path} matches nothing in the reply")
            return _as_text(matches[0].value)
        return text


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _compile_path(expression: str, field: str) -> Any:
    try:
        from jsonpath_ng.ext import parse
    except ImportError:  # pragma: no cover - depends on the environment
        raise ValueError(f"{field}: JSONPath needs the jsonpath-ng package: pip install 'tianping[apps]'") from None
    try:
        return parse(expression)
    except Exception as exc:  # jsonpath-ng raises its own lexer/parser exception types and plain Exceptions
        raise ValueError(f"{field}: not a valid JSONPath ({expression!r}): {exc}") from None
