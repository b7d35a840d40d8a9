"""Strict and loose IFEval verdicts for one response, and the ``ifeval`` scorer.

Strict: each instruction's checker on the response as it is (an empty or blank response follows
nothing). Loose, the reference's upper bound: an instruction is followed if its checker accepts any of
eight variants of the response: as it is, without its first line, without its last line, without both,
and each of these with every ``*`` removed (the line-cut variants are stripped of outer whitespace).

Prompt level: every instruction followed. Instruction level: the fraction followed, which the scorer
weights by the number of instructions so that the mean over prompts is the reference's ratio of sums.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tianping.benchmarks.ifeval.instructions import INSTRUCTIONS, KwargsError, MissingDependencyError
from tianping.benchmarks.scorers import ScoringContext, register_scorer
from tianping.core import Response, Sample, Score

INCOMPLETE_REASON = "reasoning did not finish before the token limit"


@dataclass(frozen=True)
class IFEvalResult:
    instruction_ids: list[str]
    strict: list[bool]
    """Per instruction, in the row's order: followed by the response as it is."""
    loose: list[bool]
    """Per instruction: followed by at least one loose variant of the response."""
    unknown: list[str] = field(default_factory=list)
    """Instruction ids without a checker (scored as not followed)."""
    notes: list[str] = field(default_factory=list)
    """Why an instruction could not be checked (unknown id, malformed arguments, checker failure)."""

    @property
    def prompt_strict(self) -> bool:
        return all(self.strict)

    @property
    def prompt_loose(self) -> bool:
        return all(self.loose)

    @property
    def inst_strict(self) -> float:
        return sum(self.strict) / len(self.strict) if self.strict else 1.0

    @property
    def inst_loose(self) -> float:
        return sum(self.loose) / len(self.loose) if self.loose else 1.0


def loose_variants(response: str) -> list[str]:
    """The reference's eight loose variants, duplicates removed, the response itself first."""
    lines = response.split("\n")
    cut_first = "\n".join(lines[1:]).strip()
    cut_last = "\n".join(lines[:-1]).strip()
    cut_both = "\n".join(lines[1:-1]).strip()
    variants = [response, response.replace("*", ""), cut_first, cut_last, cut_both]
    variants += [v.replace("*", "") for v in (cut_first, cut_last, cut_both)]
    return list(dict.fromkeys(variants))


def _clean_kwargs(raw: Any) -> dict[str, Any]:
    # the Hugging Face copy of the data fills every argument name of every instruction with null
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): v for k, v in raw.items() if v is not None}


def evaluate(
    response: str, prompt: str, instruction_ids: Sequence[str], kwargs: Sequence[Mapping[str, Any]]
) -> IFEvalResult:
    """Strict and loose verdicts for each instruction of one prompt; never raises for any response text."""
    response = response if isinstance(response, str) else ""
    prompt = prompt if isinstance(prompt, str) else ""
    ids = [str(i) for i in instruction_ids]
    notes: list[str] = []
    if len(kwargs) != len(ids):
        notes.append(f"{len(ids)} instructions but {len(kwargs)} argument sets; missing ones taken as empty")
    args_list = [_clean_kwargs(kwargs[i]) if i < len(kwargs) else {} for i in range(len(ids))]
    variants = loose_variants(response)
    strict: list[bool] = []
    loose: list[bool] = []
    unknown: list[str] = []
    for instruction_id, args in zip(ids, args_list, strict=True):
        checker = INSTRUCTIONS.get(instruction_id)
        if checker is None:
            unknown.append(instruction_id)
            notes.append(f"{instruction_id}: unknown instruction, scored as not followed")
            strict.append(False)
            loose.append(False)
            continue
        try:
            ok_strict = bool(response.strip()) and bool(checker(response, args, prompt))
            ok_loose = ok_strict or any(v.strip() and checker(v, args, prompt) for v in variants[1:])
        except MissingDependencyError:
            raise
        except KwargsError as exc:
            notes.append(f"{instruction_id}: {exc}; scored as not followed")
            ok_strict = ok_loose = False
        except Exception as exc:  # a checker must not take the run down over one odd response
            notes.append(f"{instruction_id}: checker failed ({type(exc).__name__}: {exc}); scored as not followed")
            ok_strict = ok_loose = False
        strict.append(ok_strict)
        loose.append(bool(ok_loose))
    return IFEvalResult(ids, strict, loose, unknown, notes)


def _reason(result: IFEvalResult) -> str | None:
    failed_strict = [i for i, ok in zip(result.instruction_ids, result.strict, strict=True) if not ok]
    failed_loose = [i for i, ok in zip(result.instruction_ids, result.loose, strict=True) if not ok]
    parts = []
    if failed_strict and failed_strict == failed_loose:
        parts.append("not followed: " + ", ".join(failed_strict))
    else:
        if failed_strict:
            parts.append("not followed (strict): " + ", ".join(failed_strict))
        if failed_loose:
            parts.append("not followed (loose): " + ", ".join(failed_loose))
    parts.extend(result.notes)
    return "; ".join(parts) or None


@register_scorer("ifeval")
def score_ifeval(sample: Sample, response: Response, context: ScoringContext) -> Score:
    """value = prompt-level strict; metrics = prompt/instruction-level strict and loose accuracy."""
    if not response.completions:
        return Score(value=0.0, extraction_failed=True, reason="no completions")
    first = response.first
    if first.incomplete:
        return Score(value=None, status="incomplete", reason=INCOMPLETE_REASON)
    fields = sample.fields
    ids = list(fields.get("instruction_id_list") or [])
    result = evaluate(first.text or "", fields.get("prompt") or "", ids, list(fields.get("kwargs") or []))
    n = len(ids)
    metrics = {
        "prompt_strict": float(result.prompt_strict),
        "prompt_loose": float(result.prompt_loose),
        "inst_strict": result.inst_strict,
        "inst_loose": result.inst_loose,
    }
    return Score(
        value=float(result.prompt_strict),
        extracted=f"strict {sum(result.strict)}/{n}, loose {sum(result.loose)}/{n}",
        reason=_reason(result),
        metrics=metrics,
        weights={"inst_strict": float(n), "inst_loose": float(n)},
    )
