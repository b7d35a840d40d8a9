"""Answer extractors and metrics that definition files name in their ``scoring`` section."""

from __future__ import annotations

from collections.abc import Callable

from tianping.core import Sample
from tianping.scoring.extract import extract_choice, extract_final_number, numbers_equal

Extractor = Callable[[str, Sample], str | None]
Metric = Callable[[str, str], float]

EXTRACTORS: dict[str, Extractor] = {
    "final_number": lambda text, sample: extract_final_number(text),
    "choice": lambda text, sample: extract_choice(text, sample.fields["choices"]),
}

METRICS: dict[str, Metric] = {
    "numeric_match": lambda extracted, target: float(numbers_equal(extracted, target)),
    "exact_match": lambda extracted, target: float(extracted.strip() == target.strip()),
}
