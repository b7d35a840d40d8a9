"""Load-test prompts from real conversation lengths (the bundled ``chat`` profile) and from a benchmark's own
messages: what is sent follows the source, the same seed sends the same load, and bad sources name themselves."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fake_stream_server import running_stream_server
from tianping.benchmarks import registry
from tianping.cli import app
from tianping.serving.load import TOKENS_PER_WORD
from tianping.serving.prompt_sets import (
    ProfilePrompts,
    PromptSetError,
    benchmark_prompts,
    load_profile,
    prompt_source,
)

REPO = Path(__file__).resolve().parents[1]


def take(source, seed: int, n: int):
    stream = source.stream(seed)
    return [next(stream) for _ in range(n)]


def test_the_bundled_profile_is_what_the_conversations_give(data_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "tools/length_profile.py", "--data-dir", str(data_dir), "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    profile = load_profile("chat")
    assert len(profile.pairs) == 500 + 805
    q = profile.quantiles()
    # real chat: short questions, long answers, and a long tail of pasted material
    assert q["prompt_words"]["p50"] < 40 < q["prompt_words"]["p90"] and q["prompt_words"]["max"] > 1000
    assert q["reply_words"]["p50"] > 5 * q["prompt_words"]["p50"]


def test_profile_prompts_have_the_profiles_lengths_and_reply_budgets() -> None:
    profile = load_profile("chat")
    source = ProfilePrompts(profile, nonce=True, shared_prefix_words=0, replies=True)
    prompts = take(source, 7, 3000)
    prompt_lengths = {max(1, w) for w, _ in profile.pairs}  # an empty prompt is sent as one word
    drawn = []
    for p in prompts:
        (message,) = p.messages
        words = len(message["content"].split()) - 1  # the nonce tag is one word
        assert words in prompt_lengths
        drawn.append(words)
    # 3,000 draws with replacement: the median is the profile's, within a few words
    profile_median = statistics.median(max(1, w) for w, _ in profile.pairs)
    assert abs(statistics.median(drawn) - profile_median) <= 3
    budgets = {max(1, round(r * TOKENS_PER_WORD)) for _, r in profile.pairs}
    assert {p.max_tokens for p in prompts} <= budgets


def test_the_same_seed_sends_the_same_load_and_another_seed_another() -> None:
    source = prompt_source("profile:chat", words=10, nonce=True, shared_prefix_words=0)
    a, b, c = take(source, 1, 50), take(source, 1, 50), take(source, 2, 50)
    assert a == b and a != c
    no_replies = prompt_source("profile:chat", words=10, nonce=False, shared_prefix_words=0, replies=False)
    assert all(p.max_tokens is None for p in take(no_replies, 1, 20))


def test_benchmark_prompts_are_the_evaluations_own_messages_each_once_before_repeats(data_dir: Path) -> None:
    fixed = benchmark_prompts("gsm8k", data_dir, limit=20)
    (bench,) = registry.build("gsm8k", data_dir)
    bench.load(20)
    expected = [
        tuple((m.role, m.content) for m in bench.build_request(s, "loadtest", bench.generation).messages or ())
        for s in bench.samples
    ]
    assert list(fixed.prompts) == expected and len(expected) == 20
    source = prompt_source("benchmark:gsm8k", words=0, nonce=False, shared_prefix_words=0, data_dir=data_dir, limit=20)
    first_round = take(source, 3, 20)
    sent = [tuple((m["role"], m["content"]) for m in p.messages) for p in first_round]
    assert sorted(sent) == sorted(expected)  # every prompt once, in a seeded order
    tagged = prompt_source("benchmark:gsm8k", words=0, nonce=True, shared_prefix_words=5, data_dir=data_dir, limit=20)
    head = take(tagged, 3, 1)[0].messages[0]["content"]
    assert head.split("\n\n", 1)[1].startswith("[req-1-")


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("profile:nope", "no such file"),
        ("benchmark:not_a_benchmark", "not_a_benchmark"),
        ("sharegpt", "--prompts must be"),
        ("profile:", "--prompts must be"),
    ],
)
def test_a_bad_source_names_itself(spec: str, needle: str, data_dir: Path) -> None:
    with pytest.raises(PromptSetError, match=needle):
        prompt_source(spec, words=1, nonce=True, shared_prefix_words=0, data_dir=data_dir)


def test_a_bad_profile_file_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({"pairs": [[10, 200], [5, "x"]]}))
    with pytest.raises(PromptSetError, match=r"pairs\[1\]"):
        load_profile(str(bad))
    bad.write_text("{")
    with pytest.raises(PromptSetError, match="not JSON"):
        load_profile(str(bad))


def test_cli_sends_profile_lengths_and_reply_budgets(tmp_path: Path) -> None:
    out = tmp_path / "lt.json"
    profile = load_profile("chat")
    budgets = {max(1, round(r * TOKENS_PER_WORD)) for _, r in profile.pairs}
    with running_stream_server(ttft_s=0.001, itl_s=0.0005, output_tokens=2) as server:
        args = ["loadtest", "--model", "m", "--no-live", "-n", "40", "--prompts", "profile:chat"]
        args += ["--base-url", server.base_url, "--json", str(out)]
        done = CliRunner().invoke(app, args)
        bodies = list(server.bodies)
    assert done.exit_code == 0, done.output
    assert len(bodies) == 40
    assert {b["max_tokens"] for b in bodies} <= budgets and len({b["max_tokens"] for b in bodies}) > 10
    lengths = {len(b["messages"][0]["content"].split()) - 1 for b in bodies}
    assert lengths <= {max(1, w) for w, _ in profile.pairs} and len(lengths) > 10
    (stage,) = json.loads(out.read_text())["stages"]
    assert stage["config"]["prompts"] == "profile:chat (1305 conversations)"


def test_cli_refuses_word_counts_with_another_source() -> None:
    args = ["loadtest", "--model", "m", "--no-live", "-n", "1", "--prompts", "profile:chat", "--prompt-words", "9"]
    done = CliRunner().invoke(app, [*args, "--base-url", "http://127.0.0.1:9/v1"])
    assert done.exit_code == 2 and "synthetic only" in done.output
