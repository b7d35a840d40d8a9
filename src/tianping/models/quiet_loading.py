"""transformers' "Loading weights" progress bar, off for a load that is over in a moment, and back on after it:
the setting is process-wide, and a program that uses tianping from Python keeps its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def without_weight_bars() -> Iterator[None]:
    """Within the block transformers draws no progress bar; the previous setting comes back after it."""
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:  # nothing draws one then
        yield
        return
    if not transformers_logging.is_progress_bar_enabled():
        yield
        return
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        transformers_logging.enable_progress_bar()
