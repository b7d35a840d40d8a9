"""A metric outside tianping, named from a test definition as ``custom_metric_plugin:my_metric``."""

from __future__ import annotations

from tianping.benchmarks.references import extension


@extension
def my_metric(extracted: str, target: str) -> float:
    """Full credit for the right letter and a quarter for any other, so a score shows which metric ran."""
    return 1.0 if extracted.strip() == target.strip() else 0.25


NOT_CALLABLE = 3


def unmarked_metric(extracted: str, target: str) -> float:
    """Callable, but not marked as an extension: a definition may not name it."""
    return 1.0


@extension
def load_rows(path, options):
    """A loader outside tianping: the generic JSON Lines loader under another name."""
    from tianping.benchmarks.generic_loaders import load_jsonl

    return load_jsonl(path, options)
