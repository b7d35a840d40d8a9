"""The Alembic migrations inside the package: a new database made from the tables equals one made by running
every migration, on both databases, and the revision the store checks without Alembic is Alembic's head."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tianping.store import Store, migrate
from tianping.store.backends import sqlalchemy_url
from tianping.store.store import StoreError


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tianping.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


def test_the_head_revision_is_alembic_s():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(migrate.MIGRATIONS_DIR))
    assert script.get_current_head() == migrate.HEAD_REVISION
    assert {s.revision for s in script.walk_revisions()} == set(migrate.KNOWN_REVISIONS)


def test_running_every_migration_gives_the_tables_the_store_creates(url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from tianping.store.tables import metadata

    engine = create_engine(sqlalchemy_url(url), poolclass=NullPool)
    with engine.connect() as conn:
        with conn.begin():
            migrate.upgrade(conn)
        with conn.begin():
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
            head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    assert diff == [] and head == migrate.HEAD_REVISION
    store = Store(url)  # a store opens the migrated database as it is
    store.create_run("r", {}, "0.1.0")
    assert store.get_run("r") is not None
    store.close()


def test_a_database_of_a_newer_revision_is_refused_by_name(url):
    Store(url).close()
    engine = create_engine(sqlalchemy_url(url), poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff_from_the_future'"))
    engine.dispose()
    for readonly in (False, True):
        with pytest.raises(StoreError, match="written by a newer tianping .*ffff_from_the_future"):
            Store(url, readonly=readonly)


def test_the_frozen_sqlite_text_is_what_the_core_definitions_compile_to():
    """``sqlite_sql.py`` lets a SQLite store open without SQLAlchemy; regenerate it with
    ``python -m tianping.store.statements`` when the tables or statements change."""
    from tianping.store import sqlite_sql, statements

    namespace: dict[str, object] = {}
    exec(statements.frozen_sqlite_source(), namespace)
    assert namespace["CREATE"] == sqlite_sql.CREATE and namespace["STATEMENTS"] == sqlite_sql.STATEMENTS
    assert sqlite_sql.HEAD_REVISION == migrate.HEAD_REVISION


def test_a_new_sqlite_store_has_the_tables_of_the_metadata_and_needs_no_sqlalchemy(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from tianping.store.tables import metadata

    code = (
        "import sys; from tianping.store import Store; s = Store.open(sys.argv[1]); s.create_run('r', {}, 'v'); "
        "s.close(); print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic')))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    engine = create_engine(f"sqlite:///{tmp_path / 'tianping.sqlite'}", poolclass=NullPool)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == migrate.HEAD_REVISION
        assert conn.execute(text("PRAGMA user_version")).scalar() == 6
    engine.dispose()


def test_an_adopted_schema_6_store_has_the_tables_of_the_metadata(tmp_path):
    """The tables ``tables.py`` defines are those of schema 6 (plus later revisions): an adopted store that the
    stdlib store created matches them column for column."""
    import sqlite3

    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from tianping.store.schema import DDL, SCHEMA_VERSION
    from tianping.store.tables import metadata

    path = tmp_path / "tianping.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(DDL)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    Store(path).close()
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    # the one difference: schema 6 declared ``run_id TEXT PRIMARY KEY``, which SQLite (unlike the SQL standard)
    # lets hold NULL; the store never writes one
    changes = [step for d in diff for step in (d if isinstance(d, list) else [d])]  # modify_* come in lists
    assert [(c[0], c[2], c[3]) for c in changes] == [("modify_nullable", "runs", "run_id")]
