"""SQLite store of raw monitor records: one row per probed call, written as soon as the call ends.

Stdlib ``sqlite3`` in WAL mode, so ``tianping monitor report`` can read while a monitor writes.
Every field of :class:`~tianping.serving.records.ProbeRecord` has a column (``itl_s`` as a JSON
list), plus ``name`` (the endpoint's name in the monitor config) and ``day`` (the UTC date of
``started_at``, indexed, for the per-day report queries). Aggregates that need percentiles are
computed in Python from the raw values, which the queries below stream group by group.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tianping.serving.records import ProbeRecord

__all__ = ["DayValues", "MonitorStore", "StoreError", "StoredRecord"]

_ERROR_MAX_CHARS = 2000  # an HTML error page can be large; the class and the head are what matter
_RECORD_FIELDS = [f.name for f in dataclasses.fields(ProbeRecord)]
_SQL_TYPES = {"ok": "INTEGER NOT NULL", "itl_s": "TEXT"}


def _sql_type(name: str) -> str:
    if name in _SQL_TYPES:
        return _SQL_TYPES[name]
    annotation = str(ProbeRecord.__dataclass_fields__[name].type)
    if "str" in annotation:
        return "TEXT"
    if "int" in annotation:
        return "INTEGER"
    return "REAL"


@dataclass
class StoredRecord:
    """A stored row: the endpoint's configured name and the record as it was probed."""

    id: int
    name: str
    day: str
    record: ProbeRecord


@dataclass
class DayValues:
    """The raw values behind one (provider, model, day) group, as the report needs them."""

    provider: str
    model: str
    day: str
    n: int = 0
    successes: int = 0
    ttft_s: list[float] = field(default_factory=list)
    """TTFT of successful calls."""
    output_tps: list[float] = field(default_factory=list)
    """Output tokens per second of successful calls."""
    failures: dict[str, int] = field(default_factory=dict)


class StoreError(Exception):
    """The store cannot be used: not an SQLite file, not a monitor store, or a path that cannot be opened."""


def utc_day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


class MonitorStore:
    """Append-only store of probe records. Not thread-safe: use it from one thread (the event loop)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            if str(path) != ":memory:":
                if self.path.is_dir():
                    raise StoreError(f"{path}: is a directory, not a monitor store")
                self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{path}: cannot create its folder: {exc.strerror or exc}") from None
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None)  # autocommit: one row, one commit
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the monitor store: {exc}") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
            self._db.execute("PRAGMA busy_timeout=5000")
            self._create()
            self._db.execute("SELECT id, name, day FROM records LIMIT 1").fetchall()
        except sqlite3.Error as exc:  # garbage in the file, or a table of another shape
            self._db.close()
            raise StoreError(f"{path}: not a usable monitor store ({exc})") from None
        self._insert_sql = (
            f"INSERT INTO records (name, day, {', '.join(_RECORD_FIELDS)}) "
            f"VALUES (?, ?, {', '.join('?' for _ in _RECORD_FIELDS)})"
        )

    def _create(self) -> None:
        cols = ", ".join(f"{name} {_sql_type(name)}" for name in _RECORD_FIELDS)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS records"
            f" (id INTEGER PRIMARY KEY, name TEXT NOT NULL, day TEXT NOT NULL, {cols})"
        )
        have = {row[1] for row in self._db.execute("PRAGMA table_info(records)")}
        for name in _RECORD_FIELDS:  # a store written by an older version: add the new fields
            if name not in have:
                self._db.execute(f"ALTER TABLE records ADD COLUMN {name} {_sql_type(name).replace(' NOT NULL', '')}")
        self._db.execute("CREATE INDEX IF NOT EXISTS records_started ON records (started_at)")
        self._db.execute("CREATE INDEX IF NOT EXISTS records_group ON records (model, provider, day)")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> MonitorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------------

    def add(self, record: ProbeRecord, name: str | None = None) -> int:
        """Write one record now (committed on return); ``name`` defaults to ``record.endpoint``."""
        values: list[Any] = []
        for key in _RECORD_FIELDS:
            value = getattr(record, key)
            if key == "itl_s":
                value = json.dumps([round(float(v), 6) for v in value or []])
            elif key == "ok":
                value = 1 if value else 0
            elif key == "error" and isinstance(value, str) and len(value) > _ERROR_MAX_CHARS:
                value = value[:_ERROR_MAX_CHARS] + "…"
            values.append(value)
        cur = self._db.execute(self._insert_sql, [name or record.endpoint, utc_day(record.started_at), *values])
        return int(cur.lastrowid or 0)

    # -- reading ---------------------------------------------------------------------------------

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    def span(self) -> tuple[float, float] | None:
        """(first, last) ``started_at`` in the store, or None when it is empty."""
        row = self._db.execute("SELECT MIN(started_at), MAX(started_at) FROM records").fetchone()
        return None if row[0] is None else (float(row[0]), float(row[1]))

    def records(self, since: float | None = None, until: float | None = None) -> Iterator[StoredRecord]:
        """Stored records in time order, streamed from the database."""
        sql, args = self._where("SELECT id, name, day, " + ", ".join(_RECORD_FIELDS) + " FROM records", since, until)
        for row in self._db.execute(sql + " ORDER BY started_at, id", args):
            data = dict(zip(_RECORD_FIELDS, row[3:], strict=True))
            data["ok"] = bool(data["ok"])
            data["itl_s"] = json.loads(data["itl_s"] or "[]")
            yield StoredRecord(id=row[0], name=row[1], day=row[2], record=ProbeRecord(**data))

    def day_values(self, since: float | None = None, until: float | None = None) -> Iterator[DayValues]:
        """Per (model, provider, day) the call counts and raw values, one group at a time.

        A record without a provider is grouped under its endpoint name, so two unnamed providers of
        one model are not merged.
        """
        sql, args = self._where(
            "SELECT model, COALESCE(provider, name), day, ok, failure, ttft_s, output_tps FROM records", since, until
        )
        current: DayValues | None = None
        for model, provider, day, ok, failure, ttft, tps in self._db.execute(
            sql + " ORDER BY model, COALESCE(provider, name), day", args
        ):
            if current is None or (current.model, current.provider, current.day) != (model, provider, day):
                if current is not None:
                    yield current
                current = DayValues(provider=provider, model=model, day=day)
            current.n += 1
            if ok:
                current.successes += 1
                if ttft is not None:
                    current.ttft_s.append(float(ttft))
                if tps is not None:
                    current.output_tps.append(float(tps))
            else:
                key = failure or "unknown"
                current.failures[key] = current.failures.get(key, 0) + 1
        if current is not None:
            yield current

    @staticmethod
    def _where(sql: str, since: float | None, until: float | None) -> tuple[str, list[float]]:
        clauses, args = [], []
        if since is not None:
            clauses.append("started_at >= ?")
            args.append(since)
        if until is not None:
            clauses.append("started_at < ?")
            args.append(until)
        return (sql + (" WHERE " + " AND ".join(clauses) if clauses else "")), args
