"""tp_longctx: the generator's answers follow from its documents, lengths land in their buckets, and the loader
names bad options; scoring of realistic replies is pinned by tests/golden/tp_longctx.json."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.longctx import BUCKETS, approx_tokens, bucket_of, load_tp_longctx, make_items

ITEMS = make_items()


def test_every_answer_is_computed_from_the_facts_found_in_the_document() -> None:
    assert len(ITEMS) == 96 and len({i.id for i in ITEMS}) == 96
    for item in ITEMS:
        for needle in item.needles:
            assert item.document.count(needle) == 1, item.id
        numbers = [[int(x) for x in re.findall(r"\d+", n)] for n in item.needles]
        if item.task == "single":
            assert item.target == str(numbers[0][0])
        elif item.task == "kv":
            key = re.search(r"[a-z]{4}-\d{3}", item.question).group()  # type: ignore[union-attr]
            assert item.document.count(key) == 1 and item.needles[0].endswith(item.target)
        elif item.task == "multi":
            marker = "lighthouse keeper" if item.lang == "en" else "灯塔看守人"
            assert item.document.count(marker) == int(item.target) == len(item.needles)
        else:
            assert int(item.target) == sum(n[0] for n in numbers) and 3 <= len(numbers) <= 5
        if item.task in ("single", "multi", "aggregate"):
            # nothing but the facts carries a digit: filler cannot answer or distract
            digits = re.findall(r"\d+", item.document)
            assert len(digits) == sum(len(n) for n in numbers), item.id


def test_a_single_fact_sits_at_its_depth() -> None:
    for item in ITEMS:
        if item.task == "single":
            at = item.document.index(item.needles[0]) / len(item.document)
            assert abs(at - int(item.depth.rstrip("%")) / 100) < 0.03, (item.id, at)


def test_documents_fill_85_percent_of_their_bucket_and_ids_carry_the_bucket() -> None:
    for item in ITEMS:
        assert bucket_of(item.id) == item.bucket
        ratio = approx_tokens(item.document) / BUCKETS[item.bucket]
        assert 0.83 <= ratio <= 0.87, (item.id, ratio)
    assert bucket_of("mmlu/anatomy/0") is None


def test_on_qwens_tokenizer_every_document_stays_under_its_bucket() -> None:
    tiktoken = pytest.importorskip("tiktoken")
    dashscope = pytest.importorskip("dashscope")
    import base64

    found = list(Path(dashscope.__file__).parent.rglob("qwen.tiktoken"))
    if not found:
        pytest.skip("dashscope ships no qwen.tiktoken here")
    lines = found[0].read_bytes().splitlines()
    ranks = {base64.b64decode(t): int(r) for t, r in (line.split() for line in lines if line.strip())}
    split = (
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"
        r"\s+(?!\S)|\s+"
    )
    enc = tiktoken.Encoding("qwen", pat_str=split, mergeable_ranks=ranks, special_tokens={})
    for item in make_items(per_cell=1):
        ratio = len(enc.encode(item.document)) / BUCKETS[item.bucket]
        assert 0.80 <= ratio <= 0.90, (item.id, ratio)


def test_the_loader_spreads_subjects_and_names_bad_options() -> None:
    loaded = load_tp_longctx(Path("."), {"seed": 0, "per_cell": 1, "buckets": ["2k", "32k"]})
    assert len(loaded.samples) == 2 * 4 * 2
    assert Counter(s.meta["length"] for s in loaded.samples) == {"2k": 8, "32k": 8}
    assert {s.meta["subject"] for s in loaded.samples} >= {"2k/kv/zh", "32k/single/en"}
    other = load_tp_longctx(Path("."), {"seed": 1, "per_cell": 1})
    assert {s.target for s in other.samples} != {s.target for s in load_tp_longctx(Path("."), {"per_cell": 1}).samples}
    with pytest.raises(DatasetError, match="unknown option.*depth"):
        load_tp_longctx(Path("."), {"depth": 3})
    with pytest.raises(DatasetError, match="'buckets' must be a list of 2k, 8k, 16k, 32k"):
        load_tp_longctx(Path("."), {"buckets": ["64k"]})
    with pytest.raises(DatasetError, match="'per_cell' must be an integer >= 1"):
        load_tp_longctx(Path("."), {"per_cell": 0})


def test_an_item_does_not_change_with_the_set_around_it() -> None:
    small = {i.id: i for i in make_items(per_cell=1, buckets=("8k",))}
    for item in ITEMS:
        if item.id in small:
            assert small[item.id] == item
