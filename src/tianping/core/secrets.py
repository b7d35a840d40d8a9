"""Credentials never reach a store, a report, a log or a message: URLs are shown without them, and a key
given where the name of an environment variable belongs is refused instead of being stored."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_SECRET_PARAM = re.compile(
    r"(^|[-_])(api[-_]?key|key|token|access[-_]?token|auth|authorization|secret|password|passwd|pwd|sig|signature"
    r"|credential|credentials|session)$",
    re.IGNORECASE,
)
_KEY_PREFIXES = ("sk-", "sk_", "pk-", "rk-", "hf_", "gsk_", "xai-", "AKIA", "ghp_", "github_pat_", "eyJ")


def strip_credentials(url: str) -> str:
    """``url`` without user info and without query parameters that carry credentials (``?api_key=``,
    ``?token=``, ``?sig=`` ...); other parameters (``api-version``) are kept. Something that does not parse as
    a URL is replaced by a placeholder rather than shown."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid url>"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _SECRET_PARAM.search(k)]
    query = urlencode(kept)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def has_credentials(url: str) -> bool:
    """Whether ``url`` carries user info or a credential-like query parameter."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    if parts.username is not None or parts.password is not None:
        return True
    return any(_SECRET_PARAM.search(k) for k, _ in parse_qsl(parts.query, keep_blank_values=True))


def endpoint_identity(url: str) -> str:
    """The endpoint a URL names, for cache keys and records: scheme and host lower-cased, default port
    dropped, no trailing slash, no credentials. Two spellings of one endpoint give one identity."""
    clean = strip_credentials(url)
    try:
        parts = urlsplit(clean)
        port = parts.port
    except ValueError:
        return clean
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path.rstrip("/"), parts.query, ""))


def looks_like_secret(value: str) -> bool:
    """A value that looks like an API key rather than a name: a known key prefix, or a long run of mixed
    letters and digits."""
    text = value.strip()
    if text.startswith(_KEY_PREFIXES):
        return True
    return len(text) >= 24 and bool(re.search(r"[a-z]", text)) and bool(re.search(r"\d", text))


def check_env_name(value: str, field: str) -> str:
    """``value`` if it is the name of an environment variable; a ValueError that does not repeat the value
    when it looks like a key pasted in its place (the message would otherwise print the key)."""
    if looks_like_secret(value):
        raise ValueError(
            f"{field} takes the NAME of an environment variable that holds the key (e.g. OPENAI_API_KEY), "
            "and the value given looks like a key itself; it was not stored. Put the key in an environment "
            "variable and give that variable's name"
        )
    if not _ENV_NAME.match(value):
        raise ValueError(f"{field} must be an environment variable name (letters, digits, _), got {value!r}")
    return value


def key_hint(status: int, api_key_env: str, key_sent: bool) -> str:
    """What to check after an HTTP 401: the key in the variable, or that the variable is not set at all (a
    misspelt ``--api-key-env`` reads like a wrong key unless it is said). Names the variable, never its value."""
    if status != 401:
        return ""
    if key_sent:
        return f" (check the API key in ${api_key_env})"
    return f" (${api_key_env} is not set: no API key was sent; --api-key-env names the variable)"
