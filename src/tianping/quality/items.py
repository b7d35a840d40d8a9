"""What the quality checks look at in a sample: the text the model is shown, its options and its gold answer.

A benchmark's samples carry loader-specific fields (``question``, ``passage``, ``choices``, ``A``..``D``,
``options``, ``rationale`` ...). The checks need one view of all of them, taken from the definition itself:

- the *texts* are the sample fields that the definition's question templates read (``prompt.question`` and
  ``loglikelihood.question``), minus the fields that only restate the options (``A``..``Z``, ``options``,
  ``choices``, ``choices_raw``, ``letters``); a solution or rationale the model never sees is not a text;
- the *choices* are the option texts: the field named by ``loglikelihood.choices_field``, else ``choices``;
- the *gold* is the index of each right option: the target as a letter (``B``), letters (``A,C``) or an option's
  text, or, where the log-likelihood section says how (``loglikelihood.gold``), what that template gives;
- the *answers* are the gold as text: the right options' texts, or for open answers the target and the
  alternatives a loader keeps in an ``answer``/``answers`` list field.

A text field whose values repeat across items (a reading passage shared by several questions) is *context*:
``mark_context`` finds those once the whole split is read, and the duplicate and leakage checks treat them apart.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from tianping.benchmarks.definition import BenchmarkDef
from tianping.benchmarks.errors import BenchmarkDefinitionError, DatasetError
from tianping.benchmarks.loglikelihood import LogLikelihoodTask
from tianping.benchmarks.templates import compile_template
from tianping.core import Sample

__all__ = ["Item", "ItemBuilder", "mark_context", "normalize", "sample_where"]

OPTION_FIELDS = frozenset({"choices", "choices_raw", "letters", "labels", "options", "golds", "gold_indices"})
_SINGLE_LETTER = re.compile(r"^[A-Z]$")
_ANSWER_LISTS = ("answer", "answers")
_CONTEXT_NAMES = frozenset({"passage", "context", "article", "document", "story", "background"})
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Item:
    """One sample as the checks see it."""

    split: str
    """``test`` (what a run scores) or ``fewshot`` (the pool shots are drawn from)."""
    id: str
    where: str
    """``file:line`` or ``file item N``: where to find the row."""
    texts: dict[str, str]
    """The prompt's text fields by name (see the module docstring), sorted by name."""
    choices: tuple[str, ...] | None = None
    letters: tuple[str, ...] | None = None
    gold: tuple[int, ...] | None = None
    """Indices of the right choices; None: not multiple choice; ``()``: multiple choice, but no option is gold."""
    gold_problem: str | None = None
    """Why no gold index could be found (the target names no option), for the malformed check."""
    target: str = ""
    answers: tuple[str, ...] = ()
    context: frozenset[str] = field(default_factory=frozenset)
    """The names of ``texts`` that are shared context (``mark_context``)."""
    group: str = ""
    """The subject or task it belongs to (``meta.subject``), empty where the dataset has none."""

    @property
    def key(self) -> str:
        return f"{self.split}:{self.id}"

    @property
    def is_mc(self) -> bool:
        return self.choices is not None

    def question_text(self) -> str:
        """The texts that are not shared context, joined."""
        return "\n".join(v for k, v in self.texts.items() if k not in self.context and v)

    def own_text(self) -> str:
        """The question and its options, without shared context: what this item adds to the split."""
        return "\n".join([self.question_text(), *(self.choices or ())]).strip()

    def full_text(self) -> str:
        """Every text, then the options: what the model reads, near enough."""
        parts = [v for v in self.texts.values() if v]
        if self.choices:
            parts.extend(self.choices)
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "id": self.id,
            "where": self.where,
            "texts": self.texts,
            "choices": list(self.choices) if self.choices is not None else None,
            "letters": list(self.letters) if self.letters is not None else None,
            "gold": list(self.gold) if self.gold is not None else None,
            "target": self.target,
        }


def sample_where(sample: Sample) -> str:
    file, line = sample.meta.get("file", "?"), sample.meta.get("line")
    if line is None and "index" in sample.meta:
        return f"{file} item {sample.meta['index']}"
    return f"{file}:{line}" if line is not None else str(file)


_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})


