"""The benchmark definitions a run reads, kept with the run (moved to ``tianping.benchmarks.sources``)."""

from tianping.benchmarks.sources import (
    DefinitionChanged,
    DefinitionText,
    build_from_text,
    check_unchanged,
    read_definition,
)

__all__ = ["DefinitionChanged", "DefinitionText", "build_from_text", "check_unchanged", "read_definition"]
