"""Bias diagnostics of a pairwise LLM judge: position consistency and preference, verbosity, self-preference.

The input is a list of :class:`PairJudgement`: one pair of answers (two models' answers to one item) judged with
the first model's answer shown first, and -- where the run asked for it -- judged again with the order swapped.
Verdicts are positional, as the judge said them: ``"first"`` (the answer shown first is better), ``"second"`` or
``"tie"``. :func:`combine_orders` builds pairs from single judge calls.

What each diagnostic estimates, and how ties count, is in each function's docstring and in ``docs/judging.md``. All
proportions carry 95% intervals: Wilson for independent units, Wilson at the cluster-effective size where both
orders of one pair are counted, Newcombe's paired interval for differences measured on the same pairs, and a Wald
interval from a cluster-robust (pairs as clusters) logistic regression for the verbosity slope (our own Newton fit
in :mod:`tianping.judging.logit`; statsmodels is not a dependency).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tianping.judging.logit import fit_logit
from tianping.scoring.stats import Estimate, clustered_proportion, newcombe_paired_interval, wilson_interval

__all__ = [
    "FIRST",
    "SECOND",
    "TIE",
    "BiasReport",
    "FinalVerdict",
    "JudgeCall",
    "PairJudgement",
    "PositionPreference",
    "SelfPreference",
    "VerbosityPreference",
    "combine_orders",
    "diagnose",
    "final_verdicts",
    "length_feature",
    "position_consistency",
    "position_preference",
    "self_preference",
    "verbosity_preference",
]

FIRST, SECOND, TIE = "first", "second", "tie"
VERDICTS = (FIRST, SECOND, TIE)


@dataclass(frozen=True, slots=True)
class PairJudgement:
    """Two models' answers to one item, judged in one order and optionally in the swapped order.

    ``verdict`` is what the judge said with ``first_model``'s answer shown first; ``swapped_verdict`` what it said
    with ``second_model``'s answer shown first, in the positions of that second prompt (``"first"`` there means
    ``second_model`` won). Lengths are in any one unit (characters, tokens). Families name model families
    (``"qwen"``, ``"gpt"``) for self-preference; leave them ``None`` when unknown.
    """

    item_id: str
    first_model: str
    second_model: str
    verdict: str
    swapped_verdict: str | None = None
    first_length: int | None = None
    second_length: int | None = None
    judge_family: str | None = None
    first_family: str | None = None
    second_family: str | None = None

    def __post_init__(self) -> None:
        for name in ("verdict", "swapped_verdict"):
            value = getattr(self, name)
            if value is None and name == "swapped_verdict":
                continue
            if value not in VERDICTS:
                raise ValueError(f"item {self.item_id!r}: {name} must be one of {VERDICTS}, got {value!r}")
        if self.first_model == self.second_model:
            raise ValueError(f"item {self.item_id!r}: first_model and second_model are both {self.first_model!r}")
        for name in ("first_length", "second_length"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"item {self.item_id!r}: {name} must be >= 0, got {value!r}")

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.item_id, self.first_model, self.second_model)

    def winner(self) -> str | None:
        """The winning model in the first order, ``None`` for a tie."""
        return _winner(self.verdict, self.first_model, self.second_model)

    def swapped_winner(self) -> str | None:
        """The winning model in the swapped order, ``None`` for a tie (only when ``swapped_verdict`` is set)."""
        if self.swapped_verdict is None:
            raise ValueError(f"item {self.item_id!r} was not judged in the swapped order")
        return _winner(self.swapped_verdict, self.second_model, self.first_model)

    def consistent(self) -> bool | None:
        """Whether the same model won (or both orders tied); ``None`` when the swap was not judged."""
        if self.swapped_verdict is None:
            return None
        return self.winner() == self.swapped_winner()

    def orders(self) -> list[tuple[str, float | None, str | None, str | None]]:
        """Each judged order as (verdict, length feature of the first-shown answer, first-shown family,
        second-shown family)."""
        d = length_feature(self.first_length, self.second_length)
        out = [(self.verdict, d, self.first_family, self.second_family)]
        if self.swapped_verdict is not None:
            out.append((self.swapped_verdict, None if d is None else -d, self.second_family, self.first_family))
        return out


def _winner(verdict: str, shown_first: str, shown_second: str) -> str | None:
    return shown_first if verdict == FIRST else shown_second if verdict == SECOND else None


def length_feature(first_length: int | None, second_length: int | None) -> float | None:
    """The normalised length difference (L1 - L2) / (L1 + L2), in [-1, 1]; 0 when both are empty.

    A relative difference rather than the difference over its sample standard deviation (AlpacaEval's choice) so
    that the verbosity slope of one judge means the same thing on any data: it is the log-odds change between
    equal lengths and "the first answer holds all the text".
    """
    if first_length is None or second_length is None:
        return None
    total = first_length + second_length
    return 0.0 if total == 0 else (first_length - second_length) / total


@dataclass(frozen=True, slots=True)
class JudgeCall:
    """One judge call: the answers of ``shown_first`` and ``shown_second`` in that order, and the verdict."""

    item_id: str
    shown_first: str
    shown_second: str
    verdict: str
    first_length: int | None = None
    second_length: int | None = None
    judge_family: str | None = None
    first_family: str | None = None
    second_family: str | None = None


def combine_orders(calls: Iterable[JudgeCall]) -> list[PairJudgement]:
    """Pair up single judge calls: a call and the call on the same item with the two models swapped become one
    :class:`PairJudgement`; a call without its swap stays single. The first call seen fixes the pair's order.

    Raises:
        ValueError: when one item and order is judged twice.
    """
    pending: dict[tuple[str, str, str], JudgeCall] = {}
    order: list[tuple[str, str, str]] = []
    swaps: dict[tuple[str, str, str], JudgeCall] = {}
    for call in calls:
        key = (call.item_id, call.shown_first, call.shown_second)
        mirror = (call.item_id, call.shown_second, call.shown_first)
        if key in pending or key in swaps:
            raise ValueError(f"item {call.item_id!r}: {call.shown_first!r} vs {call.shown_second!r} judged twice")
        if mirror in pending and mirror not in swaps:
            swaps[mirror] = call
        else:
            pending[key] = call
            order.append(key)
    out = []
    for key in order:
        call = pending[key]
        swap = swaps.get(key)
        out.append(
            PairJudgement(
                item_id=call.item_id,
                first_model=call.shown_first,
                second_model=call.shown_second,
                verdict=call.verdict,
                swapped_verdict=None if swap is None else swap.verdict,
                first_length=call.first_length,
                second_length=call.second_length,
                judge_family=call.judge_family,
                first_family=call.first_family,
                second_family=call.second_family,
            )
        )
    return out


# -- position ----------------------------------------------------------------------------------------------------


def position_consistency(pairs: Sequence[PairJudgement], confidence: float = 0.95) -> Estimate:
    """Share of pairs judged in both orders whose winner survives the swap (Wilson interval over pairs).

    A tie in both orders is consistent; a tie in one order and a win in the other is not.
    """
    swapped = [p.consistent() for p in pairs if p.swapped_verdict is not None]
    n = len(swapped)
    hits = sum(1 for c in swapped if c)
    if n == 0:
        return Estimate(value=None, n=0, ci_low=None, ci_high=None, method="wilson")
    low, high = wilson_interval(hits, n, confidence)
    return Estimate(value=hits / n, n=n, ci_low=low, ci_high=high, method="wilson")


@dataclass(frozen=True, slots=True)
class PositionPreference:
    """How much the position of an answer, rather than its content, decides the verdict."""

    first_win_rate: Estimate
    """P(the answer shown first wins) over every decisive verdict of either order; ties excluded. 0.5 = no
    preference when the data show each pair in both orders (or in random order). Both orders of one pair are
    dependent, so the Wilson interval is taken at the cluster-effective size (pairs as clusters)."""
    net_bias: Estimate
    """Over pairs decisive in both orders: (share where the first position won both times) - (share where the
    second position won both times), with Newcombe's paired interval. A judge that picks the first position with
    probability p regardless of content, and otherwise judges on content, has net_bias = p."""
    ties: int
    """Tie verdicts left out (either order)."""
    first_first: int
    """Pairs where the first-shown answer won in both orders."""
    second_second: int
    """Pairs where the second-shown answer won in both orders."""


def position_preference(pairs: Sequence[PairJudgement], confidence: float = 0.95) -> PositionPreference:
    """Position preference; see :class:`PositionPreference` for what each number means and how ties count."""
    values: list[float] = []
    clusters: list[int] = []
    ties = 0
    table = [0, 0, 0, 0]  # n11 consistent first model, n12 first-first, n21 second-second, n22 consistent second
    for index, pair in enumerate(pairs):
        verdicts = [pair.verdict] + ([pair.swapped_verdict] if pair.swapped_verdict is not None else [])
        for verdict in verdicts:
            if verdict == TIE:
                ties += 1
            else:
                values.append(1.0 if verdict == FIRST else 0.0)
                clusters.append(index)
        if pair.swapped_verdict is not None and TIE not in verdicts:
            a = pair.verdict == FIRST  # the first position won the first order
            b = pair.swapped_verdict == SECOND  # the second position won the swapped order
            table[(0 if a else 2) + (0 if b else 1)] += 1
    if values:
        first_win_rate = clustered_proportion(values, clusters, confidence)
    else:
        first_win_rate = Estimate(value=None, n=0, ci_low=None, ci_high=None, method="wilson-clustered")
    n11, n12, n21, n22 = table
    n = sum(table)
    if n:
        low, high = newcombe_paired_interval(n11, n12, n21, n22, confidence)
        net = Estimate(value=(n12 - n21) / n, n=n, ci_low=low, ci_high=high, method="newcombe-paired")
    else:
        net = Estimate(value=None, n=0, ci_low=None, ci_high=None, method="newcombe-paired")
    return PositionPreference(
        first_win_rate=first_win_rate, net_bias=net, ties=ties, first_first=n12, second_second=n21
    )


# -- verbosity ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerbosityPreference:
    """Logistic regression of "the first-shown answer wins" on the normalised length difference."""

    slope: float
    """Log-odds change from equal lengths to (L1 - L2) / (L1 + L2) = 1; > 0 means longer answers are preferred."""
    slope_ci: tuple[float, float]
    intercept: float
    """Log-odds of the first position winning at equal lengths (the position effect)."""
    intercept_ci: tuple[float, float]
    n: int
    """Decisive verdicts used (both orders counted; ties excluded)."""
    covariance: str
    """``"cluster-robust"`` (pairs as clusters) or ``"observed-information"``."""
    method: str = "logit-newton"


def verbosity_preference(
    pairs: Sequence[PairJudgement], confidence: float = 0.95, cluster_by_pair: bool = True
) -> VerbosityPreference | None:
    """Verbosity preference: logit P(first-shown wins) = a + b * (L1 - L2) / (L1 + L2), fitted over every decisive
    verdict with both lengths known, ties excluded. ``None`` when fewer than 10 such verdicts exist or all lengths
    are equal (no slope to fit).

    The 95% interval is Wald's with a cluster-robust covariance (the two orders of one pair form a cluster: a
    consistent judge's two verdicts are as dependent as verdicts get), or from the observed information with
    ``cluster_by_pair=False``.
    """
    rows: list[tuple[float, float, int]] = []
    for index, pair in enumerate(pairs):
        for verdict, feature, _, _ in pair.orders():
            if verdict != TIE and feature is not None:
                rows.append((feature, 1.0 if verdict == FIRST else 0.0, index))
    if len(rows) < 10 or len({r[0] for r in rows}) < 2:
        return None
    lengths = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    x = np.column_stack([np.ones_like(lengths), lengths])
    clusters = [r[2] for r in rows] if cluster_by_pair and len({r[2] for r in rows}) >= 2 else None
    fit = fit_logit(x, y, names=("intercept", "length"), clusters=clusters)
    return VerbosityPreference(
        slope=fit.value("length"),
        slope_ci=fit.interval("length", confidence),
        intercept=fit.value("intercept"),
        intercept_ci=fit.interval("intercept", confidence),
        n=fit.n,
        covariance=fit.covariance,
    )


# -- self-preference ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SelfPreference:
    """How often the judge's own family wins against other families, and (with gold labels) how much more often
    than it should."""

    judge_family: str
    own_win_rate: Estimate
    """Share of decisive verdicts (either order) on pairs with exactly one answer from the judge's family that the
    own-family answer wins; ties excluded. Wilson at the cluster-effective size, pairs as clusters."""
    gold_own_win_rate: Estimate | None = None
    """The same share by the gold labels, over the pairs that have one (ties excluded)."""
    excess: Estimate | None = None
    """own win rate by the judge's final verdict - by gold, over the same pairs, both decisive (Newcombe's paired
    interval). > 0 means the judge favours its own family beyond what the gold labels support."""


def self_preference(
    pairs: Sequence[PairJudgement], gold: Mapping[str, str | None] | None = None, confidence: float = 0.95
) -> list[SelfPreference]:
    """Self-preference for each judge family present, over the pairs where exactly one answer shares its family.

    ``gold`` maps ``item_id`` to the model that truly wins (``None`` for a tie), e.g. from human labels.
    """
    by_family: dict[str, list[tuple[int, PairJudgement]]] = {}
    for index, pair in enumerate(pairs):
        fam = pair.judge_family
        if fam is None or pair.first_family is None or pair.second_family is None:
            continue
        if (pair.first_family == fam) != (pair.second_family == fam):
            by_family.setdefault(fam, []).append((index, pair))
    out = []
    for fam, mixed in sorted(by_family.items()):
        values: list[float] = []
        clusters: list[int] = []
        for index, pair in mixed:
            for verdict, _, shown_first_family, _ in pair.orders():
                if verdict == TIE:
                    continue
                winner_family = shown_first_family if verdict == FIRST else _other(pair, shown_first_family)
                values.append(1.0 if winner_family == fam else 0.0)
                clusters.append(index)
        own = (
            clustered_proportion(values, clusters, confidence)
            if values
            else Estimate(value=None, n=0, ci_low=None, ci_high=None, method="wilson-clustered")
        )
        gold_est = excess = None
        if gold is not None:
            gold_est, excess = _gold_self(fam, mixed, gold, confidence)
        out.append(SelfPreference(judge_family=fam, own_win_rate=own, gold_own_win_rate=gold_est, excess=excess))
    return out


def _other(pair: PairJudgement, family: str | None) -> str | None:
    return pair.second_family if family == pair.first_family else pair.first_family


def _gold_self(
    fam: str, mixed: list[tuple[int, PairJudgement]], gold: Mapping[str, str | None], confidence: float
) -> tuple[Estimate | None, Estimate | None]:
    def own_model(pair: PairJudgement) -> str:
        return pair.first_model if pair.first_family == fam else pair.second_model

    gold_values: list[float] = []
    table = [0, 0, 0, 0]
    for _, pair in mixed:
        if pair.item_id not in gold:
            continue
        truth = gold[pair.item_id]
        if truth is None:
            continue
        if truth not in (pair.first_model, pair.second_model):
            raise ValueError(f"item {pair.item_id!r}: gold winner {truth!r} is neither model of the pair")
        gold_own = truth == own_model(pair)
        gold_values.append(1.0 if gold_own else 0.0)
        final = _final(pair)
        if final is not None:
            judge_own = final == own_model(pair)
            table[(0 if judge_own else 2) + (0 if gold_own else 1)] += 1
    if not gold_values:
        return None, None
    k = sum(gold_values)
    low, high = wilson_interval(k, len(gold_values), confidence)
    gold_est = Estimate(value=k / len(gold_values), n=len(gold_values), ci_low=low, ci_high=high, method="wilson")
    n = sum(table)
    if n == 0:
        return gold_est, None
    n11, n12, n21, n22 = table
    low, high = newcombe_paired_interval(n11, n12, n21, n22, confidence)
    excess = Estimate(value=(n12 - n21) / n, n=n, ci_low=low, ci_high=high, method="newcombe-paired")
    return gold_est, excess


# -- final verdicts ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FinalVerdict:
    """The verdict of one pair: the winning model, or ``None`` for a tie (including inconsistent orders)."""

    item_id: str
    first_model: str
    second_model: str
    winner: str | None
    consistent: bool | None
    """``None`` when only one order was judged."""


def _final(pair: PairJudgement) -> str | None:
    winner = pair.winner()
    if pair.swapped_verdict is None:
        return winner
    return winner if winner == pair.swapped_winner() else None


def final_verdicts(pairs: Sequence[PairJudgement]) -> list[FinalVerdict]:
    """One verdict per pair: the winner when both orders agree (or only one was judged), a tie when they
    disagree -- a verdict that flips with the order says nothing about the answers."""
    return [
        FinalVerdict(
            item_id=p.item_id,
            first_model=p.first_model,
            second_model=p.second_model,
            winner=_final(p),
            consistent=p.consistent(),
        )
        for p in pairs
    ]


# -- all together ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BiasReport:
    """Every diagnostic of one judged run; ``to_dict`` gives JSON-ready values for reports."""

    n_pairs: int
    n_swapped: int
    consistency: Estimate
    position: PositionPreference
    verbosity: VerbosityPreference | None
    self_preference: list[SelfPreference] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def diagnose(
    pairs: Sequence[PairJudgement], gold: Mapping[str, str | None] | None = None, confidence: float = 0.95
) -> BiasReport:
    """All bias diagnostics of a judged run (``gold`` as in :func:`self_preference`)."""
    return BiasReport(
        n_pairs=len(pairs),
        n_swapped=sum(1 for p in pairs if p.swapped_verdict is not None),
        consistency=position_consistency(pairs, confidence),
        position=position_preference(pairs, confidence),
        verbosity=verbosity_preference(pairs, confidence),
        self_preference=self_preference(pairs, gold, confidence),
    )
