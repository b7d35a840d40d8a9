"""The result store: runs, the response cache, samples and aggregates (SQLite by default)."""

from tianping.store.store import Store

__all__ = ["Store"]
