"""Pairwise battles: the records a rating is fitted from, their numeric encoding and per-pair counts.

A battle is one comparison of two models' answers to the same prompt, decided by a judge model or a
human vote. The verdict is one of :data:`OUTCOMES`: ``a`` or ``b`` (that side won), ``tie`` or
``both_bad`` (a tie in which neither answer was acceptable). FastChat's spellings (``model_a``,
``model_b``, ``tie (bothbad)``) are accepted too, so exported LMArena battles load unchanged.

Both kinds of tie count as half a win for each side, as FastChat does: a tie contributes
``0.5 * log p + 0.5 * log(1 - p)`` to the log-likelihood, which is the same as FastChat's
duplication of every battle with the tie split into one win for each side.

:class:`BattleTable` holds battles as integer arrays, so a million of them cost a few megabytes and
every later step (counting, fitting, resampling) runs in numpy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "OUTCOMES",
    "STYLE_FEATURES",
    "Battle",
    "BattleTable",
    "PairCounts",
    "StyleFeatures",
    "markdown_counts",
    "parse_outcome",
]

OUTCOMES = ("a", "b", "tie", "both_bad")
"""Canonical verdicts; their index in this tuple is the code stored in :attr:`BattleTable.outcome`."""

_ALIASES = {
    "a": 0,
    "model_a": 0,
    "b": 1,
    "model_b": 1,
    "tie": 2,
    "both_bad": 3,
    "tie (bothbad)": 3,
    "bothbad": 3,
}

# Score of side A for each outcome code: a win, a loss, and both kinds of tie as half a win.
_SCORE_A = np.array([1.0, 0.0, 0.5, 0.5])

# Up to this many possible pairs (2,000 models) the per-pair counts come from one dense bincount.
_DENSE_PAIRS = 4_000_000

STYLE_FEATURES = ("tokens", "headers", "lists", "bold")
"""The style covariates, in the order of LMArena's style control (V1): answer length in tokens and the
counts of markdown headers, list items and bold spans."""


def parse_outcome(value: object, *, where: str = "battle") -> int:
    """The outcome code of a verdict string; a clear error naming ``where`` for anything else."""
    key = value.strip().lower() if isinstance(value, str) else None
    if key is None or key not in _ALIASES:
        raise ValueError(f"{where}: winner {value!r} is not one of {', '.join(OUTCOMES)} (or model_a, model_b)")
    return _ALIASES[key]


@dataclass(frozen=True, slots=True)
class StyleFeatures:
    """Style of one side's answer: its length in tokens and its markdown element counts."""

    tokens: int
    headers: int = 0
    lists: int = 0
    bold: int = 0

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.tokens, self.headers, self.lists, self.bold)


@dataclass(frozen=True, slots=True)
class Battle:
    """One pairwise verdict between ``model_a`` and ``model_b``; style is optional, per side."""

    model_a: str
    model_b: str
    winner: str
    style_a: StyleFeatures | None = None
    style_b: StyleFeatures | None = None


