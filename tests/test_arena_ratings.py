"""Arena ratings on battles simulated from known strengths, against solvers written independently here.

The independent solvers do not share code or formulation with tianping.arena: one maximises the raw
per-battle log-likelihood with scipy (dense design matrix, one row per battle, scipy's trust-region
Newton), the other is scikit-learn's unpenalised logistic regression on FastChat's construction (every
battle twice, a tie as one win for each side).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from tianping.arena import (
    Battle,
    BattleTable,
    EloScale,
    NotIdentifiable,
    StyleFeatures,
    arena_table,
    bootstrap_intervals,
    fit_bradley_terry,
    fit_style_controlled,
    markdown_counts,
    rank_intervals,
    sandwich_intervals,
    simulate_battles,
)

POINTS = 400 / math.log(10)
TRUE = np.array([1180.0, 1100.0, 1020.0, 980.0, 900.0, 820.0])  # mean 1000: the default anchor


def _design(table: BattleTable) -> np.ndarray:
    x = np.zeros((len(table), len(table.models)))
    rows = np.arange(len(table))
    x[rows, table.a] = 1.0
    x[rows, table.b] = -1.0
    return x


def _mean_anchored(theta: np.ndarray) -> np.ndarray:
    return 1000.0 + POINTS * (theta - theta.mean())


def _scipy_per_battle(table: BattleTable) -> np.ndarray:
    """Maximise sum_battles [s log p + (1 - s) log(1 - p)] over theta[1:], theta[0] = 0."""
    x = _design(table)[:, 1:]
    s = table.score_a

    def negll(t: np.ndarray) -> tuple[float, np.ndarray]:
        d = x @ t
        return -float(np.sum(s * log_expit(d) + (1 - s) * log_expit(-d))), -(x.T @ (s - expit(d)))

    def hess(t: np.ndarray) -> np.ndarray:
        p = expit(x @ t)
        return (x * (p * (1 - p))[:, None]).T @ x

    res = minimize(negll, np.zeros(x.shape[1]), jac=True, hess=hess, method="trust-exact", options={"gtol": 1e-9})
    assert res.success, res.message
    return _mean_anchored(np.concatenate([[0.0], res.x]))


def _sklearn_duplicated(table: BattleTable) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    x = _design(table)[:, 1:] * math.log(10)  # model 0 held at 0, as the full design is rank-deficient
    score = table.score_a
    y_first = (score >= 0.5).astype(float)  # a tie: A wins in the first copy ...
    y_second = (score == 1.0).astype(float)  # ... and B in the second
    with warnings.catch_warnings():
        # scikit-learn 1.8 renamed "no penalty" (C=inf); penalty=None still works from 1.2 on, which CI may have
        warnings.simplefilter("ignore", FutureWarning)
        lr = LogisticRegression(penalty=None, fit_intercept=False, solver="newton-cholesky", tol=1e-12, max_iter=1000)
        lr.fit(np.vstack([x, x]), np.concatenate([y_first, y_second]))
    beta = np.concatenate([[0.0], lr.coef_[0]])
    return 1000.0 + 400.0 * (beta - beta.mean())


def test_mle_equals_two_independent_solvers_within_1e_6():
    table = simulate_battles(TRUE, 5000, tie_rate=0.3, seed=11)
    assert np.mean(table.outcome == 2) > 0.15  # ties are a real part of the data
    ours = fit_bradley_terry(table).ratings
    assert np.max(np.abs(ours - _scipy_per_battle(table))) < 1e-6
    assert np.max(np.abs(ours - _sklearn_duplicated(table))) < 1e-6
    assert ours.mean() == pytest.approx(1000.0, abs=1e-9)
    # 5,000 battles pin each rating to within ~25 points of the truth
    assert np.max(np.abs(ours - TRUE)) < 60


def test_ties_count_half_a_win_each_hand_computed():
    # A beat B once and they tied once: A scored 1.5 of 2, so P(A beats B) = 3/4, odds 3,
    # a gap of 400 * log10(3) = 190.85 points, split around the mean of 1000.
    battles = [Battle("A", "B", "a"), Battle("B", "A", "tie")]
    fit = fit_bradley_terry(BattleTable.from_battles(battles))
    gap = 400 * math.log10(3)
    assert fit.rating("A") == pytest.approx(1000 + gap / 2, abs=1e-9)
    assert fit.rating("B") == pytest.approx(1000 - gap / 2, abs=1e-9)
    # both_bad is a tie too, and FastChat's spelling of it is accepted
    same = fit_bradley_terry(BattleTable.from_battles([Battle("A", "B", "model_a"), Battle("A", "B", "tie (bothbad)")]))
    assert same.rating("A") == pytest.approx(fit.rating("A"), abs=1e-9)
    # a named reference anchor moves everything by one constant
    pinned = fit_bradley_terry(BattleTable.from_battles(battles), scale=EloScale(anchor=1114.0, reference="B"))
    assert pinned.rating("B") == pytest.approx(1114.0, abs=1e-9)
    assert pinned.rating("A") == pytest.approx(1114.0 + gap, abs=1e-9)


def test_tie_equals_one_win_each_in_doubled_battles():
    table = simulate_battles(TRUE[:4], 800, tie_rate=0.4, seed=3)
    tie = table.outcome == 2
    # Every battle twice, each tie turned into one A win and one B win.
    doubled = BattleTable(
        table.models,
        np.concatenate([table.a, table.a]),
        np.concatenate([table.b, table.b]),
        np.concatenate([np.where(tie, 0, table.outcome), np.where(tie, 1, table.outcome)]).astype(np.int8),
    )
    assert np.max(np.abs(fit_bradley_terry(table).ratings - fit_bradley_terry(doubled).ratings)) < 1e-8


def test_intervals_cover_the_true_ratings_at_about_95_percent():
    # 100 seeded simulations of 6 models and 1,500 battles with ties: 600 intervals per method.
    sims, rounds = 100, 200
    boot_hits = np.zeros(TRUE.size, dtype=int)
    sand_hits = np.zeros(TRUE.size, dtype=int)
    ratio = []
    for seed in range(sims):
        fit = fit_bradley_terry(simulate_battles(TRUE, 1500, tie_rate=0.3, seed=1000 + seed))
        boot = bootstrap_intervals(fit, rounds=rounds, seed=seed)
        sand = sandwich_intervals(fit)
        boot_hits += (boot.lower <= TRUE) & (boot.upper >= TRUE)
        sand_hits += (sand.lower <= TRUE) & (sand.upper >= TRUE)
        ratio.append(boot.se / sand.se)
    # Binomial(100, 0.95) falls below 88 with probability ~0.1%; the pooled 600 should sit within ~2.5 SE of 95%.
    # (These seeds give bootstrap 94/95/93/93/95/95 = 565 of 600, sandwich 94/94/93/93/97/96 = 567 of 600.)
    for hits in (boot_hits, sand_hits):
        assert hits.min() >= 88, hits
        assert 0.93 <= hits.sum() / (sims * TRUE.size) <= 0.975, hits
    # the two methods estimate the same spread
    assert 0.9 < float(np.median(ratio)) < 1.1


def test_sandwich_narrower_than_fisher_when_ties_are_half_wins():
    # With ties scored 0.5 the outcome varies less than a Bernoulli; the robust variance sees that.
    from tianping.arena.logit import gram

    fit = fit_bradley_terry(simulate_battles(TRUE, 20000, tie_rate=0.5, seed=5))
    p = fit.problem
    prob = expit(fit.solution.theta[p.i] - fit.solution.theta[p.j])
    fisher = np.linalg.inv(gram(p, p.w * prob * (1 - prob))[1:, 1:])
    a = fit.scale.projection(fit.models)[:, 1:] * POINTS
    fisher_se = np.sqrt(np.diag(a @ fisher @ a.T))
    assert np.all(sandwich_intervals(fit).se < 0.95 * fisher_se)


def _styled_battles(n: int, seed: int, effect: float) -> tuple[BattleTable, np.ndarray, np.ndarray]:
    """Battles where longer answers win more often: logit += effect * (La - Lb) / (La + Lb + 1)."""
    rng = np.random.default_rng(seed)
    k = TRUE.size
    theta = (TRUE - TRUE.mean()) / POINTS
    verbosity = np.array([5.0, 6.5, 5.5, 7.0, 6.0, 5.0])  # log mean tokens; model 3 is the chatty one
    a = rng.integers(0, k, n)
    b = (a + rng.integers(1, k, n)) % k
    la = np.round(np.exp(verbosity[a] + rng.normal(0, 0.4, n)))
    lb = np.round(np.exp(verbosity[b] + rng.normal(0, 0.4, n)))
    logit = theta[a] - theta[b] + effect * (la - lb) / (la + lb + 1)
    outcome = np.where(rng.random(n) < expit(logit), 0, 1).astype(np.int8)
    style_a = np.column_stack([la, rng.poisson(2, n), rng.poisson(4, n), rng.poisson(1, n)])
    style_b = np.column_stack([lb, rng.poisson(2, n), rng.poisson(4, n), rng.poisson(1, n)])
    names = np.array([f"m{i}" for i in range(k)], dtype=object)
    table = BattleTable.from_columns(names[a], names[b], outcome, style_a=style_a, style_b=style_b)
    return table, theta, verbosity


def test_style_control_recovers_an_injected_length_effect():
    effect = 1.5
    table, theta, verbosity = _styled_battles(40000, seed=21, effect=effect)
    styled = fit_style_controlled(table)
    ci = sandwich_intervals(styled)
    # gamma is per standard deviation of the normalised difference: back on the raw scale it is `effect`.
    tokens = styled.coefficients[0] / styled.feature_spread[0]
    assert abs(tokens - effect) < 3 * ci.coef_se[0] / styled.feature_spread[0]
    # headers, lists and bold had no effect: their estimates sit within 3.5 SE of zero
    assert np.all(np.abs(styled.coefficients[1:]) < 3.5 * ci.coef_se[1:])
    truth = 1000 + POINTS * theta
    assert np.all(np.abs(styled.ratings - truth) < 4 * ci.se)
    # Plain Bradley-Terry credits the chatty model with its length.
    plain = fit_bradley_terry(table)
    chatty = int(np.argmax(verbosity))
    assert plain.ratings[chatty] - truth[chatty] > 10 * ci.se[chatty]
    assert abs(styled.ratings[chatty] - truth[chatty]) < 4 * ci.se[chatty]


def test_style_fit_equals_sklearn_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    table, _, _ = _styled_battles(6000, seed=13, effect=1.0)
    ours = fit_style_controlled(table)
    # Independent: standardise the normalised differences here, fit an unpenalised logistic regression.
    diff = (table.style_a - table.style_b) / (table.style_a + table.style_b + 1)
    z = (diff - diff.mean(axis=0)) / diff.std(axis=0)
    x = np.hstack([_design(table)[:, 1:], z])  # model 0's column dropped: the full design is rank-deficient
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        lr = LogisticRegression(penalty=None, fit_intercept=False, solver="newton-cholesky", tol=1e-12, max_iter=1000)
        lr.fit(x, table.score_a)
    k = len(table.models)
    theta = np.concatenate([[0.0], lr.coef_[0][: k - 1]])
    assert np.max(np.abs(ours.ratings - _mean_anchored(theta))) < 1e-6
    assert np.max(np.abs(ours.coefficients - lr.coef_[0][k - 1 :])) < 1e-8


def test_style_control_without_effect_finds_none():
    table, theta, _ = _styled_battles(20000, seed=4, effect=0.0)
    styled = fit_style_controlled(table, features=["tokens"])
    ci = sandwich_intervals(styled)
    assert abs(styled.coefficients[0]) < 3 * ci.coef_se[0]
    assert np.all(np.abs(styled.ratings - (1000 + POINTS * theta)) < 4 * ci.se)


def test_markdown_counts_follow_lmarena_rules():
    text = (
        "# Title\n## Part\nSome **bold** and __also bold__ text.\n"
        "- one\n  * two\n3. three\n#not a header\n"
        "```python\n# comment, not a header\n- not a list\n**not bold**\n```\n"
        "**unclosed\n"
    )
    assert markdown_counts(text, tokens=57) == StyleFeatures(tokens=57, headers=2, lists=3, bold=2)


def test_rank_intervals_hand_checked():
    lower = np.array([1100.0, 1090.0, 1000.0, 990.0])
    upper = np.array([1120.0, 1105.0, 1030.0, 1010.0])
    best, worst = rank_intervals(lower, upper)
    # m0, m1 overlap each other and sit clear above m2, m3, which overlap each other.
    assert best.tolist() == [1, 1, 3, 3]
    assert worst.tolist() == [2, 2, 4, 4]
    best, worst = rank_intervals(np.array([10.0, 0.0, -10.0]), np.array([20.0, 30.0, 5.0]))
    assert best.tolist() == [1, 1, 2] and worst.tolist() == [2, 3, 3]


def test_arena_table_from_battle_records():
    table = simulate_battles(TRUE[:4], 3000, tie_rate=0.2, seed=8, names=["alpha", "beta", "gamma", "delta"])
    verdicts = ["a", "b", "tie"]
    records = [
        Battle(table.models[a], table.models[b], verdicts[o])
        for a, b, o in zip(table.a, table.b, table.outcome, strict=True)
    ]
    board = arena_table(records, rounds=200, seed=1)
    assert [row.model for row in board.rows] == ["alpha", "beta", "gamma", "delta"]
    assert [row.rank for row in board.rows] == [1, 2, 3, 4]
    for row in board.rows:
        assert row.lower < row.rating < row.upper
        assert row.wins + row.losses + row.ties == row.battles
        assert row.rank_best <= row.rank <= row.rank_worst
    assert sum(row.battles for row in board.rows) == 2 * 3000
    assert sum(row.wins for row in board.rows) == int(np.sum(table.outcome != 2))
    again = arena_table(records, rounds=200, seed=1)
    other = arena_table(records, rounds=200, seed=2)
    assert again.as_dicts() == board.as_dicts()
    assert other.as_dicts() != board.as_dicts()
    sand = arena_table(records, intervals="sandwich")
    assert sand.rows[0].model == "alpha" and sand.rounds == 0


def test_bootstrap_matches_fastchat_style_battle_resampling():
    # Resampling cells by a multinomial is resampling battles: compare with a literal battle bootstrap.
    table = simulate_battles(TRUE[:4], 2000, tie_rate=0.3, seed=9)
    fit = fit_bradley_terry(table)
    ours = bootstrap_intervals(fit, rounds=300, seed=0).se
    rng = np.random.default_rng(123)
    literal = []
    for _ in range(300):
        pick = rng.integers(0, len(table), len(table))
        literal.append(fit_bradley_terry(table.subset(pick)).ratings)
    assert np.allclose(ours, np.std(literal, axis=0, ddof=1), rtol=0.2)


def test_style_control_in_the_table():
    table, _, _ = _styled_battles(20000, seed=6, effect=1.5)
    board = arena_table(table, style_control=True, intervals="sandwich")
    assert [e.feature for e in board.style] == ["tokens", "headers", "lists", "bold"]
    tokens = board.style[0]
    assert tokens.lower > 0 and tokens.points == pytest.approx(tokens.coefficient * POINTS)
    assert board.rows[0].model == "m0"


def test_reference_anchor_intervals_are_relative_to_the_reference():
    fit = fit_bradley_terry(simulate_battles(TRUE, 3000, seed=12), scale=EloScale(anchor=1114.0, reference="model-002"))
    sand = sandwich_intervals(fit)
    assert fit.rating("model-002") == pytest.approx(1114.0, abs=1e-9)
    assert sand.se[2] == pytest.approx(0.0, abs=1e-9) and np.all(np.delete(sand.se, 2) > 5)
    boot = bootstrap_intervals(fit, rounds=100)
    assert boot.lower[2] == pytest.approx(1114.0) and boot.upper[2] == pytest.approx(1114.0)


def test_bootstrap_with_few_battles_reports_dropped_resamples():
    # 40 battles: some resamples leave the strong model unbeaten, where no finite MLE exists.
    fit = fit_bradley_terry(simulate_battles([1300.0, 1000.0, 950.0], 40, seed=2))
    boot = bootstrap_intervals(fit, rounds=300, seed=0)
    assert boot.degenerate > 0 and boot.rounds + boot.degenerate == 300
    assert boot.samples is not None and boot.samples.shape == (boot.rounds, 3)


# ---- bad input ----------------------------------------------------------------------------------


def test_unknown_winner_names_the_battle():
    with pytest.raises(ValueError, match=r"battle 1: winner 'draw' is not one of a, b, tie, both_bad"):
        BattleTable.from_battles([Battle("x", "y", "a"), Battle("x", "y", "draw")])
    with pytest.raises(ValueError, match=r"battle 2: winner None"):
        BattleTable.from_battles([Battle("x", "y", "a"), Battle("x", "y", "b"), Battle("x", "y", None)])  # type: ignore[arg-type]


def test_model_without_battles_self_battles_and_empty_input():
    with pytest.raises(ValueError, match=r"model 'z' has no battles"):
        BattleTable.from_battles([Battle("x", "y", "a"), Battle("y", "x", "a")], models=["x", "y", "z"])
    with pytest.raises(ValueError, match=r"battle 0: model_b 'w' is not among the listed models"):
        BattleTable.from_battles([Battle("x", "w", "a")], models=["x", "y"])
    with pytest.raises(ValueError, match=r"battle 1: model 'x' battles itself"):
        BattleTable.from_battles([Battle("x", "y", "a"), Battle("x", "x", "tie")])
    with pytest.raises(ValueError, match="no battles"):
        BattleTable.from_battles([])


def test_disconnected_comparisons_are_not_identifiable():
    battles = [Battle("a1", "a2", "a"), Battle("a2", "a1", "a"), Battle("b1", "b2", "tie"), Battle("b2", "b1", "a")]
    with pytest.raises(NotIdentifiable, match=r"2 groups that never met \(\['a1', 'a2'\]; \['b1', 'b2'\]\)"):
        fit_bradley_terry(BattleTable.from_battles(battles))


def test_unbeaten_model_has_no_finite_rating():
    battles = [Battle("x", "y", "a"), Battle("y", "x", "a"), Battle("top", "x", "a"), Battle("y", "top", "b")]
    with pytest.raises(NotIdentifiable, match=r"models \['top'\] won or tied every battle"):
        fit_bradley_terry(BattleTable.from_battles(battles))
    # one tie against it is enough to make the ratings finite
    fit = fit_bradley_terry(BattleTable.from_battles([*battles, Battle("x", "top", "tie")]))
    assert fit.rating("top") == max(fit.ratings)


def test_style_control_input_errors():
    plain = [Battle("x", "y", "a"), Battle("y", "x", "a")]
    with pytest.raises(ValueError, match="style control needs style features"):
        fit_style_controlled(BattleTable.from_battles(plain))
    same = StyleFeatures(tokens=100, headers=1)
    styled = [Battle("x", "y", "a", same, same), Battle("y", "x", "a", same, StyleFeatures(tokens=50))]
    with pytest.raises(ValueError, match="'lists' has the same normalised difference in every battle"):
        fit_style_controlled(BattleTable.from_battles(styled))
    with pytest.raises(ValueError, match=r"battle 0: style_a.tokens = -1.0 is not a count"):
        BattleTable.from_columns(["x"], ["y"], ["a"], style_a=np.array([[-1, 0, 0, 0]]), style_b=np.zeros((1, 4)))


def test_option_errors():
    fit = fit_bradley_terry(simulate_battles(TRUE[:3], 300, seed=1))
    with pytest.raises(ValueError, match="level 95 must lie strictly between 0 and 1"):
        sandwich_intervals(fit, level=95)
    with pytest.raises(ValueError, match="anchor reference model 'gpt' is not among the rated models"):
        fit_bradley_terry(simulate_battles(TRUE[:3], 300, seed=1), scale=EloScale(reference="gpt"))
    with pytest.raises(ValueError, match="intervals 'wald'"):
        arena_table(simulate_battles(TRUE[:3], 300, seed=1), intervals="wald")  # type: ignore[arg-type]
