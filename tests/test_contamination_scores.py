"""The contamination scores and tests, each on hand-built cases or against an outside implementation."""

from __future__ import annotations

import math
import string
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tianping.contamination import scores as sc
from tianping.contamination.blackbox import rouge_l, split_item, units
from tianping.contamination.bloom import BloomError, BloomFilter
from tianping.contamination.items import Item, join_parts, limit_per_group
from tianping.contamination.ngram import BenchmarkIndex, choose_unit, ngrams, stream_ngrams, word_ngrams
from tianping.contamination.perturb import perturb_numbers, shuffle_options
from tianping.contamination.stats import auc, mann_whitney, permutation_test
from tianping.core import Sample

# --- white-box scores -------------------------------------------------------------------------------------


def test_min_k_averages_the_lowest_fraction_of_token_logprobs() -> None:
    lp = np.log([0.9, 0.5, 0.01, 0.2, 0.8, 0.001, 0.7, 0.6, 0.3, 0.4])
    # 20% of 10 tokens: the two least likely, 0.001 and 0.01
    assert sc.min_k_score(lp, 0.2) == pytest.approx((math.log(0.001) + math.log(0.01)) / 2)
    assert sc.min_k_score(lp, 1.0) == pytest.approx(lp.mean())
    # fewer tokens than 1/k: still the single least likely one (floor, at least one)
    assert sc.min_k_score(np.log([0.5, 0.25, 0.9]), 0.2) == pytest.approx(math.log(0.25))
    with pytest.raises(ValueError, match="fraction"):
        sc.min_k_score(lp, 0.0)


def test_min_k_plus_plus_standardises_each_token_before_taking_the_lowest() -> None:
    lp = np.array([-1.0, -2.0, -0.5, -4.0, -3.0])
    mu = np.array([-1.5, -1.0, -0.5, -2.0, -3.5])
    sd = np.array([0.5, 1.0, 0.0, 1.0, 0.25])
    # z = (lp - mu) / sd = [1, -1, 0 (certain position), -2, 2]; 40% of 5 = the two lowest: -2 and -1
    assert sc.min_k_plus_plus_score(lp, mu, sd, 0.4) == pytest.approx(-1.5)
    with pytest.raises(ValueError, match="differ in length"):
        sc.min_k_plus_plus_score(lp, mu[:4], sd, 0.4)


def test_loss_perplexity_and_zlib_ratio() -> None:
    lp = np.log([0.5, 0.25])
    assert sc.loss(lp) == pytest.approx(-(math.log(0.5) + math.log(0.25)) / 2)
    assert sc.perplexity(lp) == pytest.approx(1 / math.sqrt(0.5 * 0.25))
    text = "Question: 2 + 2 = 4. " * 5
    size = len(zlib.compress(text.encode("utf-8")))
    assert sc.zlib_size(text) == size
    assert sc.zlib_score(lp, text) == pytest.approx(-sc.loss(lp) / size)
    # a repetitive text compresses well: the same loss then looks less suspicious than on a varied text
    varied = "The quick brown fox jumps over a lazy dog; 7 wizards quickly box hemp jugs."
    assert sc.zlib_score(lp, text) < sc.zlib_score(lp, varied)


def test_reference_ratio_per_token_or_per_byte() -> None:
    mine, ref = np.log([0.5, 0.5, 0.5]), np.log([0.25, 0.25, 0.25])
    assert sc.reference_ratio_score(mine, ref) == pytest.approx(math.log(2))
    # different tokenizers: the log-likelihood ratio of the whole text per UTF-8 byte
    other = np.log([0.1, 0.1])
    assert sc.reference_ratio_score(mine, other, "abcd") == pytest.approx((3 * math.log(0.5) - 2 * math.log(0.1)) / 4)
    with pytest.raises(ValueError, match="per byte"):
        sc.reference_ratio_score(mine, other)
    assert sc.reference_min_k_score(mine, np.log([0.5, 0.1, 0.9]), 0.34) == pytest.approx(math.log(0.5 / 0.9))


# --- dataset-level tests ----------------------------------------------------------------------------------


def test_auc_and_mann_whitney_agree_with_sklearn_and_the_normal_approximation() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    pos = np.round(rng.normal(0.4, 1, 140), 1)  # rounded: ties between the groups must count one half
    neg = np.round(rng.normal(0.0, 1, 600), 1)
    labels = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    assert auc(pos, neg) == pytest.approx(roc_auc_score(labels, np.r_[pos, neg]))
    result = mann_whitney(pos, neg)
    assert result.auc == pytest.approx(auc(pos, neg))
    # the one-sided normal approximation, by hand (no tie correction: it moves p only in the third digit here)
    n1, n2 = len(pos), len(neg)
    z = (result.auc * n1 * n2 - n1 * n2 / 2) / math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
    assert result.p_value == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)), rel=0.05)
    assert result.p_value < 1e-3
    assert mann_whitney(neg, pos).p_value > 0.99  # one-sided: lower scores are no evidence
    # unscored items (None, NaN) take no part
    assert mann_whitney([*pos, None, float("nan")], neg).n_candidate == n1