_FENCE = re.compile(r"```.*?```", re.DOTALL)
_HEADER = re.compile(r"^#{1,6}\s", re.MULTILINE)
_LIST_ITEM = re.compile(r"^\s*(?:\d+\.|[-*+])\s", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")


def markdown_counts(text: str, tokens: int) -> StyleFeatures:
    """Style features of an answer, counted as LMArena counts them.

    Code blocks are removed first, so a ``#`` comment or a ``-`` in code is not markdown. Headers are
    lines opening with one to six ``#`` and a space; list items are lines opening (after indentation)
    with ``-``, ``*``, ``+`` or ``N.`` and a space; bold spans are ``**...**`` or ``__...__`` within
    one line. ``tokens`` comes from the caller (usage counts, or the tokenizer of its choice).
    """
    prose = _FENCE.sub("", text)
    return StyleFeatures(
        tokens=int(tokens),
        headers=len(_HEADER.findall(prose)),
        lists=len(_LIST_ITEM.findall(prose)),
        bold=len(_BOLD.findall(prose)),
    )


@dataclass(frozen=True)
class BattleTable:
    """Battles as arrays: model indices into :attr:`models`, outcome codes and optional style.

    ``style_a`` / ``style_b`` are ``(n, 4)`` float arrays in :data:`STYLE_FEATURES` order, present only
    when every battle carries style for both sides.
    """

    models: tuple[str, ...]
    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray
    style_a: np.ndarray | None = None
    style_b: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.a.shape[0])

    @property
    def score_a(self) -> np.ndarray:
        """Side A's score per battle: 1 win, 0 loss, 0.5 tie."""
        return _SCORE_A[self.outcome]

    def battles_per_model(self) -> np.ndarray:
        k = len(self.models)
        return np.bincount(self.a, minlength=k) + np.bincount(self.b, minlength=k)

    @classmethod
    def from_battles(cls, battles: Iterable[Battle], *, models: Sequence[str] | None = None) -> BattleTable:
        """Encode :class:`Battle` records; ``models`` (optional) names every model that must be rated."""
        names_a: list[str] = []
        names_b: list[str] = []
        codes: list[int] = []
        styles_a: list[tuple[int, int, int, int]] = []
        styles_b: list[tuple[int, int, int, int]] = []
        with_style = without_style = 0
        for n, battle in enumerate(battles):
            codes.append(parse_outcome(battle.winner, where=f"battle {n}"))
            names_a.append(battle.model_a)
            names_b.append(battle.model_b)
            if battle.style_a is not None and battle.style_b is not None:
                styles_a.append(battle.style_a.as_tuple())
                styles_b.append(battle.style_b.as_tuple())
                with_style += 1
            else:
                without_style += 1
        style_a = style_b = None
        # Style is all or nothing: a covariate missing from some battles would silently change the model.
        if with_style and not without_style:
            style_a, style_b = np.asarray(styles_a, dtype=float), np.asarray(styles_b, dtype=float)
        return cls.from_columns(
            names_a, names_b, np.asarray(codes, dtype=np.int8), models=models, style_a=style_a, style_b=style_b
        )

    @classmethod
    def from_columns(
        cls,
        model_a: Sequence[str] | np.ndarray,
        model_b: Sequence[str] | np.ndarray,
        winner: Sequence[str] | np.ndarray,
        *,
        models: Sequence[str] | None = None,
        style_a: np.ndarray | None = None,
        style_b: np.ndarray | None = None,
    ) -> BattleTable:
        """Encode column arrays of model names and verdicts (strings, or outcome codes 0-3).

        Raises ``ValueError`` for an empty input, columns of different lengths, an unknown verdict, a
        model battling itself, a battle naming a model outside ``models``, or a listed model with no
        battles (the Bradley-Terry model cannot rate a model it never saw).
        """
        n = len(model_a)
        if n == 0:
            raise ValueError("no battles: a rating needs at least one pairwise verdict")
        if len(model_b) != n or len(winner) != n:
            raise ValueError(
                f"battle columns differ in length: model_a {n}, model_b {len(model_b)}, winner {len(winner)}"
            )
        outcome = _encode_outcomes(winner)
        seen, a, b = _factorize_pair(model_a, model_b)
        if models is None:
            listed = tuple(sorted(str(m) for m in seen))
            index = {m: i for i, m in enumerate(listed)}
        else:
            listed = tuple(models)
            if len(set(listed)) != len(listed):
                raise ValueError("models: a model is listed twice")
            index = {m: i for i, m in enumerate(listed)}
            for name, k in seen.items():
                if name not in index:
                    side, first = (
                        ("model_a", np.flatnonzero(a == k)) if np.any(a == k) else ("model_b", np.flatnonzero(b == k))
                    )
                    raise ValueError(f"battle {first[0]}: {side} {str(name)!r} is not among the listed models")
        remap = np.empty(len(seen), dtype=np.int64)
        for name, k in seen.items():
            remap[k] = index[str(name)]
        a, b = remap[a], remap[b]
        same = np.flatnonzero(a == b)
        if same.size:
            raise ValueError(f"battle {same[0]}: model {listed[a[same[0]]]!r} battles itself")
        table = cls(
            listed,
            a.astype(np.int32),
            b.astype(np.int32),
            outcome,
            _style_array(style_a, n, "style_a"),
            _style_array(style_b, n, "style_b"),
        )
        if (table.style_a is None) != (table.style_b is None):
            raise ValueError("style: give style for both sides or for neither")
        idle = np.flatnonzero(table.battles_per_model() == 0)
        if idle.size:
            raise ValueError(f"model {listed[idle[0]]!r} has no battles; a rating needs at least one battle per model")
        return table

    def subset(self, keep: np.ndarray) -> BattleTable:
        """The battles selected by a boolean mask or index array (same model list)."""
        return BattleTable(
            self.models,
            self.a[keep],
            self.b[keep],
            self.outcome[keep],
            None if self.style_a is None else self.style_a[keep],
            None if self.style_b is None else self.style_b[keep],
        )


