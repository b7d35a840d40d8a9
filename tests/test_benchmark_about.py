"""Every bundled benchmark says what it is (task type, languages) and how many samples a full run scores,
and that count is the data's: ``tianping benchmarks`` lists these fields, so they must not drift from the files."""

from __future__ import annotations

import pytest

from tianping.benchmarks.definition import parse_definitions
from tianping.benchmarks.errors import BenchmarkDefinitionError
from tianping.benchmarks.registry import build, builtin_definitions

NAMES = sorted(builtin_definitions())


@pytest.mark.parametrize("name", NAMES)
def test_every_bundled_benchmark_describes_itself(name: str) -> None:
    about = builtin_definitions()[name][0].about
    assert about.task_type, f"{name}: about.task_type is empty"
    assert about.languages, f"{name}: about.languages is empty"
    assert about.items is not None, f"{name}: about.items is not set"


@pytest.mark.parametrize("name", NAMES)
def test_items_equal_the_samples_a_full_run_scores(name: str, data_dir) -> None:
    definition = builtin_definitions()[name][0]
    mode = definition.default_mode
    (bench,) = build(name, data_dir, mode)
    loaded = bench.load()
    assert len(loaded.samples) == definition.about.items, (
        f"{name}: about.items says {definition.about.items}, the data gives {len(loaded.samples)} samples"
    )


def test_an_unknown_about_field_is_an_error_naming_it() -> None:
    raw = {
        "name": "x",
        "version": "1",
        "about": {"task_type": "qa", "lanugages": ["en"]},
        "dataset": {"loader": "jsonl", "path": "x.jsonl"},
        "prompt": {"question": "{{ q }}"},
        "scoring": {"extractor": "choice"},
    }
    with pytest.raises(BenchmarkDefinitionError, match=r"about\.lanugages"):
        parse_definitions(raw, "x.yaml")
