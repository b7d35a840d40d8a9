"""A SQLite database in memory, seeded per episode: the model lists tables, reads their columns and runs SQL.

Containment: the model's statements run under an authorizer that refuses ``ATTACH`` and ``DETACH`` (and the limit
of attached databases is 0, which also stops ``VACUUM INTO`` from writing a file), every ``PRAGMA`` (so
``writable_schema`` stays off and SQLite itself refuses writes to its schema table), virtual tables and
``load_extension``; extensions are never enabled; one statement per call; a statement stops after a bounded number
of virtual-machine steps (a runaway recursive query); texts, blobs and the database's size are capped; at most
``MAX_ROWS`` rows are shown.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from tianping.agents.env.base import CheckResult, Environment, SpecError, ToolError, same_number, short, tool

MAX_ROWS = 50
MAX_CELL_CHARS = 200
MAX_STEPS = 5_000_000
"""Virtual-machine instructions one statement may run (about a second of work at most)."""
MAX_PAGES = 4096
"""Database pages at most (16 MiB at SQLite's default page size)."""
_STEP_CHUNK = 1000

TOOLS = (
    tool("list_tables", "List the database's tables with their row counts."),
    tool("describe_table", "Show a table's columns: name, type, whether it may be NULL, primary key.",
         {"table": {"type": "string", "maxLength": 128}}, ["table"]),
    tool("run_sql", "Run one SQL statement (SQLite dialect). A query answers its rows (at most 50 shown); a change "
         "answers how many rows it changed.", {"sql": {"type": "string", "maxLength": 20000}}, ["sql"]),
)  # fmt: skip

_REFUSED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"})


class SqliteEnv(Environment):
    """Seed: ``{"sql": "CREATE TABLE ...; INSERT ..."}`` (run before the model's first turn, with full rights).
    Checks: ``{sql: "SELECT ...", rows: [[...], ...], ordered: true}`` (``ordered: false`` compares as multisets)."""

    name = "sqlite"
    TOOLS = TOOLS
    CHECK_KEYS = frozenset({"sql"})

    def __init__(self, seed: Mapping[str, Any] | None = None) -> None:
        super().__init__(seed)
        seed = seed or {}
        self.validate_seed(seed)
        self._db = sqlite3.connect(":memory:", isolation_level=None)
        self._trusted = True
        self._steps = 0
        try:
            if seed.get("sql"):
                self._db.executescript(seed["sql"])
        except sqlite3.Error as exc:
            self._db.close()
            raise SpecError("seed.sql", f"does not run: {exc}") from None
        self._db.execute(f"PRAGMA max_page_count = {MAX_PAGES}")
        for limit, value in (
            (sqlite3.SQLITE_LIMIT_ATTACHED, 0),
            (sqlite3.SQLITE_LIMIT_LENGTH, 1_000_000),
            (sqlite3.SQLITE_LIMIT_SQL_LENGTH, 20_000),
            (sqlite3.SQLITE_LIMIT_EXPR_DEPTH, 100),
            (sqlite3.SQLITE_LIMIT_COMPOUND_SELECT, 50),
            (sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH, 10),
        ):
            self._db.setlimit(limit, value)
        self._db.set_authorizer(self._authorize)
        self._db.set_progress_handler(self._progress, _STEP_CHUNK)
        self._trusted = False

    @classmethod
    def validate_seed(cls, seed: Mapping[str, Any]) -> None:
        unknown = set(seed) - {"sql"}
        if unknown:
            raise SpecError("seed", f"unknown keys {sorted(unknown)} (a sqlite seed has sql)")
        if not isinstance(seed.get("sql", ""), str):
            raise SpecError("seed.sql", "must be SQL text")

    @classmethod
    def validate_check(cls, check: Mapping[str, Any]) -> None:
        super().validate_check(check)
        unknown = set(check) - {"sql", "rows", "ordered"}
        if unknown or "rows" not in check:
            raise SpecError("checks", f"a sql check takes sql, rows and optionally ordered, got {sorted(check)}")
        if not isinstance(check["rows"], list) or not all(isinstance(r, list) for r in check["rows"]):
            raise SpecError("checks", "rows must be a list of rows, each a list of values")

    async def aclose(self) -> None:
        self._db.close()

    def _authorize(
        self, action: int, arg1: str | None, arg2: str | None, dbname: str | None, source: str | None
    ) -> int:
        if self._trusted:
            return sqlite3.SQLITE_OK
        if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH, sqlite3.SQLITE_PRAGMA,
                      sqlite3.SQLITE_CREATE_VTABLE, sqlite3.SQLITE_DROP_VTABLE):  # fmt: skip
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _REFUSED_FUNCTIONS:
            return sqlite3.SQLITE_DENY
        # writes to sqlite_master are SQLite's own part of CREATE and DROP; a direct one SQLite refuses itself, as
        # long as writable_schema stays off (PRAGMA is refused above)
        return sqlite3.SQLITE_OK

    def _progress(self) -> int:
        self._steps += _STEP_CHUNK
        return 1 if not self._trusted and self._steps > MAX_STEPS else 0

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        self._steps = 0
        try:
            return self._db.execute(sql, args)
        except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError) as exc:
            raise ToolError(_refusal(str(exc))) from None

    # tools ---------------------------------------------------------------------------------------------------

    def tool_list_tables(self) -> str:
        self._trusted = True
        try:
            query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            names = [r[0] for r in self._db.execute(query)]
            lines = [
                f"{n} ({self._db.execute(f'SELECT count(*) FROM {_quoted(n)}').fetchone()[0]} rows)" for n in names
            ]
        finally:
            self._trusted = False
        return "\n".join(lines) if lines else "the database has no tables"

    def tool_describe_table(self, table: str) -> str:
        self._trusted = True
        try:
            exists = self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).fetchone()
            if not exists:
                raise ToolError(f"no table named {table!r}")
            columns = self._db.execute(f"PRAGMA table_info({_quoted(table)})").fetchall()
        finally:
            self._trusted = False
        lines = [
            f"{name} {kind or ''}{' NOT NULL' if notnull else ''}{' PRIMARY KEY' if pk else ''}".strip()
            for _, name, kind, notnull, _, pk in columns
        ]
        return f"{table}:\n" + "\n".join("  " + line for line in lines)

    def tool_run_sql(self, sql: str) -> str:
        before = self._db.total_changes  # rowcount misses a change that starts with WITH
        cursor = self._run(sql)
        if cursor.description is None:
            changed = self._db.total_changes - before
            return f"ok, {changed} row{'s' if changed != 1 else ''} changed"
        header = [d[0] for d in cursor.description]
        try:
            self._steps = 0
            rows = cursor.fetchmany(MAX_ROWS + 1)
        except (sqlite3.Error, ValueError, OverflowError) as exc:
            raise ToolError(_refusal(str(exc))) from None
        more = len(rows) > MAX_ROWS
        lines = [" | ".join(header)] + [" | ".join(_cell(v) for v in row) for row in rows[:MAX_ROWS]]
        if not rows:
            lines.append("(no rows)")
        if more:
            lines.append(f"[more rows not shown: at most {MAX_ROWS} are; narrow the query]")
        return "\n".join(lines)

    # checks --------------------------------------------------------------------------------------------------

    def check(self, check: Mapping[str, Any]) -> CheckResult:
        words = f"query {short(check['sql'], 90)} returns {short(check['rows'], 120)}"
        self._trusted = True
        try:
            found = [list(r) for r in self._db.execute(check["sql"]).fetchall()]
        except sqlite3.Error as exc:
            return CheckResult(words, False, f"the query fails: {exc}")
        finally:
            self._trusted = False
        expected = [list(r) for r in check["rows"]]
        if check.get("ordered", True):
            ok = len(found) == len(expected) and all(_same_row(a, b) for a, b in zip(found, expected, strict=True))
        else:
            ok = _same_multiset(found, expected)
        return CheckResult(words, ok, "" if ok else f"returns {short(found, 200)}")


def _refusal(text: str) -> str:
    """What the model is told of a statement SQLite refused or stopped."""
    if text == "interrupted":
        return f"the statement ran longer than allowed ({MAX_STEPS} steps) and was stopped"
    if "not authorized" in text or "authorization denied" in text or "too many attached" in text:
        return "not allowed: ATTACH, DETACH, VACUUM INTO, PRAGMA, virtual tables and extensions are refused"
    if "one statement at a time" in text:
        return f"SQL error: {text} (send one statement per call)"
    return f"SQL error: {text}"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    text = str(value)
    return text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS] + "..."


def _same_row(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(same_number(x, y, 1e-6) for x, y in zip(a, b, strict=True))


def _same_multiset(found: list[list[Any]], expected: list[list[Any]]) -> bool:
    if len(found) != len(expected):
        return False
    left = list(found)
    for row in expected:
        match = next((i for i, r in enumerate(left) if _same_row(r, row)), None)
        if match is None:
            return False
        left.pop(match)
    return True
