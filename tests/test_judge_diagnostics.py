"""Judge bias diagnostics and agreement, verified on judges with scripted biases.

Each simulated judge injects one known parameter: it picks the first position with probability p regardless of
content, prefers the longer answer with a known logistic slope, or agrees with the gold label with probability q.
The 95% interval of the matching diagnostic must hold the injected value in 95% of seeded simulations.

How that is checked: an interval with exactly 95% coverage holds the true value in >= 95 of 100 simulations only
about 60% of the time (Binomial(100, 0.95) >= 95), so "95 of 100" cannot tell a correct interval from a broken one.
Each check therefore runs 1,000 seeded simulations (seeds 0-999; the first 100 are the issue's 100, and their count
is in every failure message) and requires >= 925 hits: a 95% interval fails that with probability ~0.03%, a 90% one
passes with ~0.4%. The designs (sizes, parameter values, seeds) were fixed before the first run, not tuned to pass.

One test drives a judge over HTTP: a local fake OpenAI-compatible server answers real verdict prompts sent by
tianping's own OpenAI backend.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections import Counter

import numpy as np
import pytest

from fake_openai import FakeOpenAIServer, _unit, last_user_text
from tianping.core.types import GenerationParams, Message, Request
from tianping.judging.agreement import (
    AUTOJ_SCENARIO_GROUPS,
    LLMBAR_SUBSETS,
    OUTPUT_1,
    OUTPUT_2,
    GoldPair,
    agreement,
    cohen_kappa,
    label_from_winner,
    load_autoj_pairwise,
    load_llmbar,
)
from tianping.judging.diagnostics import (
    FIRST,
    SECOND,
    TIE,
    JudgeCall,
    PairJudgement,
    combine_orders,
    diagnose,
    final_verdicts,
    length_feature,
    position_consistency,
    position_preference,
    self_preference,
    verbosity_preference,
)
from tianping.judging.logit import SeparationError, fit_logit
from tianping.models.openai_api import OpenAIChatBackend

SEEDS = range(1000)
MIN_HITS = 925


def covers(low: float | None, high: float | None, value: float) -> bool:
    return low is not None and high is not None and low <= value <= high


def assert_coverage(name: str, hits: list[bool]) -> None:
    assert len(hits) == len(SEEDS)
    first_100 = sum(hits[:100])
    assert sum(hits) >= MIN_HITS, (
        f"{name}: inside its 95% interval in {sum(hits)}/{len(hits)} simulations ({first_100}/100 of seeds 0-99)"
    )


# -- simulated judges (plain functions) --------------------------------------------------------------------------


def position_biased_judge(rng: np.random.Generator, n_pairs: int, p: float) -> list[PairJudgement]:
    """Each pair has a better answer; each call says "first" with probability p, else names the better one."""
    pairs = []
    for i in range(n_pairs):
        better_first = rng.random() < 0.5

        def call(better_shown_first: bool) -> str:
            if rng.random() < p:
                return FIRST
            return FIRST if better_shown_first else SECOND

        pairs.append(
            PairJudgement(
                item_id=f"q{i}",
                first_model="m1",
                second_model="m2",
                verdict=call(better_first),
                swapped_verdict=call(not better_first),
            )
        )
    return pairs


def verbosity_biased_judge(rng: np.random.Generator, n_pairs: int, alpha: float, beta: float) -> list[PairJudgement]:
    """Each call: P(first-shown wins) = sigmoid(alpha + beta * (L1 - L2) / (L1 + L2)); no ties."""
    pairs = []
    for i in range(n_pairs):
        la, lb = (int(x) for x in rng.lognormal(mean=6.0, sigma=0.8, size=2))
        d = length_feature(la, lb)
        assert d is not None

        def call(x: float) -> str:
            return FIRST if rng.random() < 1 / (1 + math.exp(-(alpha + beta * x))) else SECOND

        pairs.append(
            PairJudgement(
                item_id=f"q{i}",
                first_model="m1",
                second_model="m2",
                verdict=call(d),
                swapped_verdict=call(-d),
                first_length=la,
                second_length=lb,
            )
        )
    return pairs


def agreeing_judge(rng: np.random.Generator, gold: list[GoldPair], q: float) -> dict[str, str]:
    """Says the gold label with probability q, else one of the other labels the data use, uniformly."""
    labels = sorted({g.label for g in gold})
    out = {}
    for g in gold:
        if rng.random() < q:
            out[g.item_id] = g.label
        else:
            others = [label for label in labels if label != g.label]
            out[g.item_id] = others[int(rng.integers(len(others)))]
    return out


# -- coverage of the injected parameters -------------------------------------------------------------------------


def test_position_bias_recovered_in_95_percent_of_simulations() -> None:
    p = 0.3
    net, rate, consistency = [], [], []
    for seed in SEEDS:
        pairs = position_biased_judge(np.random.default_rng(seed), n_pairs=300, p=p)
        pref = position_preference(pairs)
        net.append(covers(pref.net_bias.ci_low, pref.net_bias.ci_high, p))
        # a content judge shows the better answer first in one of the two orders: P(first wins) = (1 + p) / 2
        rate.append(covers(pref.first_win_rate.ci_low, pref.first_win_rate.ci_high, (1 + p) / 2))
        # the swap survives unless the bias strikes in the order that shows the better answer second
        cons = position_consistency(pairs)
        consistency.append(covers(cons.ci_low, cons.ci_high, 1 - p))
    assert_coverage(f"net position bias {p}", net)
    assert_coverage(f"first-position win rate {(1 + p) / 2}", rate)
    assert_coverage(f"position consistency {1 - p}", consistency)


def test_length_slope_recovered_in_95_percent_of_simulations() -> None:
    alpha, beta = 0.2, 2.0
    slope, intercept = [], []
    for seed in SEEDS:
        pairs = verbosity_biased_judge(np.random.default_rng(seed), n_pairs=300, alpha=alpha, beta=beta)
        fit = verbosity_preference(pairs)
        assert fit is not None and fit.covariance == "cluster-robust" and fit.n == 600
        slope.append(covers(*fit.slope_ci, beta))
        intercept.append(covers(*fit.intercept_ci, alpha))
    assert_coverage(f"length slope {beta}", slope)
    assert_coverage(f"position intercept {alpha}", intercept)


def test_agreement_recovered_in_95_percent_of_simulations(data_dir) -> None:
    q = 0.75
    for name, gold in (
        ("llmbar", load_llmbar(data_dir / "llmbar")),
        ("autoj", load_autoj_pairwise(data_dir / "autoj-pairwise")),
    ):
        hits = []
        for seed in SEEDS:
            report = agreement(agreeing_judge(np.random.default_rng(seed), gold, q), gold)
            hits.append(covers(report.accuracy.ci_low, report.accuracy.ci_high, q))
        assert_coverage(f"{name}: agreement {q}", hits)


def test_no_bias_gives_null_diagnostics() -> None:
    # p = 0: a pure content judge is perfectly consistent and shows no net position preference
    pairs = position_biased_judge(np.random.default_rng(7), n_pairs=200, p=0.0)
    report = diagnose(pairs)
    assert report.consistency.value == 1.0
    assert report.position.net_bias.value == 0.0
    assert report.position.first_win_rate.value == 0.5
    assert report.n_swapped == 200
    assert json.loads(json.dumps(report.to_dict()))["consistency"]["value"] == 1.0  # report-ready
    # beta = 0: the slope's interval holds zero
    fit = verbosity_preference(verbosity_biased_judge(np.random.default_rng(7), 400, alpha=0.0, beta=0.0))
    assert fit is not None and fit.slope_ci[0] < 0 < fit.slope_ci[1]


# -- exact small cases -------------------------------------------------------------------------------------------


def pj(item: str, verdict: str, swapped: str | None, **kw) -> PairJudgement:
    return PairJudgement(
        item_id=item, first_model="x", second_model="y", verdict=verdict, swapped_verdict=swapped, **kw
    )


def test_consistency_and_final_verdicts_by_hand() -> None:
    pairs = [
        pj("a", FIRST, SECOND),  # x wins both orders: consistent
        pj("b", FIRST, FIRST),  # the first position wins both: inconsistent -> tie
        pj("c", TIE, TIE),  # tie both: consistent
        pj("d", SECOND, TIE),  # y, then tie: inconsistent
        pj("e", SECOND, None),  # one order only
    ]
    consistency = position_consistency(pairs)
    assert (consistency.value, consistency.n) == (0.5, 4)
    finals = {f.item_id: (f.winner, f.consistent) for f in final_verdicts(pairs)}
    assert finals == {
        "a": ("x", True),
        "b": (None, False),
        "c": (None, True),
        "d": (None, False),
        "e": ("y", None),
    }
    pref = position_preference(pairs)
    assert (pref.first_first, pref.second_second, pref.ties) == (1, 0, 3)
    assert pref.net_bias.n == 2 and pref.net_bias.value == 0.5
    # decisive verdicts: a: F,S  b: F,F  d: S  e: S -> 3 of 6 shown-first wins
    assert pref.first_win_rate.n == 6 and pref.first_win_rate.value == 0.5


def test_combine_orders_pairs_swapped_calls() -> None:
    calls = [
        JudgeCall("q1", "x", "y", FIRST, 10, 20),
        JudgeCall("q2", "x", "y", SECOND),
        JudgeCall("q1", "y", "x", SECOND, 20, 10),
    ]
    pairs = combine_orders(calls)
    assert [(p.item_id, p.verdict, p.swapped_verdict) for p in pairs] == [("q1", FIRST, SECOND), ("q2", SECOND, None)]
    assert pairs[0].consistent() is True and pairs[0].first_length == 10
    with pytest.raises(ValueError, match="judged twice"):
        combine_orders([JudgeCall("q", "x", "y", FIRST), JudgeCall("q", "x", "y", SECOND)])


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match=r"item 'q9': verdict must be one of"):
        PairJudgement("q9", "x", "y", verdict="A")
    with pytest.raises(ValueError, match="first_length must be >= 0"):
        PairJudgement("q9", "x", "y", verdict=FIRST, first_length=-1)
    with pytest.raises(SeparationError):
        fit_logit(np.column_stack([np.ones(20), np.arange(20.0)]), [0] * 10 + [1] * 10, names=("a", "b"))


def test_logit_fit_matches_sklearn_unpenalised() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 2))
    y = (rng.random(500) < 1 / (1 + np.exp(-(0.3 + 1.2 * x[:, 0] - 0.7 * x[:, 1])))).astype(float)
    ours = fit_logit(np.column_stack([np.ones(500), x]), y, names=("c", "a", "b"))
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(x, y)
    np.testing.assert_allclose(ours.coef, [ref.intercept_[0], *ref.coef_[0]], rtol=1e-6, atol=1e-8)
    # the observed-information covariance of a logit is (X' W X)^-1
    mu = ref.predict_proba(x)[:, 1]
    design = np.column_stack([np.ones(500), x])
    np.testing.assert_allclose(ours.cov, np.linalg.inv((design * (mu * (1 - mu))[:, None]).T @ design), rtol=1e-5)


def test_self_preference_with_and_without_gold() -> None:
    rng = np.random.default_rng(11)
    pairs, gold = [], {}
    for i in range(400):
        own_first = i % 2 == 0
        own, other = "qwen-7b", "llama-8b"
        first, second = (own, other) if own_first else (other, own)
        truth = own if rng.random() < 0.5 else other
        gold[f"q{i}"] = truth
        # the judge sees the truth, but hands a loss of its own family a win 40% of the time (both orders alike)
        said = own if truth == other and rng.random() < 0.4 else truth
        verdict = FIRST if said == first else SECOND
        swapped = SECOND if said == first else FIRST
        pairs.append(
            PairJudgement(
                f"q{i}", first, second, verdict, swapped, judge_family="qwen",
                first_family="qwen" if own_first else "llama", second_family="llama" if own_first else "qwen",
            )
        )  # fmt: skip
    (result,) = self_preference(pairs, gold)
    assert result.judge_family == "qwen"
    own_rate, gold_own, excess = result.own_win_rate, result.gold_own_win_rate, result.excess
    assert own_rate.value is not None and own_rate.value > 0.6  # 0.5 + 0.5 * 0.4 in expectation
    assert gold_own is not None and gold_own.value is not None and abs(gold_own.value - 0.5) < 0.1
    assert excess is not None and covers(excess.ci_low, excess.ci_high, 0.5 * 0.4)
    assert excess.ci_low is not None and excess.ci_low > 0
    # pairs without a mixed family say nothing about self-preference
    same = [PairJudgement("s", "a", "b", FIRST, judge_family="qwen", first_family="qwen", second_family="qwen")]
    assert self_preference(same) == []


# -- kappa and agreement -----------------------------------------------------------------------------------------


def test_kappa_equals_sklearn() -> None:
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(5)
    labels = [FIRST, SECOND, TIE]
    for trial in range(20):
        n = int(rng.integers(5, 400))
        a = [labels[int(i)] for i in rng.integers(0, 3 if trial % 2 else 2, size=n)]
        b = [x if rng.random() < 0.6 else labels[int(rng.integers(0, 3))] for x in a]
        ours = cohen_kappa(a, b)
        assert ours.value is not None
        assert math.isclose(ours.value, cohen_kappa_score(a, b), rel_tol=1e-12, abs_tol=1e-12)


def test_kappa_interval_covers_population_kappa() -> None:
    # The Fleiss-Cohen-Everitt standard error: 2x2 table with known cell probabilities -> known kappa.
    cells = {(FIRST, FIRST): 0.4, (FIRST, SECOND): 0.1, (SECOND, FIRST): 0.15, (SECOND, SECOND): 0.35}
    rows = {FIRST: 0.5, SECOND: 0.5}
    cols = {FIRST: 0.55, SECOND: 0.45}
    p_e = sum(rows[k] * cols[k] for k in rows)
    kappa = (0.75 - p_e) / (1 - p_e)
    keys = list(cells)
    hits = []
    for seed in SEEDS:
        draws = np.random.default_rng(seed).choice(len(keys), size=300, p=list(cells.values()))
        result = cohen_kappa([keys[d][0] for d in draws], [keys[d][1] for d in draws])
        hits.append(covers(result.ci_low, result.ci_high, kappa))
    assert_coverage(f"Cohen's kappa {kappa:.4f}", hits)


def test_llmbar_loader_on_the_real_files(data_dir) -> None:
    gold = load_llmbar(data_dir / "llmbar")
    assert len(gold) == 419
    counts = Counter(g.subset for g in gold)
    assert dict(counts) == dict(zip(LLMBAR_SUBSETS, (100, 134, 92, 47, 46), strict=True))
    assert Counter(g.label for g in gold) == {FIRST: 206, SECOND: 213}
    by_subset = Counter((g.subset, g.label) for g in gold)
    assert by_subset[("Natural", FIRST)] == 42 and by_subset[("Adversarial/Neighbor", FIRST)] == 75
    assert gold[0].item_id == "Natural/0" and gold[0].gold_winner in (OUTPUT_1, OUTPUT_2)


def test_autoj_loader_on_the_real_file(data_dir) -> None:
    gold = load_autoj_pairwise(data_dir / "autoj-pairwise")
    assert len(gold) == 1392
    assert Counter(g.label for g in gold) == {FIRST: 520, SECOND: 499, TIE: 373}
    scenarios = Counter(g.subset for g in gold)
    assert len(scenarios) == 58 and set(scenarios.values()) == {24}
    # every scenario belongs to one of Auto-J's 8 reporting groups
    assert all(g.group is not None for g in gold)
    assert len({g.group for g in gold}) == len(AUTOJ_SCENARIO_GROUPS) == 8
    # the loader keeps answers as they are: upstream has one empty response, which a judge must cope with
    assert [g.item_id for g in gold if not (g.output_1 and g.output_2)] == ["autoj/568"]
    assert gold[568].output_1.startswith("Sure, here's the code")


def test_agreement_ties_and_missing(data_dir) -> None:
    gold = load_autoj_pairwise(data_dir / "autoj-pairwise")
    # a judge that always says the gold label, except "tie" on every decisive item of one scenario
    scenario = gold[0].subset
    preds = {g.item_id: (TIE if g.subset == scenario and g.label != TIE else g.label) for g in gold}
    wrong = sum(1 for g in gold if g.subset == scenario and g.label != TIE)
    report = agreement(preds, gold)
    assert report.accuracy.value == pytest.approx((1392 - wrong) / 1392)
    assert report.accuracy_decisive.n == 1019 and report.accuracy_decisive.value == pytest.approx((1019 - wrong) / 1019)
    assert report.per_subset[scenario].value == pytest.approx((24 - wrong) / 24)
    half = agreement(preds, gold, tie_credit=0.5)
    assert half.accuracy.value == pytest.approx((1392 - wrong / 2) / 1392)
    # a missing verdict is wrong, and counted
    del preds[gold[1].item_id]
    assert agreement(preds, gold).missing == 1
    with pytest.raises(ValueError, match="unknown item"):
        agreement({"nope": FIRST}, gold)


def test_loader_errors_name_the_file_and_row(tmp_path) -> None:
    path = tmp_path / "testdata_pairwise.jsonl"
    path.write_text('{"scenario": "x", "label": 0, "prompt": "p", "response 1": "a", "response 2": "b"}\n'
                    '{"scenario": "x", "label": 3, "prompt": "p", "response 1": "a", "response 2": "b"}\n')  # fmt: skip
    with pytest.raises(ValueError, match=r"testdata_pairwise.jsonl: line 2: field 'label' must be 0, 1 or 2"):
        load_autoj_pairwise(path)
    (tmp_path / "Natural").mkdir()
    (tmp_path / "Natural" / "dataset.json").write_text('[{"input": "i", "output_1": "a", "label": 1}]')
    with pytest.raises(ValueError, match=r"Natural/dataset.json: item 0: field 'output_2' must be a string"):
        load_llmbar(tmp_path)


# -- a judge over HTTP -------------------------------------------------------------------------------------------

PROMPT = (
    "Which answer follows the instruction better? Reply [[A]] or [[B]].\n\n"
    "[Instruction]\n{instruction}\n\n[Answer A]\n{a}\n[End of Answer A]\n\n[Answer B]\n{b}\n[End of Answer B]"
)
_ANSWER_RE = re.compile(r"\[Answer ([AB])\]\n(.*?)\n\[End of Answer \1\]", re.S)


def scripted_judge(p_first: float, seed: int):
    """The fake server's answer_fn: position A with probability p_first (hashed from the prompt), else the answer
    that follows the instruction, i.e. the one the item's script marked as correct."""

    def answer(body: dict) -> str:
        text = last_user_text(body)
        found = dict(_ANSWER_RE.findall(text))
        if _unit(seed, "position", text) < p_first:
            return "Answer A is better. [[A]]"
        return "[[A]]" if found["A"].endswith("(follows)") else "The second one. [[B]]"

    return answer


