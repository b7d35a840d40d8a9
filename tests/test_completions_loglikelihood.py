"""Log-likelihoods from an OpenAI-compatible ``/completions`` endpoint that echoes prompt log-probabilities
(``--completions-logprobs``, lm-eval's ``local-completions``), against the fake server's own function; a bad
reply is that sample's error, never a crash or a score."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fake_openai import FakeOpenAIServer, prompt_logprobs, running_server
from tianping.benchmarks import registry
from tianping.cli import app
from tianping.cli.errors import INCOMPLETE
from tianping.core import GenerationParams, Request
from tianping.core.limits import ReplyLimits
from tianping.core.task import GENERATE, LOGLIKELIHOOD, TOOLS
from tianping.models.errors import BadRequest, ModelError, ReplyTooLarge
from tianping.models.openai_api import OpenAIChatBackend
from tianping.models.registry import backend_supports
from tianping.spec import ModelSpec


def expected(context: str, continuation: str) -> tuple[float, bool, int]:
    """The continuation's log-likelihood computed from the fake server's tokens, apart from the client."""
    kept = context.rstrip()
    rows = [r for r in prompt_logprobs(kept + context[len(kept) :] + continuation) if r[1] >= len(kept)]
    greedy = all(value >= max(top.values()) for _, _, value, top in rows)
    return sum(value for _, _, value, _ in rows), greedy, len(rows)


def backend(url: str, **options) -> OpenAIChatBackend:
    return OpenAIChatBackend(model="m", base_url=url, completions_logprobs=True, max_retries=0, **options)


async def ask(client: OpenAIChatBackend, requests: list[Request]) -> list:
    try:
        return list(await asyncio.gather(*(client.generate(r) for r in requests), return_exceptions=True))
    finally:
        await client.aclose()


def test_arc_easy_loglikelihoods_equal_the_sums_of_the_servers_token_logprobs(data_dir):
    (bench,) = registry.build("arc_easy", data_dir, mode="loglikelihood")
    bench = bench.load(12)
    requests = [bench.build_request(s, "openai/m", GenerationParams()) for s in bench.samples]

    async def run() -> list:
        async with FakeOpenAIServer() as server:
            got = await ask(backend(server.base_url), requests)
            assert server.last_body["echo"] is True and server.last_body["logprobs"] == 1
            return got

    responses = asyncio.run(run())
    greedy_seen = set()
    for request, response in zip(requests, responses, strict=True):
        assert not isinstance(response, BaseException), response
        assert len(response.loglikelihoods) == len(request.continuations)
        for cont, ll in zip(request.continuations, response.loglikelihoods, strict=True):
            logprob, greedy, tokens = expected(request.prompt, cont)
            assert ll.logprob == pytest.approx(logprob, abs=1e-9)
            assert (ll.greedy, ll.tokens, ll.chars) == (greedy, tokens, len(cont))
            greedy_seen.add(ll.greedy)
    assert greedy_seen == {True, False}
    scores = [bench.score(s, r) for s, r in zip(bench.samples, responses, strict=True)]
    assert all(s.status == "scored" for s in scores)


@pytest.mark.parametrize(
    ("fault", "error", "words"),
    [
        ("missing", ModelError, "without prompt log-probabilities"),
        ("short_offsets", ModelError, "no token offset falls in the continuation"),
        ("straddle", ModelError, "no token starts where the continuation starts"),
        ("nan", ModelError, "is not a log-probability"),
        ("huge", ReplyTooLarge, "larger than"),
    ],
)
def test_a_bad_reply_is_an_error_never_a_score(fault, error, words):
    request = Request(model="openai/m", prompt="Question: is it?\nAnswer:", continuations=(" yes", " no"))

    async def run() -> list:
        async with FakeOpenAIServer(logprobs_fault=fault) as server:
            return await ask(backend(server.base_url, limits=ReplyLimits(max_body_bytes=256 * 1024)), [request])

    (outcome,) = asyncio.run(run())
    assert isinstance(outcome, error), outcome
    assert words in str(outcome)


def test_requests_the_endpoint_cannot_answer_are_refused():
    chat = Request(model="openai/m", messages=(), continuations=("A",))
    plain = Request(model="openai/m", prompt="Q", continuations=("A",))

    async def run() -> list:
        async with FakeOpenAIServer() as server:
            off = OpenAIChatBackend(model="m", base_url=server.base_url)
            return [*await ask(backend(server.base_url), [chat]), *await ask(off, [plain])]

    chat_error, off_error = asyncio.run(run())
    assert isinstance(chat_error, BadRequest) and "chat" in str(chat_error)
    assert isinstance(off_error, BadRequest) and "--completions-logprobs" in str(off_error)


def test_the_spec_says_what_the_endpoint_answers():
    plain = ModelSpec(id="openai/m", base_url="http://127.0.0.1:9")
    scoring = ModelSpec(id="openai/m", base_url="http://127.0.0.1:9", completions_logprobs=True)
    assert backend_supports(plain) == {GENERATE, TOOLS}
    assert backend_supports(scoring) == {GENERATE, LOGLIKELIHOOD, TOOLS}
    assert OpenAIChatBackend.supports == {GENERATE, TOOLS}  # the class: generation; an instance that scores says so
    assert backend("http://127.0.0.1:9").supports == {GENERATE, LOGLIKELIHOOD, TOOLS}
    with pytest.raises(ValueError, match="completions_logprobs"):
        ModelSpec(id="ref/x", completions_logprobs=True)


def test_a_run_scores_arc_easy_on_the_endpoint_and_a_bad_one_errs_per_sample(tmp_path: Path, data_dir):
    base = ["run", "-m", "openai/m", "--completions-logprobs", "-b", "arc_easy", "--mode", "loglikelihood"]
    base += ["--data-dir", str(data_dir), "--limit", "6", "--max-retries", "0"]
    with running_server() as server:
        good = CliRunner().invoke(app, [*base, "--base-url", server.base_url, "--results-dir", str(tmp_path / "a"),
                                        "--json", str(tmp_path / "a.json")])  # fmt: skip
    assert good.exit_code == 0, good.output
    summary = json.loads((tmp_path / "a.json").read_text())
    assert "acc" in json.dumps(summary)
    without = CliRunner().invoke(app, [*base[:3], *base[4:], "--base-url", "http://127.0.0.1:9",
                                       "--results-dir", str(tmp_path / "c")])  # fmt: skip
    assert without.exit_code != 0 and "cannot answer" in without.output
    with running_server(logprobs_fault="short_offsets") as server:
        bad = CliRunner().invoke(app, [*base, "--base-url", server.base_url, "--results-dir", str(tmp_path / "b")])
    assert bad.exit_code == INCOMPLETE, bad.output  # stored as errors: the run is incomplete, not crashed
    assert "errors" in bad.output and "no token offset falls in the continuation" in bad.output
    assert "internal error" not in bad.output
