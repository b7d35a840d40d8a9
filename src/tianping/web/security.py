"""What keeps the dashboard safe to point at untrusted results: response headers (a Content-Security-Policy
that runs only the dashboard's own scripts and fetches nothing from elsewhere), the write token, CSRF tokens
and the vote rate limit.

Writing (voting) is off unless ``TIANPING_TOKEN`` is set. A visitor proves the token once on the voting
page and gets a session cookie (HttpOnly, SameSite=Strict) holding an HMAC of a random session id, never the
token; each vote form carries a CSRF token bound to that session and to the pair of answers shown.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from typing import Any

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""Plotly.js sets inline styles on the elements it draws, hence ``'unsafe-inline'`` for styles only; no inline
script, no eval, no remote origin."""

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make a form post's Origin "null"
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """HMAC-SHA256 signatures with a key made at start-up (sessions do not outlive the server)."""

    def __init__(self, key: bytes | None = None):
        self.key = key or secrets.token_bytes(32)

    def sign(self, text: str) -> str:
        return _b64(hmac.new(self.key, text.encode("utf-8"), hashlib.sha256).digest())

    def dumps(self, value: Any) -> str:
        body = _b64(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        return f"{body}.{self.sign(body)}"

    def loads(self, token: str) -> Any | None:
        """The value, or None when the token was not signed by this server."""
        body, _, sig = (token or "").partition(".")
        if not body or not hmac.compare_digest(sig, self.sign(body)):
            return None
        try:
            return json.loads(_unb64(body))
        except ValueError:
            return None


class Guard:
    """The write token, sessions, CSRF tokens and the per-session vote rate limit."""

    def __init__(self, token: str | None, *, votes_per_minute: int = 20):
        self.token = token or None
        self.signer = Signer()
        self.votes_per_minute = votes_per_minute
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @property
    def writable(self) -> bool:
        return self.token is not None

    def token_ok(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(given.encode("utf-8"), self.token.encode("utf-8"))

    def new_session(self) -> str:
        return self.signer.dumps({"sid": secrets.token_urlsafe(16), "t": int(time.time())})

    def session_id(self, cookie: str | None) -> str | None:
        value = self.signer.loads(cookie or "") if self.writable else None
        return value.get("sid") if isinstance(value, dict) else None

    def csrf(self, sid: str, purpose: str) -> str:
        return self.signer.sign(f"csrf|{sid}|{purpose}")

    def csrf_ok(self, sid: str, purpose: str, given: str) -> bool:
        return hmac.compare_digest((given or "").encode("utf-8"), self.csrf(sid, purpose).encode("utf-8"))

    def allow(self, who: str, now: float | None = None) -> bool:
        """Count one vote for ``who``; False when it has had ``votes_per_minute`` in the last minute."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(who, deque())
            while hits and now - hits[0] > 60.0:
                hits.popleft()
            if len(hits) >= self.votes_per_minute:
                return False
            hits.append(now)
            return True

    def voter(self, sid: str) -> str:
        return hashlib.sha256(f"voter|{sid}".encode()).hexdigest()[:16]
