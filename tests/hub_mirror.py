"""A local file server on 127.0.0.1 in two layouts, so that ``tianping data pull`` can be tested without the
internet.

- ``hub``: a Hugging Face Hub endpoint for one dataset repo: ``HEAD``/``GET
  /datasets/<repo>/resolve/<revision>/<path>`` answered from a folder, with the headers ``huggingface_hub``
  reads (``X-Repo-Commit``, ``ETag``, ``Content-Length``), byte ranges (``206`` + ``Content-Range``), and the
  hub's ``X-Error-Code`` on a 404.
- ``raw``: raw.githubusercontent.com's layout, ``GET /<owner>/<repo>/<commit>/<path>``, each URL mapped to a
  local file.

Faults, to test the client's side: ``cut`` sends only the first N bytes of a file's first GET and drops the
connection; ``corrupt`` serves a file with one byte changed. Every request is recorded (method, path, headers).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO_COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    """Lower-case names."""


@dataclass
class MirrorState:
    files: Mapping[str, Path]
    """URL path (unquoted, no leading slash) -> the file served."""
    cut: dict[str, int] = field(default_factory=dict)
    """URL path -> bytes sent on its first GET before the connection is dropped."""
    corrupt: set[str] = field(default_factory=set)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def gets(self, suffix: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.method == "GET" and s.path.endswith(suffix)]


def hub_files(root: Path, repo: str, revision: str) -> dict[str, Path]:
    """Every file under ``root`` as the hub repo ``repo`` serves it at ``revision``."""
    prefix = f"datasets/{repo}/resolve/{revision}/"
    return {prefix + p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: MirrorState  # set on the subclass each server makes

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self._serve(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        path = unquote(urlsplit(self.path).path).lstrip("/")
        with self.state.lock:
            self.state.seen.append(Seen(self.command, path, {k.lower(): v for k, v in self.headers.items()}))
            cut = self.state.cut.pop(path, None) if body else None
        source = self.state.files.get(path)
        if source is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = source.read_bytes()
        if path in self.state.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start = 0
        wanted = self.headers.get("Range", "")
        if wanted.startswith("bytes=") and wanted.endswith("-"):
            start = int(wanted[len("bytes=") : -1])
        if start >= len(data) and start:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        part = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(part)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("X-Repo-Commit", REPO_COMMIT)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if not body:
            return
        if cut is not None:
            self.wfile.write(part[:cut])
            self.wfile.flush()
            self.close_connection = True  # the rest never comes: the client sees a body shorter than promised
            return
        self.wfile.write(part)


@contextmanager
def serving(files: Mapping[str, Path]) -> Iterator[tuple[str, MirrorState]]:
    """Serve ``files`` on a free port of 127.0.0.1 in a background thread; yields (base URL, state)."""
    state = MirrorState(dict(files))
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="hub-mirror", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def env_for(tmp_path: Path, endpoint: str, **more: str) -> dict[str, str]:
    """The environment of a tianping process that downloads from the server at ``endpoint`` and nowhere else,
    with its data folder and the hub client's cache under ``tmp_path``."""
    return {
        "TIANPING_DATA_DIR": str(tmp_path / "data"),
        "HF_ENDPOINT": endpoint,
        "HF_HOME": str(tmp_path / "hf"),  # the hub client's own cache and token stay out of the user's home
        "HF_HUB_OFFLINE": "",
        "TRANSFORMERS_OFFLINE": "",  # the hub client reads it when HF_HUB_OFFLINE is empty
        "TIANPING_OFFLINE": "",
        "TIANPING_UPSTREAM_URL": "http://127.0.0.1:9",  # nothing listens there: no test reaches GitHub
        "NO_PROXY": "127.0.0.1,localhost",
        # a loaded CI machine can be slow to answer even on 127.0.0.1: the hub client's 10 s defaults are too tight
        "HF_HUB_ETAG_TIMEOUT": "60",
        "HF_HUB_DOWNLOAD_TIMEOUT": "60",
        "OPENAI_API_KEY": "x",  # for runs against the tests' fake model server
        **more,
    }
