"""Where an MCP server is and the bounds its episodes run under, as a task definition writes it.

A server is either ``command`` (+ ``args``, ``env``, ``cwd``): a subprocess spoken to over stdio, started for one
episode and stopped with it; or ``url`` (+ ``headers``): a streamable-HTTP endpoint. ``${NAME}`` in an argument,
an environment or header value or the URL is read from tianping's own environment when the episode connects, so a
definition names a secret without holding it; every such value, and the URL's password and query, is redacted
from anything tianping prints.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tianping.agents.mcp.errors import McpServerError
from tianping.core.errors import TaskConfigError
from tianping.core.suggest import validation_problems

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MIN_SECRET = 4
"""Shorter values are not redacted: masking every "1" or "on" in a message would hide more than it protects."""


class McpServerDef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    command: str | None = None
    """The server's executable (stdio); the episode starts it and stops it."""
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    """Variables set for the server, over the SDK's small safe default (HOME, PATH, ...): the server does not see
    tianping's own environment."""
    cwd: str | None = None
    url: str | None = None
    """A streamable-HTTP endpoint (``http://127.0.0.1:8931/mcp``)."""
    headers: dict[str, str] = Field(default_factory=dict)
    tools: list[str] | None = None
    """Offer only these of the server's tools (all of them when unset); one the server lacks is an error."""
    connect_timeout_s: float = Field(30.0, gt=0, le=600)
    """Start, handshake and the tool listing, together."""
    call_timeout_s: float = Field(60.0, gt=0, le=3600)
    """One tool call; a call still running then ends the episode as an error."""
    max_result_chars: int = Field(20_000, ge=64, le=1_000_000)
    """A longer result is cut to this many characters, with a note saying so, before the model sees it."""
    max_tools: int = Field(64, ge=1, le=1024)
    """More tools than this (after ``tools``) is an error rather than a silently shortened list."""

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerDef:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of 'command' (stdio) or 'url' (streamable HTTP)")
        if self.url is not None and (self.args or self.env or self.cwd):
            raise ValueError("'args', 'env' and 'cwd' belong to a 'command' server, not a 'url' one")
        if self.command is not None and self.headers:
            raise ValueError("'headers' belong to a 'url' server, not a 'command' one")
        return self

    @field_validator("command")
    @classmethod
    def _command_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        scheme = value.split(":", 1)[0].lower() if ":" in value else ""
        if scheme not in ("http", "https", "") or not value.startswith(("http://", "https://", "${")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("tools")
    @classmethod
    def _tools_unique(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise ValueError("must name at least one tool (leave it out to offer all)")
            if len(set(value)) != len(value):
                raise ValueError("names a tool twice")
        return value

    @property
    def transport(self) -> str:
        return "stdio" if self.command is not None else "http"

    @classmethod
    def parse(cls, raw: Any, where: str) -> McpServerDef:
        """Validate a definition's ``mcp`` mapping; errors name ``where`` and the field, never a value."""
        if not isinstance(raw, Mapping):
            raise TaskConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
        try:
            return cls.model_validate(dict(raw))
        except ValidationError as exc:
            problems = [f"{where}: field '{loc}': {message}" for loc, message in validation_problems(exc, cls)]
            raise TaskConfigError("\n".join(problems)) from None

    def resolve(self, environ: Mapping[str, str] | None = None) -> ResolvedServer:
        """Fill in ``${NAME}`` from the environment; a name that is not set is an error naming the field."""
        environ = os.environ if environ is None else environ
        secrets: list[str] = []

        def expand(text: str, field: str, secret: bool) -> str:
            def one(match: re.Match[str]) -> str:
                name = match.group(1)
                if name not in environ:
                    raise McpServerError(f"MCP server: field '{field}' reads ${{{name}}}, which is not set")
                value = environ[name]
                secrets.append(value)  # what came from the environment is never printed, wherever it lands
                return value

            out = _VAR.sub(one, text)
            if secret:
                secrets.append(out)
            return out

        args = [expand(a, f"args.{i}", secret=False) for i, a in enumerate(self.args)]
        env = {k: expand(v, f"env.{k}", secret=True) for k, v in self.env.items()}
        headers = {k: expand(v, f"headers.{k}", secret=True) for k, v in self.headers.items()}
        url = expand(self.url, "url", secret=False) if self.url is not None else None
        shown = None
        if url is not None:
            parts = urlsplit(url)
            secrets.extend(_url_secrets(parts))
            shown = _shown_url(parts)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise McpServerError(f"MCP server: field 'url' is not an http:// or https:// URL: {shown}")
        redactor = Redactor(secrets)
        if self.command is not None:
            shown = redactor(" ".join([self.command, *args]))
        assert shown is not None
        return ResolvedServer(self, args, env, headers, url, redactor, shown)


class Redactor:
    """Replaces every known secret in a text with ``***``, longest first so that one inside another goes too."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


@dataclass(frozen=True)
class ResolvedServer:
    """A definition with its variables filled in, ready to connect; ``shown`` is what messages call it."""

    spec: McpServerDef
    args: list[str]
    env: dict[str, str]
    headers: dict[str, str]
    url: str | None
    redact: Redactor
    shown: str


def _url_secrets(parts: SplitResult) -> list[str]:
    found = [parts.password] if parts.password else []
    for pair in parts.query.split("&"):
        _, _, value = pair.partition("=")
        if value:
            found.append(value)
    return found


def _shown_url(parts: SplitResult) -> str:
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port: int | str | None = parts.port
    except ValueError:  # not a number: shown as it is written, it is no secret
        port = parts.netloc.rpartition(":")[2]
    if port is not None:
        host = f"{host}:{port}"
    if parts.username is not None or parts.password is not None:
        host = f"***@{host}"
    query = "&".join(f"{p.partition('=')[0]}=***" if "=" in p else p for p in parts.query.split("&") if p)
    return urlunsplit((parts.scheme, host, parts.path, query, ""))
