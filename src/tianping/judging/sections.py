"""The report tables of a judged run (``show``, ``report`` and the end of ``run``): the judge's bias diagnostics,
grades per turn and category, and AlpacaEval's raw and length-controlled win rates.

They are computed from the judgement records the samples stored (``tianping.judging.records``), read from the
run's database, so every judged run reports them and a re-rendered report shows the same numbers.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from tianping.core.results import RunInfo
from tianping.core.task import ReportSection
from tianping.judging.diagnostics import PairJudgement, diagnose
from tianping.judging.families import family_of
from tianping.judging.graded_bias import grade_spread, length_slope
from tianping.judging.records import GradeRecord, PairRecord, read_record
from tianping.scoring.stats import Estimate, bootstrap_mean

__all__ = ["BIAS_COLUMNS", "judged_sections"]

BIAS_COLUMNS = ("Model", "Task", "Diagnostic", "Value", "95% CI", "N", "Reading")
PAIR_NOTE = (
    "Pairwise tasks ask the judge twice per item, the baseline's reply first, then the model's. Position "
    "consistency: the same winner (or a tie) in both orders. First position wins: share of decisive verdicts won "
    "by the reply shown first (50% = no preference). Net position bias: share of items the first position won in "
    "both orders minus the share the second position won in both. Verbosity: log-odds change of a win from equal "
    "lengths to one reply holding all the text (> 0: longer replies preferred). Self-preference: share of "
    "decisive verdicts won by the judge's own model family, where exactly one reply is of that family."
)
GRADE_NOTE = (
    "Graded tasks: verbosity is the grade points added per doubling of the answer's length (it mixes real "
    "quality with a taste for length); self-preference risk flags a judge of the evaluated model's own family."
)
UNPARSEABLE_NOTE = "Unparseable judgements are counted apart (the sample is unscorable), never scored."
GRADE_COLUMNS = ("Model", "Task", "Category", "Turn 1", "Turn 2", "All turns", "N")
ALPACA_COLUMNS = ("Model", "Win rate (%)", "LC win rate (%)", "Discrete (%)", "Wins / ties / losses", "Avg length", "N")
ALPACA_NOTE = (
    "AlpacaEval 2.0 against gpt4_1106_preview's reference outputs. Win rate: mean preference (win 1, tie 1/2) x 100, "
    "± 1.96 standard errors. LC: the length-controlled GLM (length term set to zero) without upstream's instruction "
    "difficulty and gamed-baseline regularisation, whose data (df_gamed.csv) the shared copy lacks, so it is not "
    "the leaderboard's LC; ± 1.96 standard errors of the fit. Our judge gives discrete verdicts over both orders, "
    "where AlpacaEval's weighted GPT-4-turbo annotator gives a probability."
)


def _rows_of(info: RunInfo) -> list[tuple[dict[str, Any], PairRecord | GradeRecord]]:
    from tianping.store import Store

    assert info.database is not None
    store = Store(info.database, readonly=True)
    try:
        found = []
        for row in store.sample_rows(info.run_id):
            record = read_record(row.get("reason"))
            if record is not None:
                found.append((row, record))
        return found
    finally:
        store.close()


def judged_sections(info: RunInfo) -> list[ReportSection]:
    """Every table of the run's judged samples; [] when it has none."""
    if info.database is None:
        return [ReportSection("Judge bias diagnostics", (), (), note="no samples to read the judge's verdicts from",
                              id="judge-bias")]  # fmt: skip
    groups: dict[tuple[str, str], list[tuple[dict[str, Any], Any]]] = defaultdict(list)
    for row, record in _rows_of(info):
        groups[(row["model"], row["benchmark"])].append((row, record))
    if not groups:
        return []
    judge = ((info.spec.get("judge") or {}).get("id")) or None
    bias: list[tuple[str, ...]] = []
    grades: list[tuple[str, ...]] = []
    alpaca: list[tuple[str, ...]] = []
    for (model, bench), items in sorted(groups.items()):
        pairs = [(row, rec) for row, rec in items if isinstance(rec, PairRecord)]
        graded = [(row, rec) for row, rec in items if isinstance(rec, GradeRecord)]
        if pairs:
            bias.extend(_pair_bias(model, bench, pairs, judge))
        if graded:
            bias.extend(_grade_bias(model, bench, graded, judge))
            grades.extend(_grade_table(model, bench, graded))
        if bench == "alpaca_eval" and pairs:
            alpaca.append(_alpaca_row(model, pairs))
    kinds = {type(rec) for items in groups.values() for _, rec in items}
    note = " ".join(
        [
            *([PAIR_NOTE] if PairRecord in kinds else []),
            *([GRADE_NOTE] if GradeRecord in kinds else []),
            UNPARSEABLE_NOTE,
        ]
    )
    sections = [ReportSection("Judge bias diagnostics", BIAS_COLUMNS, tuple(bias), note=note, id="judge-bias")]
    if grades:
        note = "Mean grade with a 95% bootstrap interval, over the samples whose every turn got a readable grade."
        sections.append(ReportSection("Grades per turn and category", GRADE_COLUMNS, tuple(grades), note=note,
                                      id="judged-grades"))  # fmt: skip
    if alpaca:
        sections.append(ReportSection("AlpacaEval 2.0 win rates", ALPACA_COLUMNS, tuple(alpaca), note=ALPACA_NOTE,
                                      id="alpaca-eval"))  # fmt: skip
    sections.append(ReportSection("Judge", (), (), note=_judge_note(judge), id="judged-judge"))
    return sections


