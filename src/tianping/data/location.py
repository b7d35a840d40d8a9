"""Where the datasets live and where downloads may come from: the data folder, offline mode, the hub endpoint.

The data folder is ``--data-dir``, else ``TIANPING_DATA_DIR``, else ``$XDG_CACHE_HOME/tianping/datasets``
(``~/.cache/tianping/datasets``). Offline mode (``--offline``, ``TIANPING_OFFLINE=1``, the hub client's own
``HF_HUB_OFFLINE=1``, or ``TRANSFORMERS_OFFLINE=1``, which that client reads when its own is unset) forbids every
download. The hub endpoint is ``--mirror`` (a URL or an alias), else ``HF_ENDPOINT``, else huggingface.co.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

DATA_DIR_ENV = "TIANPING_DATA_DIR"
OFFLINE_ENVS = ("TIANPING_OFFLINE", "HF_HUB_OFFLINE")
UPSTREAM_BASE_ENV = "TIANPING_UPSTREAM_URL"
DEFAULT_ENDPOINT = "https://huggingface.co"
UPSTREAM_BASE = "https://raw.githubusercontent.com"
MIRRORS = {"huggingface": DEFAULT_ENDPOINT, "hf-mirror": "https://hf-mirror.com"}
"""``--mirror`` aliases; hf-mirror.com is the usual hub mirror in mainland China."""
_TRUE = {"1", "true", "yes", "on"}


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """``TIANPING_DATA_DIR``, else the per-user cache folder (``XDG_CACHE_HOME`` honoured)."""
    env = os.environ if env is None else env
    value = env.get(DATA_DIR_ENV, "").strip()
    if value:
        return Path(value).expanduser()
    cache = env.get("XDG_CACHE_HOME", "").strip()
    base = Path(cache).expanduser() if cache else Path.home() / ".cache"
    return base / "tianping" / "datasets"


def offline_reason(flag: bool = False, env: Mapping[str, str] | None = None) -> str | None:
    """Why downloads are off (``--offline`` or the variable that says so), or None when they are allowed."""
    if flag:
        return "--offline"
    env = os.environ if env is None else env
    for name in OFFLINE_ENVS:
        if env.get(name, "").strip().lower() in _TRUE:
            return f"{name}={env[name]}"
    # the hub client falls back to transformers' older variable when its own is unset or empty; it would then
    # refuse every hub download with a message about connections, so say the real reason here
    if not env.get("HF_HUB_OFFLINE", "").strip() and env.get("TRANSFORMERS_OFFLINE", "").strip().lower() in _TRUE:
        return f"TRANSFORMERS_OFFLINE={env['TRANSFORMERS_OFFLINE']}"
    return None


def hub_endpoint(mirror: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The hub endpoint: ``mirror`` (an alias or an http(s) URL), else ``HF_ENDPOINT``, else huggingface.co."""
    env = os.environ if env is None else env
    if mirror:
        return _checked_url(MIRRORS.get(mirror.strip(), mirror.strip()), "--mirror")
    value = env.get("HF_ENDPOINT", "").strip()
    return _checked_url(value, "HF_ENDPOINT") if value else DEFAULT_ENDPOINT


def upstream_base(env: Mapping[str, str] | None = None) -> str:
    """Where upstream files are read raw (``<base>/<owner>/<repo>/<commit>/<path>``): GitHub's raw host, or
    ``TIANPING_UPSTREAM_URL`` (a local copy in the same layout, or a proxy)."""
    env = os.environ if env is None else env
    value = env.get(UPSTREAM_BASE_ENV, "").strip()
    return _checked_url(value, UPSTREAM_BASE_ENV) if value else UPSTREAM_BASE


def _checked_url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        aliases = ", ".join(MIRRORS)
        raise ValueError(f"{what}: expected an http(s) URL or one of {aliases}, got {value!r}")
    return value.rstrip("/")
