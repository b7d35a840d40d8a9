"""Alembic migrations of the result store, run by the store itself when it opens a database (no alembic.ini)."""
