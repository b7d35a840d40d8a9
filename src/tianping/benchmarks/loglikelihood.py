"""Multiple choice scored by log-likelihood, laid out and scored exactly as lm-evaluation-harness 0.4 does.

lm-eval's ``multiple_choice`` output type asks the model for the log-probability of each choice after
one shared context and picks the most likely choice. Matching it byte for byte matters because a
single space or newline changes log-likelihoods, and results are meant to compare one to one.

The context (``ConfigurableTask.fewshot_context`` without a chat template or system instruction) is::

    description
    + for each shot: question(shot) + target_delimiter + choices(shot)[gold(shot)] + fewshot_delimiter
    + question(sample)

and continuation *i* is ``target_delimiter + choices(sample)[i]``. A system instruction
(``--system-instruction``) goes before the description, joined as lm-eval's ``maybe_delimit`` joins them.

With a chat template (``--apply-chat-template``) the context is a chat instead (``ContextOptions``): the
system instruction and description as a system turn, then either one user turn holding the answered shots and
the question (the text above without the description) or, with ``--fewshot-as-multiturn``, one user turn
per shot question and one assistant turn per shot answer, then the question. The model's backend renders it
with its chat template, generation prompt appended; continuation *i* is then ``choices(sample)[i]`` without
the target delimiter (lm-eval drops it after a chat template). Shots are the benchmark's
``fewshot`` rows (lm-eval's ``first_n`` sampler is our ``first``: the first k rows of the split, of
the same subject when ``match`` is set).

Scoring follows ``ConfigurableTask.process_results`` for ``multiple_choice`` in lm-eval 0.4.13. The
metrics are named in ``loglikelihood.metrics`` from the registry of :mod:`tianping.benchmarks.ll_metrics`
(``acc``, ``acc_norm``, ``acc_bytes``, ``mc2`` and any registered later).

A question may have several right choices (multi-select exams, TruthfulQA's MC2 set): the ``gold``
template then renders a list of indices, ``[0, 2]``, as lm-eval's ``doc_to_target`` may return a list
(lm-eval evaluates a rendered ``[...]`` as a Python literal; so do we, for integers only). Without a
``gold`` template, a target naming several choices joined by commas (``A,C``, the canonical multi-answer
target of the loaders) gives them all. A pick then counts as right when it is any of them
(lm-eval's ``multiple_target``), and a shot is answered with its first right choice, as lm-eval's
``build_qa_turn`` takes ``a[0]``.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from string import ascii_uppercase

from tianping.benchmarks import templates
from tianping.benchmarks.definition import LogLikelihoodDef
from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.ll_metrics import CHOOSERS, LL_METRICS
from tianping.benchmarks.ll_metrics import pick as pick  # re-exported: tests and callers import it from here
from tianping.benchmarks.references import is_reference, resolve_reference
from tianping.benchmarks.templates import Template, compile_template, location, render
from tianping.core import Message, Request, Response, Sample, Score

_LABELS = ascii_uppercase


def choice_label(index: int) -> str:
    """The letter by position (``A`` for 0), the form of the benchmarks' targets; past Z the index itself."""
    return _LABELS[index] if 0 <= index < len(_LABELS) else str(index)


def _compile(template: str, source: str, where: str) -> Template:
    return compile_template(template, source, f"loglikelihood.{where}")


# what a gold template may render: one index, or a Python/JSON list of them ("[0, 2]", "[1]")
_INDEX_LIST = re.compile(r"\[\s*\d+(?:\s*,\s*\d+)*\s*,?\s*\]")


@dataclass(frozen=True, slots=True)
class ContextOptions:
    """How a run lays out log-likelihood contexts beyond the definition: lm-eval's ``--apply_chat_template``,
    ``--fewshot_as_multiturn`` and ``--system_instruction``."""

    apply_chat_template: bool = False
    fewshot_as_multiturn: bool = False
    system_instruction: str | None = None

    def version_suffix(self) -> str:
        """What the options add to a benchmark's version: the prompts they give are not the plain ones."""
        out = ""
        if self.system_instruction:
            digest = hashlib.sha256(self.system_instruction.encode("utf-8")).hexdigest()[:8]
            out += f"+system-{digest}"
        if self.apply_chat_template:
            out += "+chat-multiturn" if self.fewshot_as_multiturn else "+chat"
        return out


def maybe_delimit(prefix: str | None, suffix: str | None, delimiter: str) -> str:
    """lm-eval's ``maybe_delimit``: join two texts, with ``delimiter`` only where neither has whitespace at the
    join."""
    if not prefix:
        return suffix or ""
    if not suffix:
        return prefix
    return prefix + suffix if prefix[-1].isspace() or suffix[0].isspace() else prefix + delimiter + suffix


