"""Bring a database to the store's current tables when a store opens it.

- a new database: the tables of ``tianping.store.tables`` are created and stamped with the head revision
  (Alembic's own recipe for a fresh database; a test checks that running every migration gives the same);
- a SQLite store made before Alembic (``PRAGMA user_version`` 1 to 6, no ``alembic_version``): its schema is
  brought to 6 by the steps it always used, then it is stamped with revision 0001, which is schema 6;
- a database behind the head revision: Alembic runs the missing migrations.

Alembic is imported only in the last case: a store at the head revision opens without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tianping.store.schema import DDL, MIGRATIONS, SCHEMA_VERSION

HEAD_REVISION = "0003"
"""The newest migration in ``migrations/versions`` (a test checks it against Alembic's own view)."""
BASELINE_REVISION = "0001"
"""The revision that equals schema 6, the last SQLite schema made without Alembic."""
KNOWN_REVISIONS = ("0001", "0002", "0003")
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_PG_LOCK = 7_411_020  # an advisory lock id: two processes preparing one PostgreSQL database take turns


class NewerStore(Exception):
    """The database was written by a newer tianping."""


def current_revision(conn: Any) -> str | None:
    """The Alembic revision a database is at (None when it has none), read without importing Alembic."""
    from sqlalchemy import inspect

    if not inspect(conn).has_table("alembic_version"):
        return None
    row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
    return None if row is None else str(row[0])


def sqlite_state(db: Any) -> str:
    """What a SQLite store needs, read with the standard library: 'ready' (at the head revision), 'empty' (a
    new file: create it) or 'migrate'. Raises NewerStore for a store of a newer tianping."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise NewerStore(f"schema {version} > {SCHEMA_VERSION}")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    revision = None
    if "alembic_version" in tables:
        row = db.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = None if row is None else str(row[0])
        if revision is not None and revision not in KNOWN_REVISIONS:
            raise NewerStore(f"revision {revision} is not one this version knows, newest {HEAD_REVISION}")
    if revision is None and "samples" not in tables:
        return "empty"
    return "ready" if revision == HEAD_REVISION and version == SCHEMA_VERSION else "migrate"


def create_sqlite(db: Any) -> None:
    """A new SQLite store: the head revision's tables (compiled from ``tables.py`` into ``sqlite_sql.py``),
    stamped, in one transaction that a second process creating the same file waits for."""
    from tianping.store import sqlite_sql

    db.execute("BEGIN IMMEDIATE")
    try:
        if sqlite_state(db) == "empty":
            for statement in sqlite_sql.CREATE:
                db.execute(statement)
            db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
            db.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (sqlite_sql.HEAD_REVISION,))
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def has_tables(conn: Any) -> bool:
    from sqlalchemy import inspect

    return bool(inspect(conn).has_table("runs"))


def check_not_newer(conn: Any, dialect: str) -> None:
    if dialect == "sqlite":
        version = conn.exec_driver_sql("PRAGMA user_version").scalar()
        if version > SCHEMA_VERSION:
            raise NewerStore(f"schema {version} > {SCHEMA_VERSION}")
    revision = current_revision(conn)
    if revision is not None and revision not in KNOWN_REVISIONS:
        raise NewerStore(f"revision {revision} is not one this version knows, newest {HEAD_REVISION}")


def prepare(conn: Any, dialect: str) -> None:
    """Create or upgrade the tables in one transaction, which also keeps a second process that opens the same
    database at that moment from preparing it twice."""
    from sqlalchemy import inspect

    with conn.begin():
        if dialect == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # the driver is in autocommit: the write lock is taken here
        else:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK})")
        check_not_newer(conn, dialect)
        revision = current_revision(conn)
        has_tables = inspect(conn).has_table("samples")
        legacy = False
        if has_tables and dialect == "sqlite":
            # user_version 1 to 5: a store that tianping before Alembic left behind (0 with a revision: tables
            # that Alembic alone made, outside the store)
            version = conn.exec_driver_sql("PRAGMA user_version").scalar()
            legacy = version < SCHEMA_VERSION and (version > 0 or revision is None)
        if revision == HEAD_REVISION and not legacy:
            return
        if legacy:
            _legacy_sqlite_to_6(conn)
        if revision is None:
            if has_tables:
                _stamp(conn, BASELINE_REVISION)
                revision = BASELINE_REVISION
            else:
                from tianping.store.tables import metadata

                metadata.create_all(conn)
                _stamp(conn, HEAD_REVISION)
                revision = HEAD_REVISION
        if revision != HEAD_REVISION:
            upgrade(conn)
        if dialect == "sqlite":
            # older tianping reads user_version: 6 tells it these are the tables it knows (a newer revision only
            # adds tables it never reads)
            conn.exec_driver_sql(f"PRAGMA user_version={SCHEMA_VERSION}")


def _legacy_sqlite_to_6(conn: Any) -> None:
    version = conn.exec_driver_sql("PRAGMA user_version").scalar()
    for step in range(max(version, 1) + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[step]:
            conn.exec_driver_sql(statement)
    # what a store of any version may still lack (the cache's index, dropped with its table by step 4)
    for statement in DDL.split(";\n"):
        if statement.strip():
            conn.exec_driver_sql(statement)


def _stamp(conn: Any, revision: str) -> None:
    conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
    conn.exec_driver_sql("DELETE FROM alembic_version")
    conn.exec_driver_sql(f"INSERT INTO alembic_version (version_num) VALUES ('{revision}')")


def alembic_config(conn: Any) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    return config


def upgrade(conn: Any, revision: str = "head") -> None:
    """Run Alembic's migrations up to ``revision`` on a connection inside the caller's transaction."""
    from alembic import command

    command.upgrade(alembic_config(conn), revision)
