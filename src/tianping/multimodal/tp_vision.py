"""The ``tp_vision`` benchmark: the loader that generates its items and the scorer that checks the answers.

Nothing is read from disk: the dataset path of the definition is not used (``.``), and the options say which set
to generate: ``seed`` (default 0) and ``per_category`` (items per category and language, default 10). The
answer types are scored as follows: ``number`` by value within the item's tolerance (bars and lines are read
off a grid, pie shares by eye), ``text`` (OCR) exactly, after case, spaces and surrounding punctuation are
dropped, ``choice`` by the option letter, ``time`` by hours and minutes.
"""

from __future__ import annotations

import re
import unicodedata
from fractions import Fraction
from pathlib import Path
from typing import Any

from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import LoadedDataset, int_option, known_options, register_loader
from tianping.benchmarks.references import extension
from tianping.core import Response, Sample, Score
from tianping.core.media import ImagePart
from tianping.core.task import ScoringContext
from tianping.multimodal.vision_draw import render
from tianping.multimodal.vision_items import GENERATOR_VERSION, VisionItem, make_items

INCOMPLETE_REASON = "reasoning did not finish before the token limit"


def item_sample(item: VisionItem, seed: int) -> Sample:
    images = tuple(ImagePart(data=png) for png in render(item))
    return Sample(
        id=item.id,
        fields={"question": item.question, "images": len(images)},
        target=item.target,
        meta={
            # the grouping --limit spreads over, so that a small run still sees every category and language
            "subject": f"{item.category}/{item.lang}",
            "category": item.category,
            "lang": item.lang,
            "answer_type": item.answer_type,
            "tolerance": item.tolerance,
            "choices": "".join(item.choices),
            "generator": f"tp_vision/{GENERATOR_VERSION}",
            "seed": seed,
        },
        media=images,
    )


@register_loader("tp_vision")
def load_tp_vision(path: Path, options: dict[str, Any]) -> LoadedDataset:
    """The generated set named by the options ``seed`` and ``per_category``; ``path`` is not read."""
    known_options(options, ("seed", "per_category"), "tp_vision")
    try:
        import PIL  # noqa: F401
    except ImportError:
        raise DatasetError("tp_vision draws its pictures with Pillow: pip install 'tianping[vision]'") from None
    seed = int_option(options, "seed", 0, 0, "tp_vision")
    per_category = int_option(options, "per_category", 10, 1, "tp_vision")
    samples = tuple(item_sample(item, seed) for item in make_items(seed, per_category))
    return LoadedDataset(samples, ())


# scoring -------------------------------------------------------------------------------------------------

_ANSWER_PREFIX = re.compile(
    r"^\s*(?:\**\s*(?:final\s+)?answer\s*\**\s*[:：]|答案\s*(?:是|为)?\s*[:：]?|答\s*[:：])\s*", re.I
)
_TIME = re.compile(r"(\d{1,2})\s*(?:[:：]|点|時|时)\s*(\d{1,2})")
_EDGE = "\"'“”‘’「」『』《》*`.,;:!?。，；：！？()（）[]【】 "


_QUOTED = re.compile(r"[\"“「『`]([^\"”」』`\n]+)[\"”」』`]")


def _text_answer(text: str) -> str | None:
    """The text read: on the last non-empty line, the last quoted span, else what follows its last colon (an
    ``Answer:`` or ``The text reads:``), else the whole line; without markdown, edge punctuation and spaces."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    line = unicodedata.normalize("NFKC", lines[-1])
    quoted = _QUOTED.findall(line)
    if quoted:
        line = quoted[-1]
    else:
        line = _ANSWER_PREFIX.sub("", line)
        line = re.split(r"[:：]", line)[-1]
    line = re.sub(r"\s+", "", line.strip(_EDGE))
    return line.casefold() or None


def _time_answer(text: str) -> str | None:
    found = _TIME.findall(unicodedata.normalize("NFKC", text))
    if not found:
        return None
    hour, minute = (int(x) for x in found[-1])
    if hour > 23 or minute > 59:
        return None
    hour = hour % 12 or 12
    return f"{hour}:{minute:02d}"


def _number_answer(text: str) -> str | None:
    from tianping.scoring.extract import extract_final_number

    return extract_final_number(text.replace("%", " ").replace("％", " "))


def _choice_answer(text: str, letters: str) -> str | None:
    from tianping.scoring.extract import extract_choice

    return extract_choice(text, [""] * len(letters), letters)


def _within(extracted: str, target: str, tolerance: float) -> bool:
    try:
        return abs(Fraction(extracted) - Fraction(target)) <= Fraction(str(tolerance))
    except (ValueError, ZeroDivisionError):
        return False


@extension
def score_tp_vision(sample: Sample, response: Response, context: ScoringContext | None = None) -> Score:
    """Score one answer by the item's answer type (see the module docstring)."""
    first = response.first
    if first.incomplete:
        return Score(value=None, status="incomplete", reason=INCOMPLETE_REASON)
    kind = sample.meta["answer_type"]
    text = first.text
    if kind == "number":
        extracted = _number_answer(text)
        right = extracted is not None and _within(extracted, sample.target, float(sample.meta["tolerance"]))
    elif kind == "choice":
        extracted = _choice_answer(text, sample.meta["choices"])
        right = extracted == sample.target
    elif kind == "time":
        extracted = _time_answer(text)
        right = extracted == sample.target
    elif kind == "text":
        extracted = _text_answer(text)
        right = extracted == unicodedata.normalize("NFKC", sample.target).casefold()
    else:
        raise DatasetError(f"tp_vision: sample {sample.id}: unknown answer_type {kind!r}")
    if extracted is None:
        return Score(value=0.0, extracted=None, extraction_failed=True, reason="no answer found in output")
    return Score(value=1.0 if right else 0.0, extracted=extracted)