def _judge_note(judge: str | None) -> str:
    family = family_of(judge)
    return (
        f"judged by {judge or 'an unnamed judge'}"
        + (f" (family {family})" if family else " (family not recognised: no self-preference estimate)")
        + " with tianping's own grading and comparison prompts; verdicts read strictly ([[n]], [[A>B]])"
    )


# -- pairwise ----------------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _ci_pct(low: float | None, high: float | None) -> str:
    return "—" if low is None or high is None else f"[{100 * low:.1f}, {100 * high:.1f}]"


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _ci_num(low: float | None, high: float | None, digits: int = 2) -> str:
    return "—" if low is None or high is None else f"[{low:.{digits}f}, {high:.{digits}f}]"


def _excludes(low: float | None, high: float | None, value: float) -> bool:
    return low is not None and high is not None and (high < value or low > value)


def _with_families(pair: PairJudgement, judge: str | None) -> PairJudgement:
    return dataclasses.replace(
        pair,
        judge_family=family_of(judge),
        first_family=family_of(pair.first_model.removesuffix(" (baseline)")),
        second_family=family_of(pair.second_model.removesuffix(" (baseline)")),
    )


def _pair_bias(
    model: str, bench: str, items: Sequence[tuple[dict[str, Any], PairRecord]], judge: str | None
) -> list[tuple[str, ...]]:
    judged = [(row, rec) for row, rec in items if rec.parsed and rec.games]
    pairs = [
        dataclasses.replace(_with_families(rec.pair(model), judge), item_id=str(row["sample_id"]))
        for row, rec in judged
    ]
    games = sum(len(rec.games) for _, rec in items)
    bad_games = sum(1 for _, rec in items for g in rec.games if g.label is None)
    out: list[tuple[str, ...]] = []

    def add(name: str, value: str, ci: str, n: int, reading: str) -> None:
        out.append((model, bench, name, value, ci, str(n), reading))

    report = diagnose(pairs) if pairs else None
    if report is not None:
        c = report.consistency
        add("Position consistency", _pct(c.value), _ci_pct(c.ci_low, c.ci_high), c.n,
            "verdicts that flip with the order count as ties")  # fmt: skip
        first = report.position.first_win_rate
        leaning = ""
        if _excludes(first.ci_low, first.ci_high, 0.5):
            leaning = "prefers the first position" if (first.value or 0) > 0.5 else "prefers the second position"
        add("First position wins", _pct(first.value), _ci_pct(first.ci_low, first.ci_high), first.n,
            leaning or "no clear position preference")  # fmt: skip
        net = report.position.net_bias
        add("Net position bias", _num(net.value), _ci_num(net.ci_low, net.ci_high), net.n,
            f"first-first {report.position.first_first}, second-second {report.position.second_second}")  # fmt: skip
        out.append(_verbosity_row(model, bench, pairs))
        own = [s for s in report.self_preference if s.judge_family is not None]
        for s in own:
            e = s.own_win_rate
            add(f"Self-preference ({s.judge_family})", _pct(e.value), _ci_pct(e.ci_low, e.ci_high), e.n,
                "share of decisive verdicts won by the judge's own family")  # fmt: skip
        if not own:
            add("Self-preference", "—", "—", 0, _no_self_reason(model, items[0][1].baseline, judge))
    add("Unparseable judgements", f"{bad_games} of {games} calls", "—", len(items) - len(judged),
        "samples without a verdict (unscorable), never scored as a tie")  # fmt: skip
    return out


