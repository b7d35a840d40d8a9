"""Where a store lives (a SQLite file or a PostgreSQL database) and what each database's errors mean.

Nothing here imports SQLAlchemy or a driver at module level: ``tianping --help`` and the commands that never
open a store do not pay for them.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
_SECRET_PARAMS = {"password", "sslpassword", "passfile"}

# URLs opened in this process, by the masked form shown to people: a report's sections reopen the store from
# the location the report names, and that location must never carry the password.
_OPENED: dict[str, str] = {}


def is_postgres(location: str | Path) -> bool:
    return isinstance(location, str) and location.split(":", 1)[0].lower() in POSTGRES_SCHEMES


def mask_url(url: str) -> str:
    """The URL without its password (in the user part or the query), safe to print or store."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"//[^@/]*@", "//***@", url)
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}@{host}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in _SECRET_PARAMS]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="/"), parts.fragment))


def scrub(text: str, url: str) -> str:
    """A driver's message with any password of the URL cut out (belt and braces: drivers do not echo it)."""
    parts = urlsplit(url)
    secrets = [parts.password] if parts.password else []
    secrets += [v for k, v in parse_qsl(parts.query) if k.lower() in _SECRET_PARAMS and v]
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def remember(url: str) -> str:
    shown = mask_url(url)
    _OPENED[shown] = url
    return shown


def recall(location: str) -> str:
    """The full URL of a store opened in this process under its masked form (or the location itself)."""
    return _OPENED.get(location, location)


def sqlalchemy_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` name psycopg 3 (SQLAlchemy's default would be psycopg2)."""
    scheme, rest = url.split(":", 1)
    return "postgresql+psycopg:" + rest if scheme.lower() in ("postgresql", "postgres") else url


@dataclass(frozen=True)
class Dialect:
    """What differs between the two databases, for the statements the store sends through the driver."""

    name: str
    begin: str  # starts a write transaction that holds its lock from the first statement
    error: type[BaseException]

    def classify(self, exc: BaseException) -> str:
        """'busy' (wait and retry), 'full', 'readonly', 'missing_table' or 'other'."""
        if self.name == "sqlite":
            text = str(exc)
            if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
                return "busy"
            if "full" in text:
                return "full"
            if "readonly" in text or "read-only" in text:
                return "readonly"
            return "missing_table" if "no such table" in text else "other"
        from psycopg import errors

        if isinstance(exc, errors.LockNotAvailable | errors.SerializationFailure | errors.DeadlockDetected):
            return "busy"
        if isinstance(exc, errors.DiskFull | errors.OutOfMemory):
            return "full"
        if isinstance(exc, errors.ReadOnlySqlTransaction | errors.InsufficientPrivilege):
            return "readonly"
        return "missing_table" if isinstance(exc, errors.UndefinedTable) else "other"

    def param(self, name: str) -> str:
        """A named parameter in the driver's style (sqlite3 ``:name``, psycopg ``%(name)s``)."""
        return f":{name}" if self.name == "sqlite" else f"%({name})s"

    def in_transaction(self, db: Any) -> bool:
        if self.name == "sqlite":
            return bool(db.in_transaction)
        from psycopg import pq

        return bool(db.info.transaction_status != pq.TransactionStatus.IDLE)


SQLITE = Dialect("sqlite", "BEGIN IMMEDIATE", sqlite3.Error)


def postgres_dialect() -> Dialect:
    import psycopg

    return Dialect("postgresql", "BEGIN", psycopg.Error)


def sqlite_creator(path: Path, *, readonly: bool, busy_timeout_s: float) -> Any:
    """How SQLAlchemy's pool connects to the file: autocommit (the store issues BEGIN itself), and read-only
    opening through a URI, falling back to an immutable read where a WAL database sits on a read-only mount."""

    def connect() -> sqlite3.Connection:
        if not readonly:
            return sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
        uri = "file:" + quote(str(path.resolve()))
        db = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=busy_timeout_s, isolation_level=None)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError:
            # a WAL database on a read-only mount cannot create its shared-memory file: read it as immutable
            db.close()
            return sqlite3.connect(uri + "?immutable=1", uri=True, isolation_level=None)

    return connect
