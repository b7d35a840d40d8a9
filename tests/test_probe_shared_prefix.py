"""A shared prompt prefix (for measuring prompt caching) and the stage's prompt-cache summary."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from fake_stream_server import running_stream_server
from tianping.cli import app
from tianping.serving.load import PromptFactory


def test_every_prompt_starts_with_the_same_prefix_then_its_own_nonce():
    factory = PromptFactory(words=12, nonce=True, seed=5, shared_prefix_words=40)
    prompts = [factory.next() for _ in range(6)]
    heads = {p.split("\n\n", 1)[0] for p in prompts}
    assert len(heads) == 1 and len(next(iter(heads)).split()) == 40
    tails = [p.split("\n\n", 1)[1] for p in prompts]
    assert all(t.startswith(f"[req-{i + 1}-") for i, t in enumerate(tails))  # the nonce follows the prefix
    assert all(len(t.split()) == 1 + 12 for t in tails)
    assert len(set(tails)) == 6


def test_no_prefix_keeps_the_prompts_as_they_were():
    plain = PromptFactory(words=9, seed=3)
    zero = PromptFactory(words=9, seed=3, shared_prefix_words=0)
    with_prefix = PromptFactory(words=9, seed=3, shared_prefix_words=20)
    for _ in range(4):
        a, b, c = plain.next(), zero.next(), with_prefix.next()
        assert a == b and c.endswith("\n\n" + a)  # the unique parts do not depend on the prefix


def test_cli_sends_the_prefix_and_reports_the_cached_fraction(tmp_path):
    out = tmp_path / "lt.json"
    with running_stream_server(ttft_s=0.01, itl_s=0.002, output_tokens=3, cached_tokens=30) as server:
        args = ["loadtest", "--model", "m", "--no-live", "-n", "4", "--max-tokens", "3", "--prompt-words", "10"]
        args += ["--shared-prefix-words", "50", "--base-url", server.base_url, "--json", str(out)]
        done = CliRunner().invoke(app, args)
        last_prompt = server.last_body["messages"][0]["content"]
    assert done.exit_code == 0, done.output
    assert len(last_prompt.split("\n\n", 1)[0].split()) == 50
    (stage,) = json.loads(out.read_text())["stages"]
    cache = stage["prompt_cache"]
    # the fake server counts prompt words as tokens: 50 shared + nonce + 10 unique per call
    assert cache["calls"] == 4 and cache["prompt_tokens"] == 4 * 61 and cache["cached_prompt_tokens"] == 4 * 30
    assert abs(cache["cached_fraction"] - 30 / 61) < 1e-9
