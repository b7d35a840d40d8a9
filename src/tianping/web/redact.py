"""Run specs as the dashboard shows them: no API keys, tokens, passwords, headers or URL credentials."""

from __future__ import annotations

import re
from typing import Any

from tianping.spec import without_credentials

REDACTED = "[redacted]"
# A key that names a secret, or a mapping of HTTP headers (an Authorization header is a secret by another name).
# ``api_key_env`` names an environment variable, not its value, so it stays.
_SECRET_KEY = re.compile(r"(api[_-]?key|secret|token|password|passwd|credential|authorization|cookie|headers?)$", re.I)
_KEEP = {"api_key_env"}
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:api[_-]?key|key|token|access_token|sig|signature|password)=)[^&#\s]+")


def _scrub_text(text: str) -> str:
    text = _URL_CREDENTIALS.sub(r"\1" + REDACTED + "@", text)
    return _QUERY_SECRET.sub(r"\1" + REDACTED, text)


def redact_spec(spec: Any) -> Any:
    """A copy of a stored spec (or any part of one) safe to show: secret-named fields replaced, credentials
    cut out of every URL-like string, on top of the spec module's own ``without_credentials``."""
    return _redact(without_credentials(spec))


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (REDACTED if v not in (None, "", {}, []) else v)
            if isinstance(k, str) and k not in _KEEP and _SECRET_KEY.search(k)
            else _redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v) for v in value]
    if isinstance(value, str):
        return _scrub_text(value)
    return value