class LogLikelihoodTask:
    """The compiled ``loglikelihood`` section of one benchmark: requests out, scores back."""

    def __init__(self, definition: LogLikelihoodDef, source: str, options: ContextOptions | None = None):
        self.definition = definition
        self.source = source
        self.options = options or ContextOptions()
        d = definition
        self._description = _compile(d.description, source, "description") if d.description else None
        self._question = _compile(d.question, source, "question")
        self._choices = [_compile(c, source, f"choices.{i}") for i, c in enumerate(d.choices or ())]
        # choices without template syntax (["A", "B", "C", "D"]) are the same for every row: skip rendering them
        literal = d.choices is not None and not any(("{" in c or "\r" in c) for c in d.choices)
        self._literal_choices = list(d.choices) if literal and d.choices is not None else None
        self._gold = _compile(d.gold, source, "gold") if d.gold is not None else None
        self._referenced = {
            name: resolve_reference(name, source, f"loglikelihood.metrics.{i}")
            for i, name in enumerate(d.metrics)
            if is_reference(name)
        }
        # the rendered shots, by the identity of the shot rows: every question of a subject shares them
        self._shot_blocks: dict[tuple[int, ...], tuple[Sequence[Sample], str]] = {}

    @property
    def metrics(self) -> list[str]:
        return list(self.definition.metrics)

    @property
    def primary_metric(self) -> str:
        return self.definition.metrics[0]

    def check_templates(self, samples: Sequence[Sample], shots: Sequence[Sample]) -> None:
        """Render the templates against the data once (see ``templates.check``): a misspelt variable stops the
        run here, naming its field, and not at the first request."""
        choices = [] if self._literal_choices is not None else self._choices
        templates.check([self._description, self._question, *choices, self._gold], samples)
        templates.check([self._question, *choices, self._gold], shots, "few-shot dataset")

    def choices(self, sample: Sample) -> list[str]:
        """The choice texts of a sample, without the target delimiter (lm-eval's ``doc_to_choice``)."""
        name = self.definition.choices_field
        if self._literal_choices is not None:
            return list(self._literal_choices)
        if name is None:
            return [render(t, sample) for t in self._choices]
        value = sample.fields.get(name)
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise DatasetError(
                f"{location(sample)}: field 'loglikelihood.choices_field': '{name}' is not a list of texts in this"
                f" sample (fields: {', '.join(sorted(sample.fields))})"
            )
        if len(value) < 2:
            raise DatasetError(f"{location(sample)}: field '{name}' has {len(value)} choice(s), need at least 2")
        return list(value)

    def golds(self, sample: Sample, choices: Sequence[str]) -> tuple[int, ...]:
        """The 0-based indices of the right choices, ascending (lm-eval's ``doc_to_target``, an int or a list)."""
        if self._gold is None:
            return self._golds_of_target(sample, choices)
        text = render(self._gold, sample).strip()
        if text.isdigit():
            indices = [int(text)]
        elif _INDEX_LIST.fullmatch(text):
            indices = [int(part) for part in text.strip("[] ,").split(",")]
        else:
            indices = []
        if not indices or any(i >= len(choices) for i in indices):
            raise DatasetError(
                f"{location(sample)}: template 'loglikelihood.gold' gave {text!r}, "
                f"not an index of its {len(choices)} choices nor a list [i, j, ...] of them"
            )
        return tuple(sorted(set(indices)))

    def _golds_of_target(self, sample: Sample, choices: Sequence[str]) -> tuple[int, ...]:
        target = sample.target
        if target in choices:
            return (list(choices).index(target),)
        # several right choices: the loaders' multi-answer target joins them with commas ("A,C")
        parts = [part.strip() for part in target.split(",")] if "," in target else []
        if parts and all(part in choices for part in parts):
            return tuple(sorted({list(choices).index(part) for part in parts}))
        raise DatasetError(
            f"{location(sample)}: target {target!r} is none of the choices {list(choices)}; "
            "give 'loglikelihood.gold' to say which choice is right"
        )

    def gold(self, sample: Sample, choices: Sequence[str]) -> int:
        """The first right choice: the one a shot is answered with."""
        return self.golds(sample, choices)[0]

    def check(self, samples: Sequence[Sample]) -> None:
        """Render every sample's choices and gold once, so a bad row stops the run before any request is sent.
        An item with pictures needs a chat context: a plain-text prompt cannot carry them, and scoring the
        choices without the pictures would be a score of another question."""
        for sample in samples:
            if sample.media and not self.options.apply_chat_template:
                raise DatasetError(
                    f"{location(sample)}: an item with images is scored on a chat context in log-likelihood mode "
                    "(its pictures go in the question's turn): add --apply-chat-template"
                )
            self.golds(sample, self.choices(sample))

    def _shot_block(self, shots: Sequence[Sample]) -> str:
        key = tuple(id(shot) for shot in shots)
        cached = self._shot_blocks.get(key)
        if cached is not None and all(a is b for a, b in zip(cached[0], shots, strict=True)):
            return cached[1]
        d = self.definition
        parts = []
        for shot in shots:
            choices = self.choices(shot)
            answer = choices[self.gold(shot, choices)]
            question = render(self._question, shot)
            parts.append(question + d.target_delimiter + answer + d.fewshot_delimiter)
        block = "".join(parts)
        self._shot_blocks[key] = (tuple(shots), block)
        return block

    def _system(self, sample: Sample) -> str:
        """lm-eval's system prompt: the system instruction, then the description."""
        description = render(self._description, sample) if self._description else ""
        return maybe_delimit(self.options.system_instruction, description, self.definition.fewshot_delimiter)

    def context(self, sample: Sample, shots: Sequence[Sample]) -> str:
        """lm-eval's ``fewshot_context`` without a chat template: (system instruction,) description, the
        answered shots, then the question."""
        question = render(self._question, sample)
        return self._system(sample) + (self._shot_block(shots) if shots else "") + question

    def chat(self, sample: Sample, shots: Sequence[Sample]) -> tuple[Message, ...]:
        """lm-eval's ``fewshot_context`` with a chat template, before the template renders it: the system turn,
        the shots in one user turn with the question (``multiturn_to_singleturn``) or as turns of their own."""
        turns = []
        system = self._system(sample)
        if system:
            turns.append(Message("system", system))
        question = render(self._question, sample)
        if not self.options.fewshot_as_multiturn:
            turns.append(Message("user", (self._shot_block(shots) if shots else "") + question))
            return tuple(turns)
        for shot in shots:
            choices = self.choices(shot)
            turns.append(Message("user", render(self._question, shot)))
            turns.append(Message("assistant", choices[self.gold(shot, choices)]))
        turns.append(Message("user", question))
        return tuple(turns)

    def build_request(self, sample: Sample, shots: Sequence[Sample], model_id: str) -> Request:
        choices = self.choices(sample)
        if self.options.apply_chat_template:
            messages = self.chat(sample, shots)
            if sample.media:  # a vision item: its pictures go with its question, as in generation mode
                if any(shot.media for shot in shots):
                    raise DatasetError(
                        f"{location(sample)}: few-shot examples with images are not supported in log-likelihood "
                        "mode (their pictures would be left out): use --num-fewshot 0"
                    )
                messages = (*messages[:-1], replace(messages[-1], parts=sample.media))
            # lm-eval's construct_requests: no target delimiter after a chat template's generation prompt
            return Request(model=model_id, messages=messages, continuations=tuple(choices))
        delimiter = self.definition.target_delimiter
        continuations = tuple(delimiter + choice for choice in choices)
        return Request(model=model_id, prompt=self.context(sample, shots), continuations=continuations)

    def score(self, sample: Sample, response: Response) -> Score:
        """The metrics of one answered request; a malformed answer (or an undefined metric) is an error, never a 0."""
        choices = self.choices(sample)
        lls = response.loglikelihoods
        if not lls:
            return Score(
                value=None,
                status="error",
                reason="the response has no log-likelihoods (does the backend answer log-likelihood requests?)",
            )
        if len(lls) != len(choices):
            return Score(value=None, status="error", reason=f"{len(lls)} log-likelihoods for {len(choices)} choices")
        logprobs = [x.logprob for x in lls]
        bad = [choice_label(i) for i, v in enumerate(logprobs) if math.isnan(v) or v == math.inf]
        if bad:
            return Score(value=None, status="error", reason=f"invalid log-likelihood for choice {', '.join(bad)}")
        golds = frozenset(self.golds(sample, choices))
        metrics: dict[str, float] = {}
        picks: dict[str, int] = {}
        notes = []
        for name in self.metrics:
            chooser = CHOOSERS.get(name)
            if chooser is not None:
                picks[name] = chooser(logprobs, choices)
                metrics[name] = float(picks[name] in golds)
                notes.append(f"{name} chose {choice_label(picks[name])}")
                continue
            metric = self._referenced.get(name) or LL_METRICS[name]
            value = float(metric(logprobs, choices, golds))
            if not 0.0 <= value <= 1.0:  # NaN fails too: an undefined value is not a zero
                return Score(value=None, status="error", reason=f"metric {name} gave {value} for these log-likelihoods")
            metrics[name] = value
            notes.append(f"{name} {value:.4g}")
        # the choice shown as the answer: the primary metric's pick, else the most likely choice
        chosen = picks.get(self.primary_metric)
        if chosen is None:
            chosen = pick(logprobs)
        reason = ", ".join(notes)
        truncated = max(x.truncated for x in lls)
        if truncated:
            reason += f"; context cut by {truncated} tokens to fit the model"
        return Score(value=metrics[self.primary_metric], extracted=choice_label(chosen), reason=reason, metrics=metrics)