def test_permutation_test_on_separated_and_identical_groups() -> None:
    separated = permutation_test([5.0, 6.0, 7.0, 8.0], [1.0, 2.0, 3.0, 4.0], resamples=20_000, seed=1)
    # only 1 of the C(8,4) = 70 relabellings is as extreme: p = 1/70
    assert separated.p_value == pytest.approx(1 / 70, abs=0.004)
    same = permutation_test([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], resamples=2000)
    assert same.p_value > 0.4
    with pytest.raises(ValueError, match="both sides"):
        permutation_test([], [1.0])


# --- n-grams ----------------------------------------------------------------------------------------------


def _lmeval_ngrams(text: str, n: int = 13) -> set[str]:
    pytest.importorskip("lm_eval", reason="lm-eval is not installed (.ci/run installs it): nothing to compare with")
    from lm_eval.decontamination.janitor import Janitor
    from lm_eval.decontamination.janitor import word_ngrams as lmeval_word_ngrams

    janitor = Janitor(ngram_n=n, delete_chars=string.punctuation)
    return set(lmeval_word_ngrams(janitor.normalize_string(text), n))


TEXTS = [
    "Question: Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?\nNatalia sold 48/2 = 24 clips in May.\n"
    "Natalia sold 48+24 = 72 clips altogether in April and May.\nThe answer is 72.",
    "  ,, I'm a VERY !dirty,, ,,  dirty boy. Clean me daddy. \n\nhe he he hehe heh.  lastword  " * 3,
    "Ünïcode Çase stays: ÀB cd EF — “quotes” and 3.14, tabs\tand\nnewlines; " * 4,
]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("n", [13, 3])
def test_word_ngrams_are_lm_evals(text: str, n: int) -> None:
    assert set(word_ngrams(text, n)) == _lmeval_ngrams(text, n)


def test_word_ngrams_of_real_items_are_lm_evals(data_dir: Path) -> None:
    import json

    lines = (data_dir / "gsm8k" / "test.jsonl").read_text("utf-8").splitlines()[:50]
    for line in lines:
        row = json.loads(line)
        text = row["question"] + "\n" + row["answer"]
        assert set(word_ngrams(text)) == _lmeval_ngrams(text)


def test_streamed_blocks_give_the_whole_texts_ngrams() -> None:
    rng = np.random.default_rng(0)
    for text in TEXTS + ["春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。" * 3]:
        for unit in ("words", "chars"):
            cuts = sorted(rng.choice(len(text), size=6, replace=False))
            blocks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
            assert list(stream_ngrams(blocks, unit, 5)) == ngrams(text, unit, 5)


def test_unit_choice_and_character_ngrams() -> None:
    assert choose_unit(["题目：在农业生产中被当作极其重要的劳动对象 A. 土地"]) == "chars"
    assert choose_unit(["Question: how many clips?"]) == "words"
    assert choose_unit(["anything"], "chars") == "chars"
    # whitespace and punctuation are dropped before characters are counted
    assert ngrams("春眠，不觉 晓。", "chars", 4) == ["春眠不觉", "眠不觉晓"]


def _item(text: str, group: str = "benchmark", item_id: str = "0") -> Item:
    return Item("b", item_id, text, text, "", group)


def test_benchmark_index_flags_an_item_as_lm_eval_would(tmp_path: Path) -> None:
    items = [_item(t, item_id=str(i)) for i, t in enumerate(TEXTS)] + [_item("too short to hold one", item_id="s")]
    corpus = tmp_path / "corpus.txt"
    # the first item, reworded by case and punctuation only, inside other text: lm-eval's normalisation matches it
    corpus.write_text("Some preface text. " + TEXTS[0].upper().replace(",", ";") + " And an unrelated ending.")
    index = BenchmarkIndex(items, "words")
    stats = index.scan([str(corpus)])
    results = {r.item.id: r for r in index.results()}
    assert results["0"].scores["ngram"] == 1.0 and results["0"].values["flagged"]
    assert not results["1"].values["flagged"] and results["1"].scores["ngram"] == 0.0
    assert results["s"].scores["ngram"] is None  # fewer than 13 words: nothing to compare
    expected_hit = bool(_lmeval_ngrams(TEXTS[0]) & _lmeval_ngrams(corpus.read_text()))
    assert results["0"].values["flagged"] == expected_hit
    assert stats.documents == 1 and stats.ngrams == len(word_ngrams(corpus.read_text()))


# --- Bloom filter -----------------------------------------------------------------------------------------


