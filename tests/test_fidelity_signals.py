"""Tokenizer fingerprint and context-limit probes against real local fake endpoints: a faithful one, one that
counts with another tokenizer, one that silently truncates the context at a lower limit and one that refuses
past it; 100 seeded variations of each (template overhead, limits) must all be classified correctly."""

from __future__ import annotations

import asyncio
import math
import random
from typing import Any

import pytest
from aiohttp import web

from fake_openai import FakeOpenAIServer, in_background
from tianping.fidelity.signals import PROBES, compare_fingerprints, context_limit, tokenizer_fingerprint

CLAIMED = 4096


class TokenizingServer(FakeOpenAIServer):
    """The fake server with a chat template's constant, a choice of tokenizer and a context limit that is cut
    silently (``truncate_at``) or refused (``refuse_over``). Attributes may change between probes."""

    def __init__(self, **opts: Any) -> None:
        super().__init__(**opts)
        self.overhead = 0
        self.tokenizer = "words"
        self.truncate_at: int | None = None
        self.refuse_over: int | None = None

    def count(self, text: str) -> int:
        if self.tokenizer == "words":
            return len(text.split())
        # a byte-level family: about one token per three UTF-8 bytes
        return math.ceil(len(text.encode("utf-8")) / 3)

    def _usage(self, body: dict[str, Any], content: str, thought: str | None, n: int) -> dict[str, Any]:
        usage = super()._usage(body, content, thought, n)
        prompt = self.overhead + sum(self.count(m.get("content") or "") for m in body.get("messages") or ())
        if self.truncate_at is not None:
            prompt = min(prompt, self.truncate_at)
        usage["prompt_tokens"] = prompt
        return usage

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        if self.refuse_over is not None:
            body = await request.json()
            tokens = self.overhead + sum(self.count(m.get("content") or "") for m in body["messages"])
            if tokens > self.refuse_over:
                return web.json_response({"error": {"message": "context length exceeded"}}, status=400)
        return await super()._chat(request)


def test_another_tokenizers_counts_are_told_apart_and_the_same_tokenizer_matches_in_100_seeds() -> None:
    with in_background(TokenizingServer()) as reference, in_background(TokenizingServer()) as candidate:
        right = 0
        for seed in range(100):
            rng = random.Random(seed)
            reference.overhead = rng.randint(0, 60)
            candidate.overhead = rng.randint(0, 60)  # another provider's template: a different constant
            candidate.tokenizer = "words" if seed % 2 == 0 else "bytes"
            ref = asyncio.run(tokenizer_fingerprint(reference.base_url, "m"))
            got = compare_fingerprints(ref, asyncio.run(tokenizer_fingerprint(candidate.base_url, "m")))
            right += got.same == (candidate.tokenizer == "words")
        assert right >= 95
    assert len(ref) == len(PROBES) and ref[0] == 0


def test_a_context_cut_or_refused_below_the_claim_is_found_and_an_honest_one_is_not_flagged() -> None:
    with in_background(TokenizingServer()) as server:
        right = 0
        for seed in range(100):
            rng = random.Random(seed)
            server.overhead = rng.randint(0, 60)
            kind = ("honest", "truncate", "refuse")[seed % 3]
            limit = int(CLAIMED * rng.uniform(0.3, 0.9))
            server.truncate_at = limit if kind == "truncate" else None
            server.refuse_over = limit if kind == "refuse" else (CLAIMED if kind == "honest" else None)
            probe = asyncio.run(context_limit(server.base_url, "m", CLAIMED))
            ok = probe.truncates == (kind != "honest")
            if kind != "honest":
                ok = ok and abs(probe.honoured - limit) <= 2
            right += ok
        assert right >= 95
    assert "tokens" in probe.evidence


def test_fingerprints_of_different_probe_sets_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot be compared"):
        compare_fingerprints([0, 1], [0, 1, 2])


def test_the_probe_command_reports_another_tokenizer_and_a_cut_context_with_evidence() -> None:
    from engine_helpers import cli

    with in_background(TokenizingServer()) as reference, in_background(TokenizingServer()) as wrapper:
        wrapper.tokenizer = "bytes"
        wrapper.truncate_at = 1000
        args = ("--base-url", wrapper.base_url, "--model", "m", "--reference-url", reference.base_url)
        bad = cli("fidelity", "probe", *args, "--claimed-context", str(CLAIMED))
        good = cli("fidelity", "probe", *args[:4], "--reference-url", wrapper.base_url)
    assert bad.returncode == 0, bad.stderr
    assert "another tokenizer" in bad.stdout and "cuts or refuses the claimed 4096-token context" in bad.stdout
    assert good.returncode == 0 and "same tokenizer: 0 of" in good.stdout
    assert cli("fidelity", "probe", "--base-url", "http://127.0.0.1:9/v1", "--model", "m").returncode == 2
