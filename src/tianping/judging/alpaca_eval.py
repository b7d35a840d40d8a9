"""AlpacaEval 2.0 statistics: the raw win rate and the length-controlled (LC) win rate from annotations.

An annotation compares a model's output (``output_2``) with the reference output (``output_1``, by
``gpt4_1106_preview`` in AlpacaEval 2.0) on one of 805 instructions; ``preference`` is a float in [1, 2] (2 = the
model wins, 1.5 = a draw; 0 is an old spelling of a draw).

Raw win rate (AlpacaEval's definition, the preference as a soft win): the mean of ``preference - 1`` over the
annotations with a preference, times 100; its standard error is the sample standard deviation (n - 1) over
sqrt(n), times 100. ``n_wins`` / ``n_wins_base`` count preferences above / below 1.5, ``n_draws`` those exactly
1.5; ``discrete_win_rate`` rounds each preference to a whole win, loss or draw (a draw scores one half).

LC win rate (Dubois et al. 2024, "Length-Controlled AlpacaEval", arXiv:2404.04475): a logistic GLM predicts the
preference from

    logit P(model wins on instruction i) = w_len * tanh(dlen_i / sd(dlen)) + w_diff * difficulty_i + b_model

where dlen_i = len(reference output) - len(model output) in characters, sd is its sample standard deviation over the
model's annotations, ``difficulty_i`` is a fixed per-instruction score and ``b_model`` the model term. LC is the
mean predicted probability with the length term set to zero, times 100. Upstream's ``length_controlled_v1`` also
regularises the fit towards two "gamed" baselines (the reference model prompted to be verbose / concise), whose
annotations enter the fit with weight lambda / 2 = 0.1 each and no model term; both they and the difficulties come
from ``df_gamed.csv`` on the Hugging Face Hub, which the shared copy lacks. Without them this module fits the GLM
it can (see :func:`length_controlled_win_rate` and ``docs/judging.md`` for how far that lands from the published
numbers and why).

The fit is our own maximum-likelihood Newton fit (:mod:`tianping.judging.logit`); upstream fits an L1-penalised
``LogisticRegressionCV`` (liblinear, 5-fold cross-validated penalty), so coefficients differ slightly where the
chosen penalty is not negligible.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tianping.judging.logit import fit_logit, sigmoid

__all__ = [
    "ANNOTATOR",
    "Annotation",
    "LengthControlled",
    "WinRate",
    "annotated_models",
    "difficulty_from_annotations",
    "lc_from_weights",
    "leaderboard_path",
    "length_controlled_win_rate",
    "load_annotations",
    "load_glm_weights",
    "load_leaderboard",
    "weights_path",
    "win_rate",
]

ANNOTATOR = "weighted_alpaca_eval_gpt4_turbo"
"""AlpacaEval 2.0's default annotator (GPT-4-turbo, log-probability weighted)."""

_LEADERBOARD = f"src/alpaca_eval/leaderboards/data_AlpacaEval_2/{ANNOTATOR}_leaderboard.csv"
_WEIGHTS = f"src/alpaca_eval/metrics/weights/{ANNOTATOR}/length_controlled_v1/baseline_gpt4_1106_preview.csv"
_REGULARIZE_LAMBDA = 0.2


# -- files -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Annotation:
    """One judged comparison: the reference output (``output_1``) against the model's (``output_2``)."""

    instruction: str
    output_1: str
    output_2: str
    generator_1: str
    generator_2: str
    preference: float | None
    """In [1, 2] (2 = ``output_2`` wins, 1.5 = draw); ``None`` when the annotator gave none."""
    dataset: str | None = None