def test_judge_over_http_recovers_position_bias() -> None:
    p, n = 0.35, 240
    items = [(f"Write item {i}.", f"Answer {i} (follows)", f"Answer {i} (ignores)") for i in range(n)]

    async def run() -> list[JudgeCall]:
        async with FakeOpenAIServer(answer_fn=scripted_judge(p, seed=1)) as server:
            backend = OpenAIChatBackend(model="judge", base_url=server.base_url, api_key_env="TIANPING_NO_KEY")
            try:

                async def judge(i: int, swap: bool) -> JudgeCall:
                    instruction, good, bad = items[i]
                    # model names follow the meta-eval convention: output_1 is the answer that follows
                    a, b, first, second = (bad, good, OUTPUT_2, OUTPUT_1) if swap else (good, bad, OUTPUT_1, OUTPUT_2)
                    request = Request(
                        model="openai/judge",
                        messages=(Message("user", PROMPT.format(instruction=instruction, a=a, b=b)),),
                        params=GenerationParams(temperature=0.0, max_tokens=16),
                    )
                    text = (await backend.generate(request)).first.text
                    verdict = {"A": FIRST, "B": SECOND}[re.findall(r"\[\[([AB])\]\]", text)[-1]]
                    return JudgeCall(f"item{i}", first, second, verdict, len(a), len(b))

                calls = await asyncio.gather(*(judge(i, swap) for i in range(n) for swap in (False, True)))
                assert server.requests_total == 2 * n
                return list(calls)
            finally:
                await backend.aclose()

    pairs = combine_orders(asyncio.run(run()))
    assert len(pairs) == n and all(pair.swapped_verdict is not None for pair in pairs)
    report = diagnose(pairs)
    net = report.position.net_bias
    assert covers(net.ci_low, net.ci_high, p), net
    assert report.position.second_second == 0
    assert covers(report.consistency.ci_low, report.consistency.ci_high, 1 - p)
    # on this content the judge is always right unless the position decides: inconsistent pairs become ties
    finals = final_verdicts(pairs)
    assert {label_from_winner(f.winner) for f in finals if f.consistent} == {FIRST}
    assert all(f.winner is None for f in finals if not f.consistent)
