"""What the result store raises: one error line for the command line, naming the file or database, never a
password."""

from __future__ import annotations


class StoreError(RuntimeError):
    """The result store cannot be opened or used (the message names the file or the database, never a password)."""


class StoreBusy(StoreError):
    """Another process held the database's write lock for longer than the store waits."""


class StoreFull(StoreError):
    """The disk (or the database's size limit) is full; what was committed before is kept."""


class RunBusy(StoreError):
    """Another live process is executing the run."""
