"""Answer extractors and metrics that definition files name in their ``scoring`` section.

The extraction module is imported on first use: it is only needed once answers arrive, so its
import overlaps the wait for the first responses instead of delaying the first request.
"""

from __future__ import annotations

from collections.abc import Callable

from tianping.core import Sample

Extractor = Callable[[str, Sample], str | None]
Metric = Callable[[str, str], float]


def _final_number(text: str, sample: Sample) -> str | None:
    from tianping.scoring.extract import extract_final_number

    return extract_final_number(text)


def _choice(text: str, sample: Sample) -> str | None:
    from tianping.scoring.extract import extract_choice

    return extract_choice(text, sample.fields["choices"])


def _numeric_match(extracted: str, target: str) -> float:
    if extracted == target:  # both normalised already: the common case needs no arithmetic
        return 1.0
    from tianping.scoring.extract import numbers_equal

    return float(numbers_equal(extracted, target))


def _exact_match(extracted: str, target: str) -> float:
    return float(extracted.strip() == target.strip())


EXTRACTORS: dict[str, Extractor] = {"final_number": _final_number, "choice": _choice}
METRICS: dict[str, Metric] = {"numeric_match": _numeric_match, "exact_match": _exact_match}
