"""Agreement of a pairwise judge with gold or human labels: LLMBar and Auto-J loaders, accuracy, Cohen's kappa.

Labels are positional and the same for every data set here: ``"first"`` (the first output is better),
``"second"`` or ``"tie"``. LLMBar's ``label`` 1 / 2 becomes first / second (it has no ties); Auto-J's ``label``
0 / 1 / 2 becomes first / second / tie.

How ties count:

* accuracy is exact-match over the three labels, as Auto-J's own evaluation scores it: a predicted tie is right
  only against a gold tie. ``tie_credit`` gives a predicted tie partial credit against a decisive gold label
  instead (0.5 would treat "could not decide" as a coin flip); it never applies to Auto-J's gold ties.
* ``accuracy_decisive`` is the accuracy over the items whose gold label is not a tie (for Auto-J, the 1,019 rows
  with a human preference), the number usually quoted "without ties".
* Cohen's kappa treats tie as a third category whenever one side uses it.

A judge run in both orders gives one prediction per item; :func:`tianping.judging.diagnostics.final_verdicts`
turns the two orders into one (an order-dependent verdict becomes a tie) and :func:`label_from_winner` maps its
winner back to a label when the pair's models are named :data:`OUTPUT_1` / :data:`OUTPUT_2`.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

from tianping.judging.diagnostics import FIRST, SECOND, TIE
from tianping.scoring.stats import Estimate, wilson_interval

__all__ = [
    "AUTOJ_SCENARIO_GROUPS",
    "LLMBAR_SUBSETS",
    "OUTPUT_1",
    "OUTPUT_2",
    "AgreementReport",
    "GoldPair",
    "Kappa",
    "agreement",
    "cohen_kappa",
    "label_from_winner",
    "load_autoj_pairwise",
    "load_llmbar",
]

OUTPUT_1, OUTPUT_2 = "output_1", "output_2"
"""Model names for the two outputs of a meta-evaluation item, so that its gold winner is a model name."""

LLMBAR_SUBSETS = ("Natural", "Adversarial/Neighbor", "Adversarial/GPTInst", "Adversarial/GPTOut", "Adversarial/Manual")

# Auto-J reports its pairwise agreement per scenario group: the 8 groups of its evaluation code
# (codes/leaderboard/utils_constants.py in GAIR-NLP/auto-j), covering the 58 test scenarios.
AUTOJ_SCENARIO_GROUPS: dict[str, tuple[str, ...]] = {
    "Summarization": ("post_summarization", "text_summarization", "note_summarization"),
    "Exam Questions": ("math_reasoning", "solving_exam_question_with_math", "solving_exam_question_without_math"),
    "Code": (
        "code_simplification",
        "code_generation",
        "explaining_code",
        "code_correction_rewriting",
        "code_to_code_translation",
    ),
    "Rewriting": (
        "text_simplification",
        "language_polishing",
        "instructional_rewriting",
        "text_correction",
        "paraphrasing",
    ),
    "Creative Writing": (
        "writing_song_lyrics",
        "writing_social_media_post",
        "writing_blog_post",
        "writing_personal_essay",
        "creative_writing",
        "writing_advertisement",
        "writing_marketing_materials",
        "writing_presentation_script",
        "counterfactual",
    ),
    "Functional Writing": (
        "writing_product_description",
        "writing_job_application",
        "writing_news_article",
        "writing_biography",
        "writing_email",
        "writing_legal_document",
        "writing_technical_document",
        "writing_scientific_paper",
        "functional_writing",
        "writing_cooking_recipe",
    ),
    "General Communication": (
        "asking_how_to_question",
        "open_question",
        "analyzing_general",
        "explaining_general",
        "seeking_advice",
        "recommendation",
        "value_judgement",
        "verifying_fact",
        "chitchat",
        "roleplay",
        "planning",
        "brainstorming",
    ),
    "NLP Tasks": (
        "ranking",
        "text_to_text_translation",
        "data_analysis",
        "classification_identification",
        "title_generation",
        "question_generation",
        "reading_comprehension",
        "keywords_extraction",
        "information_extraction",
        "topic_modeling",
        "others",
    ),
}
_AUTOJ_GROUP_OF = {scenario: group for group, scenarios in AUTOJ_SCENARIO_GROUPS.items() for scenario in scenarios}


@dataclass(frozen=True, slots=True)
class GoldPair:
    """One meta-evaluation item: an instruction, two outputs and the gold label."""

    item_id: str
    subset: str
    """LLMBar: ``Natural`` or ``Adversarial/<name>``; Auto-J: the scenario."""
    instruction: str
    output_1: str
    output_2: str
    label: str
    """``"first"``, ``"second"`` or ``"tie"``."""
    group: str | None = None
    """Auto-J's scenario group; ``None`` for LLMBar."""

    @property
    def gold_winner(self) -> str | None:
        """:data:`OUTPUT_1`, :data:`OUTPUT_2`, or ``None`` for a tie."""
        return OUTPUT_1 if self.label == FIRST else OUTPUT_2 if self.label == SECOND else None