def test_bloom_filter_has_no_false_negatives_and_its_stated_false_positive_rate(tmp_path: Path) -> None:
    bloom = BloomFilter(20_000, 1e-3, meta={"unit": "words", "n": 13})
    added = [f"gram {i}" for i in range(20_000)]
    bloom.add_many(added)
    assert bloom.contains_many(added).all()
    others = [f"other {i}" for i in range(50_000)]
    rate = bloom.contains_many(others).mean()
    assert rate < 3e-3 and bloom.expected_error() == pytest.approx(1e-3, rel=0.1)
    path = tmp_path / "index.bloom"
    bloom.save(path)
    again = BloomFilter.load(path)
    assert again.meta == {"unit": "words", "n": 13} and again.added == 20_000
    assert again.contains_many(added).all() and (again.contains_many(others) == bloom.contains_many(others)).all()
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(BloomError, match="cut short"):
        BloomFilter.load(path)
    (tmp_path / "x.bloom").write_text("not an index\n")
    with pytest.raises(BloomError, match="not an n-gram index"):
        BloomFilter.load(tmp_path / "x.bloom")


# --- items, black-box pieces, perturbations -----------------------------------------------------------------


def test_item_text_joins_question_and_answer_as_the_ladder_was_trained_on() -> None:
    assert join_parts("Question: q", "r\nThe answer is 3.") == "Question: q\nr\nThe answer is 3."
    assert join_parts("题目：q\nA. a\n答案：", "A") == "题目：q\nA. a\n答案：A"
    assert join_parts("Answer: ", "B") == "Answer: B"


def test_limit_per_group_is_seeded_and_keeps_every_group() -> None:
    items = [_item(f"t{i}", "a" if i % 3 else "b", str(i)) for i in range(300)]
    first = limit_per_group(items, 10)
    assert [i.id for i in first] == [i.id for i in limit_per_group(items, 10)]
    assert sum(i.group == "a" for i in first) == 10 and sum(i.group == "b" for i in first) == 10


def test_rouge_l_matches_the_rouge_score_package() -> None:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    pairs = [
        ("the cat sat on the mat", "the cat lay on a mat today"),
        ("Natalia sold 48 clips in April", "natalia sold clips to 48 friends in april"),
        ("nothing in common", "entirely different words"),
    ]
    for cand, ref in pairs:
        assert rouge_l(units(cand), units(ref)) == pytest.approx(scorer.score(ref, cand)["rougeL"].fmeasure)
    assert units("春眠，不觉晓") == ["春", "眠", "不", "觉", "晓"]


def test_split_item_cuts_near_the_middle() -> None:
    first, second = split_item("one two three four five six") or ("", "")
    assert first + second == "one two three four five six" and first == "one two three"
    assert split_item("题目：春眠不觉晓") == ("题目：春", "眠不觉晓")
    assert split_item("single") is None


def _gsm(question: str, target: str) -> Sample:
    return Sample("1", {"question": question, "rationale": "r", "answer": target}, target, {"line": 1})


def test_perturbed_numbers_replay_the_calculator_annotations() -> None:
    sample = _gsm(
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
        "How many clips did Natalia sell altogether in April and May?",
        "72",
    )
    raw = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72"
    copy = perturb_numbers(sample, raw, seed=0)
    assert copy is not None
    new = int(copy.sample.fields["question"].split("clips to ")[1].split()[0])
    assert new != 48 and copy.sample.target == str(new + Fraction(new, 2))
    assert "rationale" not in copy.sample.fields and copy.sample.fields["answer"] == copy.sample.target
    # the same seed gives the same copy; a literal that is both a question number and a result is refused
    assert perturb_numbers(sample, raw, seed=0) == copy
    ambiguous = _gsm("She has 4 apples and buys 2 bags of 2.", "8")
    assert perturb_numbers(ambiguous, "<<2*2=4>>4 then <<4+4=8>>8\n#### 8", seed=0) is None
    # annotations that do not reproduce themselves are not replayed
    assert perturb_numbers(sample, "<<48/2=25>>25 <<48+25=72>>\n#### 72", seed=0) is None


def test_shuffled_options_move_the_answer_and_every_field_follows() -> None:
    fields = {"question": "q", "choices": ["w", "x", "y", "z"], "choices_raw": ["w", "x", "y", "z"]}
    fields |= {"A": "w", "B": "x", "C": "y", "D": "z"}
    sample = Sample("s/1", fields, "C")
    for seed in range(30):
        copy = shuffle_options(sample, seed)
        assert copy is not None
        moved = copy.sample
        assert moved.target != "C" and moved.fields[moved.target] == "y"
        assert moved.fields["choices"][ord(moved.target) - ord("A")] == "y"
        assert sorted(moved.fields["choices"]) == ["w", "x", "y", "z"] == sorted(moved.fields["choices_raw"])
    assert shuffle_options(Sample("g", {"question": "q"}, "3"), 0) is None
