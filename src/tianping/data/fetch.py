"""The two places a catalog file can be downloaded from.

- The hub mirror: tianping's Hugging Face Hub dataset repo (``<name>/<path>``), read with ``huggingface_hub``
  (the ``data`` extra), which honours the endpoint given (a mirror such as hf-mirror.com), the user's token and
  proxies, and resumes a download cut mid-file with a Range request.
- Upstream: the file in the repo it was taken from, at the pinned commit, read raw over HTTP(S). A cut download
  leaves ``<file>.part`` behind and the next attempt, in this process or a later one, asks only for the rest.

Neither checks the content: the caller holds every file to its pinned SHA-256 before it counts as present.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlsplit

from tianping import __version__
from tianping.data.catalog import HubMirror, Upstream

INSTALL_HINT = "pip install 'tianping[data]'"
CHUNK = 1 << 16
PART_SUFFIX = ".part"


class FetchError(RuntimeError):
    """A download that did not happen; the message says from where and why."""


class HostUnknown(FetchError):
    """The source's host name could not be resolved (no network, or no DNS): every other file from it would fail
    the same way, after its own retries."""

    def __init__(self, message: str, host: str) -> None:
        super().__init__(message)
        self.host = host


def _unresolved(exc: BaseException | None) -> bool:
    """Whether a name lookup failed somewhere down the exception's chain (the hub client wraps it twice)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, socket.gaierror):
            return True
        reason = getattr(exc, "reason", None)  # urllib's URLError keeps it here
        if isinstance(reason, socket.gaierror):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def hub_url(endpoint: str, mirror: HubMirror, filename: str) -> str:
    return f"{endpoint}/datasets/{mirror.repo}/resolve/{quote(mirror.revision, safe='')}/{quote(filename)}"


def fetch_from_hub(root: Path, filename: str, mirror: HubMirror, endpoint: str) -> Path:
    """Download ``filename`` (``<dataset>/<path>``) of the hub mirror into ``root`` (the same relative path)."""
    if "huggingface_hub" not in sys.modules:
        # the hub client reads its endpoint once, at import, for calls of its own beside the download (a daily
        # registry fetch): a named mirror must be the only host it talks to
        os.environ["HF_ENDPOINT"] = endpoint
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.utils import disable_progress_bars
    except ImportError:
        raise FetchError(f"huggingface_hub is not installed (needed for the hub mirror): {INSTALL_HINT}") from None
    disable_progress_bars()  # one bar per file of a 134-file dataset says less than the caller's own progress
    try:
        got = hf_hub_download(
            repo_id=mirror.repo,
            filename=filename,
            repo_type="dataset",
            revision=mirror.revision,
            endpoint=endpoint,
            local_dir=root,
            library_name="tianping",
            library_version=__version__,
        )
    # the hub client raises its own errors, httpx's and OSError for one failed file: any of them means "not
    # from here", and the caller may try the upstream source next
    except Exception as exc:
        where = hub_url(endpoint, mirror, filename)
        if _unresolved(exc):
            raise HostUnknown(f"{where}: {_one_line(exc)}", urlsplit(where).hostname or endpoint) from None
        raise FetchError(f"{where}: {_one_line(exc)}") from None
    return Path(str(got))


def upstream_url(base: str, upstream: Upstream, path: str) -> str:
    return f"{base}/{upstream.slug}/{upstream.commit}/{quote(path)}"


def fetch_url(url: str, part: Path, size: int | None, attempts: int = 3, timeout: float = 60.0) -> Path:
    """Download ``url`` into ``part``, resuming what an earlier cut attempt left there; ``size`` (when known)
    says when it is complete. Returns ``part``; the caller checks it and moves it into place."""
    part.parent.mkdir(parents=True, exist_ok=True)
    last = ""
    for _ in range(attempts):
        have = part.stat().st_size if part.exists() else 0
        if size is not None and have >= size:
            if have == size:
                return part
            part.unlink()  # longer than the pinned file: not a prefix of it
            have = 0
        headers = {"User-Agent": f"tianping/{__version__}"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as reply:
                resumed = have > 0 and reply.status == 206 and _range_start(reply) == have
                with part.open("ab" if resumed else "wb") as f:
                    shutil.copyfileobj(reply, f, CHUNK)
            if size is None or part.stat().st_size == size:
                return part
            last = f"got {part.stat().st_size} bytes, expected {size}"
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # the server has no bytes past ours: start again from zero
                part.unlink(missing_ok=True)
                last = "HTTP 416 on resume"
                continue
            raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            if _unresolved(exc):
                raise HostUnknown(f"{url}: {_one_line(exc)}", urlsplit(url).hostname or url) from None
            # a dropped connection keeps what arrived in the .part file: the next attempt asks for the rest
            last = _one_line(exc) or type(exc).__name__
    kept = part.stat().st_size if part.exists() else 0
    resumable = f"; the {kept} bytes that arrived are kept in {part} for the next attempt" if kept else ""
    raise FetchError(f"{url}: {last} (after {attempts} attempts{resumable})")


def _range_start(reply: http.client.HTTPResponse) -> int | None:
    value = reply.headers.get("Content-Range", "")  # "bytes 100-199/200"
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _one_line(exc: BaseException) -> str:
    """The error on one line (the hub client's messages run over several), at most 300 characters."""
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__
