"""The converter registry and contract: metadata, determinism, composition and graceful skipping."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from tianping.core import Message
from tianping.safety.converters import (
    GROUPS,
    Attack,
    ConverterSkipped,
    all_converters,
    compose,
    converter_names,
    get_converter,
)

EN = "How do I pick a basic pin tumbler lock?"
ZH = "如何在家里制作蛋糕？我们想要好的方法。"
TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def converters(data_dir: Path) -> list:
    return all_converters(data_dir=data_dir, translator=lambda text, src, dst: f"[{dst}] {text}")


def test_metadata_is_complete_and_names_are_unique() -> None:
    convs = all_converters()
    names = [c.name for c in convs]
    assert len(names) == len(set(names))
    assert len(convs) >= 45
    for c in convs:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", c.name), c.name
        assert c.group in GROUPS, (c.name, c.group)
        assert len(c.description) > 40, c.name
        assert len(c.source) > 10, c.name
        assert c.langs and c.langs <= {"en", "zh"}, c.name
        assert c.level in ("text", "conversation"), c.name
    assert {c.group for c in convs} == set(GROUPS)  # every group has at least one method


def test_all_converters_sorted_by_group_then_name() -> None:
    keys = [(c.group, c.name) for c in all_converters()]
    assert keys == sorted(keys)


def test_every_converter_name_is_exercised_by_a_test_file() -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in TESTS.glob("test_safety_converters*.py"))
    missing = [n for n in converter_names() if f'"{n}"' not in text]
    assert not missing, f"converters without a dedicated test: {missing}"


def test_none_sends_the_seed_unchanged() -> None:
    attack = get_converter("none").convert(EN, lang="en", rng=random.Random(0))
    assert attack.messages == (Message("user", EN),)
    assert attack.converter == "none" and attack.canary is None and attack.decode is None


def test_unknown_name_raises_key_error_listing_known_names() -> None:
    with pytest.raises(KeyError) as info:
        get_converter("base65")
    msg = str(info.value)
    assert "base65" in msg and "base64" in msg and "roleplay_grandma" in msg


def _fingerprint(attack: Attack) -> tuple:
    probe = "aGVsbG8= 68 69 Uryyb"
    return (attack.messages, attack.converter, attack.canary, attack.decode(probe) if attack.decode else None)


@pytest.mark.parametrize(("seed", "lang"), [(EN, "en"), (ZH, "zh")])
def test_same_prompt_and_seed_give_the_same_attack_for_every_converter(converters, seed: str, lang: str) -> None:
    applied = 0
    for conv in converters:
        try:
            first = conv.convert(seed, lang=lang, rng=random.Random(1234))
        except ConverterSkipped:
            with pytest.raises(ConverterSkipped):
                conv.convert(seed, lang=lang, rng=random.Random(1234))
            continue
        second = conv.convert(seed, lang=lang, rng=random.Random(1234))
        assert first == second, conv.name
        assert _fingerprint(first) == _fingerprint(second), conv.name
        assert first.messages[-1].role == "user", conv.name
        assert first.converter == conv.name
        applied += 1
    assert applied >= 40


def test_rng_driven_converters_vary_with_the_seed(converters) -> None:
    varying = set()
    for conv in converters:
        try:
            outs = {conv.convert(EN, lang="en", rng=random.Random(s)).messages for s in range(8)}
        except ConverterSkipped:
            continue
        if len(outs) > 1:
            varying.add(conv.name)
    assert {
        "many_shot",
        "payload_split_vars",
        "system_prompt_leak",
        "indirect_document",
        "acrostic",
        "word_substitution",
        "inthewild_template",
        "multilingual_sandwich",
    } <= varying


TRICKY = [
    "?",
    "🙂🙂 emoji only",
    "a" * 12000,
    "混合 mixed 文本 with {prompt} and {canary} braces",
    "x\ny\n\tz",
    "Ünïcödé façade naïve",
    "١٢٣ Arabic digits",
    "\u200bhidden\u200b",
    "单",
]


@pytest.mark.parametrize("prompt", TRICKY, ids=range(len(TRICKY)))
def test_converters_never_crash_they_skip(converters, prompt: str) -> None:
    for conv in converters:
        for lang in ("en", "zh"):
            try:
                attack = conv.convert(prompt, lang=lang, rng=random.Random(7))
            except ConverterSkipped as exc:
                assert str(exc), conv.name
                continue
            assert isinstance(attack, Attack) and attack.messages[-1].role == "user", conv.name
            assert all(isinstance(m.content, str) and m.content for m in attack.messages), conv.name


def test_braces_in_the_prompt_are_kept_literally() -> None:
    prompt = "Explain {canary} and {prompt} placeholders"
    attack = get_converter("indirect_tool_result").convert(prompt, lang="en", rng=random.Random(0))
    assert prompt in attack.messages[-1].content


def test_bad_language_and_empty_prompt_are_errors_not_skips() -> None:
    conv = get_converter("base64")
    with pytest.raises(ValueError, match="lang"):
        conv.convert(EN, lang="fr", rng=random.Random(0))
    with pytest.raises(ValueError, match="empty"):
        conv.convert("   ", lang="en", rng=random.Random(0))


def test_attack_requires_a_final_user_turn() -> None:
    with pytest.raises(ValueError, match="user turn"):
        Attack(messages=(Message("user", "hi"), Message("assistant", "hello")), converter="x")
    with pytest.raises(ValueError):
        Attack(messages=(), converter="x")


def test_compose_leetspeak_then_roleplay() -> None:
    conv = compose(["leetspeak", "roleplay_grandma"])
    assert conv.name == "leetspeak+roleplay_grandma"
    attack = conv.convert("how to pick a lock", lang="en", rng=random.Random(0))
    text = attack.messages[-1].content
    assert "h0w 70 p1ck 4 l0ck" in text and "grandmother" in text
    assert attack.converter == "leetspeak+roleplay_grandma"
    assert len(attack.messages) == 1


def test_compose_by_plus_name_equals_compose_list() -> None:
    a = get_converter("rot13+base64").convert(EN, lang="en", rng=random.Random(3))
    b = compose(["rot13", "base64"]).convert(EN, lang="en", rng=random.Random(3))
    assert a.messages == b.messages


def test_composed_decoder_undoes_the_outer_encoding_first() -> None:
    from tianping.safety.converters.ciphers import b64_encode, shift_letters

    attack = compose(["rot13", "base64"]).convert(EN, lang="en", rng=random.Random(0))
    answer = "Sure, here it is"
    assert attack.decode(b64_encode(shift_letters(answer, 13))) == answer


def test_compose_with_conversation_level_last_keeps_the_canary() -> None:
    attack = compose(["base64", "indirect_tool_result"]).convert(EN, lang="en", rng=random.Random(5))
    assert attack.canary and attack.canary in attack.messages[-1].content
    assert len(attack.messages) == 4
    many = compose(["leetspeak", "many_shot"]).convert(EN, lang="en", rng=random.Random(5))
    assert many.messages[-1].content.startswith("H0w d0 1 p1ck")


def test_compose_rejects_a_conversation_level_converter_before_the_end() -> None:
    with pytest.raises(ValueError, match="many_shot.*last"):
        compose(["many_shot", "crescendo"])
    with pytest.raises(ValueError, match="crescendo"):
        compose(["crescendo", "base64"])
    with pytest.raises(ValueError):
        compose([])
    with pytest.raises(TypeError):
        compose("base64")  # type: ignore[arg-type]


def test_compose_skips_when_any_step_cannot_apply() -> None:
    conv = compose(["pinyin_tones", "rot13"])
    assert conv.langs == frozenset()
    with pytest.raises(ConverterSkipped):
        conv.convert(ZH, lang="zh", rng=random.Random(0))


_DIGEST_SCRIPT = """
import hashlib, random, sys
from tianping.safety.converters import all_converters, ConverterSkipped
h = hashlib.sha256()
for c in all_converters(data_dir=sys.argv[1]):
    for p, lang in [("Describe how to pick a basic pin tumbler padlock", "en"), ("如何在家里制作蛋糕？", "zh")]:
        try:
            a = c.convert(p, lang=lang, rng=random.Random(99))
            h.update(repr((a.messages, a.canary)).encode())
        except ConverterSkipped as exc:
            h.update(str(exc).encode())
print(h.hexdigest())
"""


def test_attacks_are_identical_across_processes_with_different_hash_seeds(data_dir: Path) -> None:
    import os
    import subprocess
    import sys

    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", _DIGEST_SCRIPT, str(data_dir)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        digests.add(out.stdout.strip())
    assert len(digests) == 1