def _factorize(values: Iterable[object], seen: dict[str, int]) -> np.ndarray:
    """Codes of ``values`` in order of first appearance, extending ``seen`` (a dict beats sorting strings)."""
    start = len(seen)
    codes = np.asarray([seen.setdefault(v, len(seen)) for v in values], dtype=np.int64)  # type: ignore[arg-type]
    for name, k in list(seen.items())[start:]:
        if not isinstance(name, str) or not name.strip():
            first = int(np.flatnonzero(codes == k)[0])
            raise ValueError(f"battle {first}: model name {name!r} is not a non-empty string")
    return codes


def _factorize_pair(
    model_a: Iterable[object], model_b: Iterable[object]
) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
    seen: dict[str, int] = {}
    a = _factorize(model_a, seen)
    b = _factorize(model_b, seen)
    return seen, a, b


def _encode_outcomes(winner: Sequence[object] | np.ndarray) -> np.ndarray:
    arr = np.asarray(winner) if isinstance(winner, np.ndarray) else None
    if arr is not None and arr.dtype.kind in "iu":
        bad = np.flatnonzero((arr < 0) | (arr >= len(OUTCOMES)))
        if bad.size:
            raise ValueError(f"battle {bad[0]}: outcome code {arr[bad[0]]} is not 0-{len(OUTCOMES) - 1}")
        return arr.astype(np.int8)
    # Verdicts repeat a handful of strings: parse each distinct one once.
    seen: dict[object, int] = {}
    raw = np.asarray([seen.setdefault(v, len(seen)) for v in winner], dtype=np.int64)
    codes = np.empty(len(seen), dtype=np.int8)
    for value, k in seen.items():
        codes[k] = parse_outcome(value, where=f"battle {int(np.flatnonzero(raw == k)[0])}")
    return codes[raw]


def _style_array(style: np.ndarray | None, n: int, field: str) -> np.ndarray | None:
    if style is None:
        return None
    arr = np.asarray(style, dtype=float)
    if arr.shape != (n, len(STYLE_FEATURES)):
        raise ValueError(
            f"{field}: shape {arr.shape}, expected ({n}, {len(STYLE_FEATURES)}) ({', '.join(STYLE_FEATURES)})"
        )
    bad = np.argwhere(~np.isfinite(arr) | (arr < 0))
    if bad.size:
        row, col = bad[0]
        raise ValueError(f"battle {row}: {field}.{STYLE_FEATURES[col]} = {arr[row, col]} is not a count >= 0")
    return arr


@dataclass(frozen=True)
class PairCounts:
    """Outcome counts per unordered pair ``lo < hi``: wins of ``lo``, wins of ``hi`` and ties.

    The Bradley-Terry model has no term for the side a model sat on, so battles of ``x`` against ``y``
    and of ``y`` against ``x`` pool into one pair. Counts are floats so that resampled or weighted
    counts use the same type.
    """

    n_models: int
    lo: np.ndarray
    hi: np.ndarray
    wins_lo: np.ndarray
    wins_hi: np.ndarray
    ties: np.ndarray

    @classmethod
    def from_table(cls, table: BattleTable) -> PairCounts:
        k = len(table.models)
        swap = table.a > table.b
        lo = np.where(swap, table.b, table.a).astype(np.int64)
        hi = np.where(swap, table.a, table.b).astype(np.int64)
        # 0: lo won, 1: hi won, 2: tie (both kinds); one bincount over (pair, outcome) cells.
        out = table.outcome.astype(np.int64)
        result = np.where(out >= 2, 2, np.where((out == 0) ^ swap, 0, 1))
        code = lo * k + hi
        if k * k <= _DENSE_PAIRS:
            cells = np.bincount(code * 3 + result, minlength=k * k * 3).reshape(k * k, 3)
            pair = np.flatnonzero(cells.sum(axis=1))
            cells = cells[pair]
        else:
            # Thousands of models: a dense k x k table would be mostly empty, so count the pairs present.
            pair, slot = np.unique(code, return_inverse=True)
            cells = np.bincount(slot * 3 + result, minlength=len(pair) * 3).reshape(len(pair), 3)
        f = cells.astype(float)
        return cls(k, pair // k, pair % k, f[:, 0], f[:, 1], f[:, 2])