def _verbosity_row(model: str, bench: str, pairs: Sequence[PairJudgement]) -> tuple[str, ...]:
    from tianping.judging.diagnostics import verbosity_preference
    from tianping.judging.logit import SeparationError

    name = "Verbosity"
    try:
        fit = verbosity_preference(pairs)
    except (SeparationError, ValueError, ArithmeticError) as exc:
        return (model, bench, name, "—", "—", str(len(pairs)), f"not estimable: {exc}")
    if fit is None:
        return (model, bench, name, "—", "—", str(len(pairs)), "not estimable: under 10 decisive verdicts")
    low, high = fit.slope_ci
    reading = "log-odds per relative length: no clear length preference"
    if _excludes(low, high, 0.0):
        reading = "log-odds per relative length: " + ("prefers longer" if fit.slope > 0 else "prefers shorter")
    return (model, bench, name, _num(fit.slope), _ci_num(low, high), str(fit.n), reading)


def _no_self_reason(model: str, baseline: str, judge: str | None) -> str:
    judge_family = family_of(judge)
    if judge_family is None:
        return "not measured: the judge's model family is not recognised from its name"
    families = {family_of(model), family_of(baseline)}
    if None in families:
        return "not measured: a compared model's family is not recognised from its name"
    return f"not measured: the judge's family ({judge_family}) is on both sides or neither"


# -- graded ------------------------------------------------------------------------------------------------


def _grade_bias(
    model: str, bench: str, items: Sequence[tuple[dict[str, Any], GradeRecord]], judge: str | None
) -> list[tuple[str, ...]]:
    grades: list[int] = []
    lengths: list[int] = []
    clusters: list[str] = []
    for row, rec in items:
        for turn in rec.turns:
            if turn.grade is not None:
                grades.append(turn.grade)
                lengths.append(turn.length)
                clusters.append(str(row["sample_id"]))
    calls = sum(len(rec.turns) for _, rec in items)
    out: list[tuple[str, ...]] = []
    fit = length_slope(grades, lengths, clusters)
    name = "Verbosity"
    if fit is None:
        out.append((model, bench, name, "—", "—", str(len(grades)), "not estimable: under 10 grades or one length"))
    else:
        reading = "grade points per doubling of length: no clear trend"
        if _excludes(fit.ci_low, fit.ci_high, 0.0):
            reading = "grade points per doubling of length: " + ("rise" if fit.slope > 0 else "fall")
        out.append((model, bench, name, _num(fit.slope), _ci_num(fit.ci_low, fit.ci_high), str(fit.n), reading))
    low, high = items[0][1].low, items[0][1].high
    out.append((model, bench, "Grade spread", grade_spread(grades, low, high), "—", str(len(grades)),
                f"grades on the {low}-{high} scale"))  # fmt: skip
    same = family_of(judge) is not None and family_of(judge) == family_of(model)
    reading = (
        f"the judge and the model are both {family_of(model)}: grades may be inflated by self-preference"
        if same
        else "the judge is of another (or an unrecognised) family"
    )
    out.append((model, bench, "Self-preference risk", "yes" if same else "no", "—", str(len(items)), reading))
    bad = calls - len(grades)
    out.append((model, bench, "Unparseable judgements", f"{bad} of {calls} calls", "—",
                str(sum(1 for _, rec in items if not rec.parsed)), "samples without a grade (unscorable)"))  # fmt: skip
    return out


