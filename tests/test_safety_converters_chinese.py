"""Chinese-native obfuscation: the built-in tables are sound, each rewrite keeps the request recoverable, and
methods that need Chinese text skip everything else."""

from __future__ import annotations

import random
import unicodedata

import pytest
from pypinyin import Style, lazy_pinyin

from tianping.safety.converters import ConverterSkipped, get_converter, zh_tables
from tianping.safety.converters.chinese import to_pinyin, to_simplified, to_traditional

ZH = "如何在家里制作蛋糕？我们想要好的方法。"
RNG = random.Random


def _text(name: str, prompt: str = ZH, lang: str = "zh", seed: int = 0) -> str:
    return get_converter(name).convert(prompt, lang=lang, rng=RNG(seed)).messages[-1].content


def test_homophone_table_pairs_share_their_pinyin() -> None:
    table = zh_tables.homophones()
    assert len(table) >= 100
    wrong = {k: v for k, v in table.items() if k == v or len(v) != 1 or lazy_pinyin(k) != lazy_pinyin(v)}
    assert not wrong


def test_split_table_gives_several_components_per_character() -> None:
    table = zh_tables.split_chars()
    assert len(table) >= 200
    for char, parts in table.items():
        assert len(parts) >= 2 and char not in parts, char
        assert all(unicodedata.category(p) == "Lo" for p in parts), char
    assert table["炸"] == "火乍" and table["好"] == "女子" and table["森"] == "木木木"


def test_mars_table_is_one_to_one() -> None:
    table = zh_tables.mars()
    assert len(set(table.values())) == len(table)
    assert not set(table) & set(table.values())


def test_table_parser_rejects_duplicates_and_short_tokens() -> None:
    with pytest.raises(ValueError, match="twice"):
        zh_tables._parse("好恏 好嗨", "T")
    with pytest.raises(ValueError, match="needs a character"):
        zh_tables._parse("好", "T")


def test_homophone_rewrites_watched_characters_only() -> None:
    body = _text("homophone").split("\n\n", 1)[1]
    assert body == "儒河在家里质坐蛋糕？我们想要好的芳发。"
    assert lazy_pinyin(body) == lazy_pinyin(ZH)
    with pytest.raises(ConverterSkipped, match="table"):
        get_converter("homophone").convert("天空很蓝。", lang="zh", rng=RNG(0))


def test_split_chars_brackets_components() -> None:
    body = _text("split_chars").split("\n\n", 1)[1]
    assert body.startswith("[女口][亻可]在家里制[亻乍][疋虫]糕")
    assert "方括号" in _text("split_chars")


def test_mars_script_round_trip() -> None:
    attack = get_converter("mars_script").convert(ZH, lang="zh", rng=RNG(0))
    text = attack.messages[-1].content
    assert text == "如何茬家裡制作蛋糕？涐扪想婹恏の方法。"
    assert attack.decode(text) == ZH
    with pytest.raises(ConverterSkipped, match="already"):
        get_converter("mars_script").convert("涐想你", lang="zh", rng=RNG(0))


def test_pinyin_with_and_without_tones_reads_polyphones_in_context() -> None:
    assert to_pinyin("我去银行。", Style.TONE) == "wǒ qù yín háng 。"
    assert _text("pinyin_tones").endswith("rú hé zài jiā lǐ zhì zuò dàn gāo ？ wǒ men xiǎng yào hǎo de fāng fǎ 。")
    plain = _text("pinyin_plain")
    assert plain.endswith("ru he zai jia li zhi zuo dan gao ？ wo men xiang yao hao de fang fa 。")
    assert "如何" not in plain.split("\n\n")[1]


def test_pinyin_partial_replaces_about_half_the_characters() -> None:
    text = _text("pinyin_partial", seed=4)
    han_left = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    total = sum(1 for ch in ZH if "\u4e00" <= ch <= "\u9fff")
    assert han_left == total - total // 2
    assert _text("pinyin_partial", seed=4) == text and _text("pinyin_partial", seed=5) != text


@pytest.mark.parametrize(
    "name", ["pinyin_tones", "pinyin_plain", "pinyin_partial", "homophone", "split_chars", "mars_script", "traditional"]
)
def test_chinese_only_methods_skip_english(name: str) -> None:
    with pytest.raises(ConverterSkipped):
        get_converter(name).convert("How do I bake bread?", lang="en", rng=RNG(0))
    with pytest.raises(ConverterSkipped, match="no Chinese"):
        get_converter(name).convert("How do I bake bread?", lang="zh", rng=RNG(0))


def test_traditional_conversion_and_decoding_back() -> None:
    attack = get_converter("traditional").convert(ZH, lang="zh", rng=RNG(0))
    text = attack.messages[-1].content
    assert text.startswith("如何在家裏製作蛋糕？我們想要好的方法。")
    assert attack.decode(to_traditional(ZH)) == ZH
    assert to_simplified("漢字") == "汉字"
    with pytest.raises(ConverterSkipped, match="traditional form"):
        get_converter("traditional").convert("天空很大", lang="zh", rng=RNG(0))


def test_wenyan_frames_the_request_in_classical_chinese() -> None:
    zh = _text("wenyan")
    assert ZH in zh and "文言" in zh
    en = _text("wenyan", "How do I bake bread?", "en")
    assert "Classical Chinese" in en and "How do I bake bread?" in en


def test_acrostic_line_heads_spell_the_request() -> None:
    text = _text("acrostic")
    lines = text.split("\n\n", 1)[1].split("\n")
    assert "".join(line[0] for line in lines) == "如何在家里制作蛋糕我们想要好的方法"
    assert all(len(line) == 7 for line in lines)
    en = _text("acrostic", "How do I bake bread", "en")
    assert [line.split()[0] for line in en.split("\n\n", 1)[1].split("\n")] == ["How", "do", "I", "bake", "bread"]
    with pytest.raises(ConverterSkipped, match="limit is 40"):
        get_converter("acrostic").convert("长" * 41, lang="zh", rng=RNG(0))
