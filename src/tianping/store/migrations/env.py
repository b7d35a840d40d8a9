"""Alembic's environment: migrations run on the connection the store hands over (``config.attributes``).

Outside the store (a developer's ``alembic`` command) there is no such connection; point
``sqlalchemy.url`` at a database in a config of your own and the same file connects to it.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from tianping.store.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only a developer's alembic command gets here
    with create_engine(config.get_main_option("sqlalchemy.url") or "").connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    # SQLite alters most tables only by copying them: batch mode does that where a migration needs it
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