def _mean(values: Sequence[float]) -> Estimate | None:
    return bootstrap_mean(values) if values else None


def _cell(est: Estimate | None) -> str:
    if est is None:
        return "—"
    return f"{_num(est.value)} {_ci_num(est.ci_low, est.ci_high)}"


def _grade_table(model: str, bench: str, items: Sequence[tuple[dict[str, Any], GradeRecord]]) -> list[tuple[str, ...]]:
    complete = [(row, rec) for row, rec in items if rec.parsed and row["status"] == "scored"]
    by_category: dict[str, list[GradeRecord]] = defaultdict(list)
    for row, rec in complete:
        by_category[str(row["meta"].get("category", "all"))].append(rec)
    groups: list[tuple[str, list[GradeRecord]]] = [("all", [rec for _, rec in complete])]
    if len(by_category) > 1:
        groups += sorted(by_category.items())
    out: list[tuple[str, ...]] = []
    for name, recs in groups:
        turn_1 = [float(r.turns[0].grade) for r in recs if r.turns and r.turns[0].grade is not None]
        turn_2 = [float(r.turns[1].grade) for r in recs if len(r.turns) > 1 and r.turns[1].grade is not None]
        both = list(_all_grades(recs))
        out.append((model, bench, name, _cell(_mean(turn_1)), _cell(_mean(turn_2)), _cell(_mean(both)),
                    str(len(recs))))  # fmt: skip
    return out


def _all_grades(records: Iterable[GradeRecord]) -> Iterable[float]:
    for rec in records:
        for turn in rec.turns:
            if turn.grade is not None:
                yield float(turn.grade)


# -- AlpacaEval --------------------------------------------------------------------------------------------


def _alpaca_row(model: str, items: Sequence[tuple[dict[str, Any], PairRecord]]) -> tuple[str, ...]:
    from tianping.judging.alpaca_eval import Annotation, length_controlled_win_rate, win_rate
    from tianping.judging.logit import SeparationError

    scored = [(row, rec) for row, rec in items if row["status"] == "scored" and row["score"] is not None]
    if not scored:
        return (model, "—", "—", "—", "—", "—", "0")
    annotations = [
        Annotation(
            instruction=str(row["sample_id"]),
            output_1=row["target"],
            output_2=row["output"] or "",
            generator_1=rec.baseline,
            generator_2=model,
            preference=1.0 + float(row["score"]),
        )
        for row, rec in scored
    ]
    raw = win_rate([a.preference for a in annotations])
    plain = f"{raw.win_rate:.1f} ± {1.96 * raw.standard_error:.1f}" if len(scored) > 1 else f"{raw.win_rate:.1f}"
    try:
        lc = length_controlled_win_rate(annotations)
        lc_text = f"{lc.lc_win_rate:.1f} ± {1.96 * lc.lc_se_fit:.1f}"
    except (SeparationError, ValueError, ArithmeticError) as exc:
        lc_text = f"— ({str(exc)[:60]})"
    average = sum(len(a.output_2) for a in annotations) / len(annotations)
    counts = f"{raw.n_wins} / {raw.n_draws} / {raw.n_wins_base}"
    return (model, plain, lc_text, f"{raw.discrete_win_rate:.1f}", counts, f"{average:.0f}", str(raw.n_total))