def _preference(value: object, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: field 'preference' must be a number, got {value!r}")
    value = float(value)
    if math.isnan(value):
        return None
    if value == 0.0:  # AlpacaEval's old spelling of a draw
        return 1.5
    if not 1.0 <= value <= 2.0:
        raise ValueError(f"{where}: field 'preference' must lie in [1, 2] (or be 0 for a draw), got {value!r}")
    return value


def load_annotations(path: Path | str) -> list[Annotation]:
    """The annotations of one model (``results/<model>/<annotator>/annotations.json``: one JSON array).

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: not a JSON array, or a row lacks a field or has a bad preference (names file, row, field).
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as f:
            rows = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: not found") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a JSON array of annotations")
    out = []
    for index, row in enumerate(rows):
        where = f"{path}: row {index}"
        if not isinstance(row, dict):
            raise ValueError(f"{where}: expected an object")
        texts = {}
        for key in ("instruction", "output_1", "output_2", "generator_1", "generator_2"):
            value = row.get(key)
            if not isinstance(value, str):
                raise ValueError(f"{where}: field {key!r} must be a string, got {type(value).__name__}")
            texts[key] = value
        if "preference" not in row:
            raise ValueError(f"{where}: field 'preference' is missing")
        dataset = row.get("dataset")
        out.append(
            Annotation(
                **texts,
                preference=_preference(row["preference"], where),
                dataset=dataset if isinstance(dataset, str) else None,
            )
        )
    return out


def annotated_models(root: Path | str, annotator: str = ANNOTATOR) -> dict[str, Path]:
    """Models with an annotation file under ``root/results`` (the AlpacaEval data folder), name -> path."""
    results = Path(root) / "results"
    return {path.parent.parent.name: path for path in sorted(results.glob(f"*/{annotator}/annotations.json"))}


def leaderboard_path(root: Path | str) -> Path:
    return Path(root) / _LEADERBOARD


def load_leaderboard(path: Path | str) -> dict[str, dict[str, float | int | str | None]]:
    """The leaderboard CSV: model -> its columns, numbers parsed (counts as int), empty cells as ``None``."""
    path = Path(path)
    out: dict[str, dict[str, float | int | str | None]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        for lineno, row in enumerate(reader, start=2):
            if len(row) != len(header):
                raise ValueError(f"{path}: line {lineno}: {len(row)} cells, the header has {len(header)}")
            model, values = row[0], {}
            for name, cell in zip(header[1:], row[1:], strict=True):
                values[name] = _cell(cell, name, f"{path}: line {lineno}")
            out[model] = values
    return out


def _cell(cell: str, name: str, where: str) -> float | int | str | None:
    if cell == "":
        return None
    if name in ("mode",):
        return cell
    try:
        return int(cell) if name.startswith("n_") or name == "avg_length" else float(cell)
    except ValueError:
        raise ValueError(f"{where}: column {name!r} is not a number: {cell!r}") from None


def load_glm_weights(path: Path | str) -> dict[str, dict[str, float]]:
    """Upstream's fitted LC coefficients (``length_controlled_v1/baseline_gpt4_1106_preview.csv``): model ->
    ``{"length", "difficulty", "model"}``."""
    path = Path(path)
    names = {
        "np.tanh(std_delta_len)": "length",
        "instruction_difficulty": "difficulty",
        "not_gamed_baseline.astype(float)": "model",
    }
    out = {}
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        if set(header[1:]) != set(names):
            raise ValueError(f"{path}: expected columns {sorted(names)}, got {header[1:]}")
        for lineno, row in enumerate(reader, start=2):
            try:
                out[row[0]] = {names[h]: float(v) for h, v in zip(header[1:], row[1:], strict=True)}
            except (ValueError, IndexError):
                raise ValueError(f"{path}: line {lineno}: bad row {row!r}") from None
    return out


def weights_path(root: Path | str) -> Path:
    return Path(root) / _WEIGHTS


# -- raw win rate ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WinRate:
    """AlpacaEval's head-to-head numbers, in percent where a rate."""

    win_rate: float
    standard_error: float
    n_wins: int
    n_wins_base: int
    n_draws: int
    n_total: int
    discrete_win_rate: float


def win_rate(preferences: Sequence[float | None]) -> WinRate:
    """Raw win rate of ``preferences`` (floats in [1, 2], 1.5 = draw; ``None`` = not annotated, left out).

    The mean is taken with ``math.fsum`` (exactly rounded), so the result does not depend on summation order.
    """
    values = [p for p in preferences if p is not None]
    n = len(values)
    if n == 0:
        raise ValueError("win_rate: no annotation has a preference")
    for p in values:
        if not 1.0 <= p <= 2.0:
            raise ValueError(f"win_rate: preference {p!r} is outside [1, 2]")
    shifted = [p - 1.0 for p in values]
    mean = math.fsum(shifted) / n
    if n > 1:
        variance = math.fsum((s - mean) ** 2 for s in shifted) / (n - 1)
        se = math.sqrt(variance / n)
    else:
        se = float("nan")
    wins = sum(1 for s in shifted if s > 0.5)
    losses = sum(1 for s in shifted if s < 0.5)
    draws = sum(1 for p in values if p == 1.5)
    # discrete: each preference rounded to the nearest of 1 / 2, an exact 1.5 stays a draw
    discrete_wins = sum(1 for p in values if p != 1.5 and round(p) == 2)
    discrete = (discrete_wins + 0.5 * draws) / n
    return WinRate(
        win_rate=mean * 100,
        standard_error=se * 100,
        n_wins=wins,
        n_wins_base=losses,
        n_draws=draws,
        n_total=n,
        discrete_win_rate=discrete * 100,
    )


# -- length-controlled win rate ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LengthControlled:
    """A length-controlled win rate and the GLM behind it."""

    lc_win_rate: float
    """Percent."""
    lc_standard_error: float
    """Upstream's ``lc_standard_error``: the standard error of the mean of the per-instruction predictions (their
    spread over instructions, not the uncertainty of the fit), in percent; 0 without a difficulty term."""
    lc_se_fit: float
    """The fit's uncertainty: delta-method standard error of LC from the coefficients' sandwich covariance
    (rows of one instruction as a cluster), in percent."""
    coefficients: dict[str, float]
    """``length`` (on tanh of the standardised length difference, reference minus model), ``difficulty`` (when
    used) and ``model``."""
    formula: str
    """``"minimal"`` (length + model), ``"difficulty"`` (+ instruction difficulty) or ``"regularized"`` (+ gamed
    baselines at weight lambda / 2)."""
    n: int


def _std_delta_len(rows: Sequence[Annotation]) -> np.ndarray:
    delta = np.array([len(a.output_1) - len(a.output_2) for a in rows], dtype=float)
    sd = float(np.std(delta, ddof=1)) if len(delta) > 1 else 0.0
    # all outputs of equal length difference: nothing to standardise, and tanh(0 / 1) keeps the term inert
    return delta / (sd if sd > 0 else 1.0)


def length_controlled_win_rate(
    annotations: Sequence[Annotation],
    *,
    instruction_difficulty: Sequence[float] | None = None,
    gamed: Sequence[tuple[Sequence[Annotation], Sequence[float]]] | None = None,
    regularize_lambda: float = _REGULARIZE_LAMBDA,
) -> LengthControlled:
    """LC win rate of one model's annotations (row ``i`` = instruction ``i`` of the eval set).

    * no ``instruction_difficulty``: the minimal GLM (length + model term), the most the shared copy supports on
      its own;
    * with ``instruction_difficulty`` (one value per row, upstream's ``df_gamed.csv`` column): the
      ``length_controlled_noreg`` GLM;
    * with ``gamed`` as well (each gamed baseline's annotations against the same reference, row-aligned, with
      the difficulties of its rows): upstream's ``length_controlled_v1``, gamed rows weighted
      ``regularize_lambda / len(gamed)`` each and without the model term.

    Rows without a preference are left out of the fit; LC averages the predictions over every row, as upstream.

    Raises:
        ValueError: mismatched lengths, or no row with a preference.
        SeparationError: the model wins or loses every comparison outright (no finite GLM).
    """
    n = len(annotations)
    if instruction_difficulty is not None and len(instruction_difficulty) != n:
        raise ValueError(f"{len(instruction_difficulty)} difficulties for {n} annotations")
    if gamed and instruction_difficulty is None:
        raise ValueError("the regularised GLM needs instruction_difficulty too")
    use_difficulty = instruction_difficulty is not None
    names = ("length", "difficulty", "model") if use_difficulty else ("length", "model")

    def design(rows: Sequence[Annotation], difficulty: Sequence[float] | None, model: float) -> np.ndarray:
        cols = [np.tanh(_std_delta_len(rows))]
        if use_difficulty:
            cols.append(np.asarray(difficulty, dtype=float))
        cols.append(np.full(len(rows), model))
        return np.column_stack(cols)

    blocks = [(design(annotations, instruction_difficulty, 1.0), annotations, 1.0, range(n))]
    for rows, difficulty in gamed or ():
        if len(difficulty) != len(rows):
            raise ValueError(f"a gamed baseline has {len(rows)} annotations and {len(difficulty)} difficulties")
        blocks.append((design(rows, difficulty, 0.0), rows, regularize_lambda / len(gamed or ()), range(len(rows))))
    xs, ys, ws, clusters = [], [], [], []
    for x, rows, weight, index in blocks:
        for i, row, a in zip(index, x, rows, strict=True):
            if a.preference is None:
                continue
            xs.append(row)
            ys.append(a.preference - 1.0)
            ws.append(weight)
            clusters.append(i)
    if not ys:
        raise ValueError("length_controlled_win_rate: no annotation has a preference")
    fit = fit_logit(np.array(xs), ys, names=names, weights=ws, clusters=clusters)

    x_test = design(annotations, instruction_difficulty, 1.0)
    x_test[:, 0] = 0.0  # the counterfactual: no length difference
    predictions = sigmoid(x_test @ fit.coef)
    lc = float(np.mean(predictions))
    spread = float(np.std(predictions, ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    gradient = ((predictions * (1 - predictions))[:, None] * x_test).mean(axis=0)
    se_fit = math.sqrt(max(0.0, float(gradient @ fit.cov @ gradient)))
    formula = "regularized" if gamed else "difficulty" if use_difficulty else "minimal"
    return LengthControlled(
        lc_win_rate=lc * 100,
        lc_standard_error=spread * 100,
        lc_se_fit=se_fit * 100,
        coefficients={name: fit.value(name) for name in names},
        formula=formula,
        n=fit.n,
    )


def lc_from_weights(
    weights: Mapping[str, Mapping[str, float]],
    model: str,
    instruction_difficulty: Sequence[float] | np.ndarray,
    baseline: str = "gpt4_1106_preview",
) -> float:
    """LC win rate (percent) of ``model`` against ``baseline`` from fitted GLM coefficients (upstream's weights
    CSV, :func:`load_glm_weights`): mean over instructions of sigmoid(delta model term + delta difficulty weight *
    difficulty_i), deltas being model minus baseline -- the length term is zero by construction."""
    for name in (model, baseline):
        if name not in weights:
            raise KeyError(f"no GLM weights for {name!r}")
    d_model = weights[model]["model"] - weights[baseline]["model"]
    d_difficulty = weights[model]["difficulty"] - weights[baseline]["difficulty"]
    difficulty = np.asarray(instruction_difficulty, dtype=float)
    return float(np.mean(sigmoid(d_model + d_difficulty * difficulty))) * 100


def difficulty_from_annotations(annotation_sets: Sequence[Sequence[Annotation]], prior: float = 0.5) -> list[float]:
    """A stand-in for upstream's instruction difficulty: the logit of the mean preference (in [0, 1]) each
    instruction gets across several models' row-aligned annotations, smoothed towards one half by ``prior``
    pseudo-comparisons on each side so that an instruction every model loses stays finite.

    Upstream's values come from the whole leaderboard (``df_gamed.csv``); from the few models of the shared copy
    this is a much noisier estimate of the same quantity, good for exercising the difficulty GLM, not for
    reproducing published LC numbers.
    """
    if not annotation_sets:
        raise ValueError("difficulty_from_annotations needs at least one model's annotations")
    n = len(annotation_sets[0])
    if any(len(rows) != n for rows in annotation_sets):
        raise ValueError("difficulty_from_annotations: annotation sets differ in length")
    out = []
    for i in range(n):
        wins = [p - 1.0 for p in (rows[i].preference for rows in annotation_sets) if p is not None]
        p = (math.fsum(wins) + prior) / (len(wins) + 2 * prior)
        out.append(math.log(p / (1.0 - p)))
    return out