def label_from_winner(winner: str | None) -> str:
    """The positional label of a winner named :data:`OUTPUT_1` / :data:`OUTPUT_2` (``None`` = tie)."""
    if winner is None:
        return TIE
    if winner == OUTPUT_1:
        return FIRST
    if winner == OUTPUT_2:
        return SECOND
    raise ValueError(f"winner must be {OUTPUT_1!r}, {OUTPUT_2!r} or None, got {winner!r}")


def _read_json(path: Path) -> object:
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: not found") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None


def _text(row: Mapping[str, object], key: str, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{where}: field {key!r} must be a string, got {type(value).__name__}")
    return value


def load_llmbar(folder: Path | str) -> list[GoldPair]:
    """LLMBar's 419 items from ``folder`` (``Natural/dataset.json``, ``Adversarial/<subset>/dataset.json``).

    Item ids are ``<subset>/<index in its file>``.

    Raises:
        FileNotFoundError: a subset file is missing.
        ValueError: a row lacks a field or has a label other than 1 / 2 (the message names file, row, field).
    """
    folder = Path(folder)
    out: list[GoldPair] = []
    for subset in LLMBAR_SUBSETS:
        path = folder / subset / "dataset.json"
        rows = _read_json(path)
        if not isinstance(rows, list):
            raise ValueError(f"{path}: expected a JSON array of items")
        for index, row in enumerate(rows):
            where = f"{path}: item {index}"
            if not isinstance(row, dict):
                raise ValueError(f"{where}: expected an object")
            label = row.get("label")
            if label not in (1, 2) or isinstance(label, bool):
                raise ValueError(f"{where}: field 'label' must be 1 or 2, got {label!r}")
            out.append(
                GoldPair(
                    item_id=f"{subset}/{index}",
                    subset=subset,
                    instruction=_text(row, "input", where),
                    output_1=_text(row, "output_1", where),
                    output_2=_text(row, "output_2", where),
                    label=FIRST if label == 1 else SECOND,
                )
            )
    return out


def load_autoj_pairwise(path: Path | str) -> list[GoldPair]:
    """Auto-J's pairwise test set (1,392 rows, 58 scenarios) from ``testdata_pairwise.jsonl`` (or its folder).

    Item ids are ``autoj/<0-based line number>``; ``subset`` is the scenario, ``group`` its scenario group.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: a line is not JSON, lacks a field, or has a label other than 0 / 1 / 2 (names file and line).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "testdata_pairwise.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found")
    labels = {0: FIRST, 1: SECOND, 2: TIE}
    out: list[GoldPair] = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}: line {lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{where}: expected an object")
            label = row.get("label")
            if label not in labels or isinstance(label, bool):
                raise ValueError(f"{where}: field 'label' must be 0, 1 or 2, got {label!r}")
            scenario = _text(row, "scenario", where)
            out.append(
                GoldPair(
                    item_id=f"autoj/{len(out)}",
                    subset=scenario,
                    instruction=_text(row, "prompt", where),
                    # upstream's keys contain a space
                    output_1=_text(row, "response 1", where),
                    output_2=_text(row, "response 2", where),
                    label=labels[label],
                    group=_AUTOJ_GROUP_OF.get(scenario),
                )
            )
    return out


# -- Cohen's kappa -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Kappa:
    """Cohen's kappa with its large-sample standard error and interval."""

    value: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    observed: float | None
    """Observed agreement p_o."""
    expected: float | None
    """Chance agreement p_e from the two marginal distributions."""


def cohen_kappa(a: Sequence[str], b: Sequence[str], confidence: float = 0.95) -> Kappa:
    """Cohen's kappa of two label sequences, (p_o - p_e) / (1 - p_e), over the union of the labels used.

    The standard error is the large-sample (non-null) one of Fleiss, Cohen & Everitt (1969), "Large sample
    standard errors of kappa and weighted kappa", Psychol Bull 72:323-327; the interval is Wald's, clipped to
    [-1, 1]. When both raters use one and the same single label, p_e = 1 and kappa is undefined (``None``).
    """
    if len(a) != len(b):
        raise ValueError(f"cohen_kappa: {len(a)} and {len(b)} labels")
    n = len(a)
    if n == 0:
        return Kappa(None, None, None, None, 0, None, None)
    labels = sorted(set(a) | set(b))
    index = {label: i for i, label in enumerate(labels)}
    k = len(labels)
    table = [[0.0] * k for _ in range(k)]
    for x, y in zip(a, b, strict=True):
        table[index[x]][index[y]] += 1.0 / n
    rows = [sum(table[i]) for i in range(k)]
    cols = [sum(table[i][j] for i in range(k)) for j in range(k)]
    p_o = sum(table[i][i] for i in range(k))
    p_e = sum(rows[i] * cols[i] for i in range(k))
    if p_e >= 1.0:
        return Kappa(None, None, None, None, n, p_o, p_e)
    kappa = (p_o - p_e) / (1.0 - p_e)
    diagonal = sum(table[i][i] * (1.0 - (rows[i] + cols[i]) * (1.0 - kappa)) ** 2 for i in range(k))
    off = sum(table[i][j] * (cols[i] + rows[j]) ** 2 for i in range(k) for j in range(k) if i != j) * (1.0 - kappa) ** 2
    variance = (diagonal + off - (kappa - p_e * (1.0 - kappa)) ** 2) / (n * (1.0 - p_e) ** 2)
    se = math.sqrt(max(0.0, variance))
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    return Kappa(kappa, se, max(-1.0, kappa - z * se), min(1.0, kappa + z * se), n, p_o, p_e)


# -- accuracy ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgreementReport:
    """A judge's agreement with gold labels, overall and per subset (and per group where the data have them)."""

    accuracy: Estimate
    accuracy_decisive: Estimate
    """Accuracy over the items whose gold label is not a tie."""
    kappa: Kappa
    per_subset: dict[str, Estimate] = field(default_factory=dict)
    per_group: dict[str, Estimate] = field(default_factory=dict)
    missing: int = 0
    """Gold items without a prediction: scored as wrong (a judge that fails to answer has not agreed)."""
    predicted: Counter[str] = field(default_factory=Counter)
    """How often the judge said each label (``"missing"`` for no prediction)."""


def _estimate(scores: list[float], confidence: float) -> Estimate:
    n = len(scores)
    if n == 0:
        return Estimate(value=None, n=0, ci_low=None, ci_high=None, method="wilson")
    total = math.fsum(scores)
    low, high = wilson_interval(total, n, confidence)
    return Estimate(value=total / n, n=n, ci_low=low, ci_high=high, method="wilson")


def agreement(
    predictions: Mapping[str, str | None],
    gold: Sequence[GoldPair],
    *,
    tie_credit: float = 0.0,
    confidence: float = 0.95,
) -> AgreementReport:
    """Accuracy (Wilson intervals) overall, per subset and per group, and Cohen's kappa, of ``predictions``
    (``item_id`` -> label, ``None`` or absent = no verdict) against ``gold``.

    A missing prediction scores 0 and counts as the label ``"missing"`` in kappa. See the module docstring for
    how ties count.

    Raises:
        ValueError: a prediction is not a known label, or names an item not in ``gold``.
    """
    if not 0.0 <= tie_credit <= 1.0:
        raise ValueError(f"tie_credit must be within [0, 1], got {tie_credit!r}")
    known = {g.item_id for g in gold}
    for item_id, label in predictions.items():
        if item_id not in known:
            raise ValueError(f"prediction for unknown item {item_id!r}")
        if label is not None and label not in (FIRST, SECOND, TIE):
            raise ValueError(f"item {item_id!r}: prediction must be first/second/tie, got {label!r}")
    scores: list[float] = []
    decisive: list[float] = []
    by_subset: dict[str, list[float]] = {}
    by_group: dict[str, list[float]] = {}
    said: list[str] = []
    truth: list[str] = []
    missing = 0
    for g in gold:
        label = predictions.get(g.item_id)
        if label is None:
            missing += 1
            score = 0.0
        elif label == g.label:
            score = 1.0
        elif label == TIE and g.label != TIE:
            score = tie_credit
        else:
            score = 0.0
        scores.append(score)
        if g.label != TIE:
            decisive.append(score)
        by_subset.setdefault(g.subset, []).append(score)
        if g.group is not None:
            by_group.setdefault(g.group, []).append(score)
        said.append(label if label is not None else "missing")
        truth.append(g.label)
    return AgreementReport(
        accuracy=_estimate(scores, confidence),
        accuracy_decisive=_estimate(decisive, confidence),
        kappa=cohen_kappa(said, truth, confidence),
        per_subset={k: _estimate(v, confidence) for k, v in by_subset.items()},
        per_group={k: _estimate(v, confidence) for k, v in by_group.items()},
        missing=missing,
        predicted=Counter(said),
    )