@lru_cache(maxsize=262_144)  # the checks normalize each text several times
def normalize(text: str) -> str:
    """Unicode-compatible (NFKC: full-width forms), case-folded, curly quotes and dashes made plain, whitespace
    collapsed: what counts as the same text. Punctuation and symbols stay: ``J << a`` is not ``J >> a``."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_QUOTES)
    return _SPACE.sub(" ", text).strip()


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    return None


class ItemBuilder:
    """Turns a definition's samples into ``Item`` s (see the module docstring)."""

    def __init__(self, definition: BenchmarkDef, source: str) -> None:
        self.definition = definition
        ll = definition.loglikelihood
        # both modes show the same material; the generation prompt names it in its display form
        if definition.prompt is not None:
            where, text = "prompt.question", definition.prompt.question
        else:
            assert ll is not None  # a definition has one of the two
            where, text = "loglikelihood.question", ll.question
        try:
            self.template_names = sorted(compile_template(text, source, where).names)
        except BenchmarkDefinitionError:
            self.template_names = []  # the benchmark refuses to load anyway; its own error says why
        # the options' display texts (``choices``) where the loader keeps them, else the log-likelihood field
        self.choice_fields = ["choices"] + ([ll.choices_field] if ll is not None and ll.choices_field else [])
        self.ll_task = LogLikelihoodTask(ll, source) if ll is not None and ll.choices_field and ll.gold else None
        # whether the target is an answer at all: a whole-sample scorer (code, instructions) keeps other things
        # there (HumanEval's entry point), so leakage has no gold text to look for
        scoring = definition.scoring
        self.target_is_answer = scoring is None or not scoring.sandbox

    def _text_fields(self, sample: Sample) -> dict[str, str]:
        skip = OPTION_FIELDS | set(self.choice_fields)
        chosen = [
            n for n in self.template_names if n in sample.fields and n not in skip and not _SINGLE_LETTER.match(n)
        ]
        if not chosen:  # no template reads the fields by name (a scorer-only definition): every text field
            chosen = [n for n in sample.fields if n not in skip and not _SINGLE_LETTER.match(n)]
        texts = {}
        for name in chosen:
            text = _as_text(sample.fields[name])
            if text is not None:
                texts[name] = text
        return texts

    def item(self, sample: Sample, split: str) -> Item:
        texts = self._text_fields(sample)
        raw = next((sample.fields[n] for n in self.choice_fields if isinstance(sample.fields.get(n), list)), None)
        target = str(sample.target)
        group = str(sample.meta.get("subject", ""))
        base = Item(split=split, id=str(sample.id), where=sample_where(sample), texts=texts, target=target, group=group)
        if not (isinstance(raw, list) and raw and all(isinstance(c, str) for c in raw)):
            answers = [target] if self.target_is_answer and target.strip() else []
            for name in _ANSWER_LISTS:
                extra = sample.fields.get(name)
                if isinstance(extra, list):
                    answers.extend(a for a in extra if isinstance(a, str) and a.strip())
            return replace(base, answers=tuple(dict.fromkeys(answers)))
        choices = tuple(raw)
        letters_raw = sample.fields.get("letters")
        letters = (
            tuple(str(x) for x in letters_raw)
            if isinstance(letters_raw, list)
            else tuple(chr(ord("A") + i) for i in range(min(len(choices), 26)))
        )
        gold, problem = self._gold(sample, choices, letters)
        right = tuple(choices[i] for i in gold if i < len(choices))
        return replace(base, choices=choices, letters=letters, gold=gold, gold_problem=problem, answers=right)

    def _gold(
        self, sample: Sample, choices: Sequence[str], letters: Sequence[str]
    ) -> tuple[tuple[int, ...], str | None]:
        if self.ll_task is not None:  # the definition's own rule; its choice list is in the same order
            try:
                return self.ll_task.golds(sample, self.ll_task.choices(sample)), None
            except DatasetError as exc:
                return (), str(exc)
        target = str(sample.target).strip()
        if target in letters:
            index = list(letters).index(target)
            if index >= len(choices):
                return (), f"target {target!r} is option {index + 1}, but there are {len(choices)} options"
            return (index,), None
        parts = [p.strip() for p in target.split(",")] if "," in target else []
        if parts and all(p in letters for p in parts):
            indices = sorted({list(letters).index(p) for p in parts})
            if indices[-1] >= len(choices):
                return (), f"target {target!r} names an option past the {len(choices)} there are"
            return tuple(indices), None
        if target in choices:
            return (list(choices).index(target),), None
        if not target:
            return (), "the target is empty"
        shown = ", ".join(letters[: len(choices)])
        return (), f"target {target!r} is neither an option letter ({shown}) nor an option's text"


def mark_context(items: Sequence[Item]) -> list[Item]:
    """Mark the context fields of one split's items: a text field read beside others that is named like a passage,
    or that is long (200 characters on average) and repeats (several questions on one passage). The shortest
    field on average is never context: something must be the question."""
    if not items:
        return []
    counts: dict[str, Counter[str]] = {}
    for item in items:
        if len(item.texts) < 2:
            continue
        for name, text in item.texts.items():
            if text.strip():
                counts.setdefault(name, Counter())[text] += 1
    context = set()
    mean_length = {}
    for name, values in counts.items():
        total = sum(values.values())
        repeated = sum(n for n in values.values() if n > 1)
        mean_length[name] = sum(len(v) * n for v, n in values.items()) / max(total, 1)
        if name in _CONTEXT_NAMES or (mean_length[name] >= 200 and repeated >= 0.1 * total):
            context.add(name)
    if mean_length and context >= set(mean_length):
        context.discard(min(mean_length, key=lambda n: mean_length[n]))
    if not context:
        return list(items)
    marked = frozenset(context)
    return [replace(item, context=marked & frozenset(item.texts)) if len(item.texts) >= 2 else item for item in items]
