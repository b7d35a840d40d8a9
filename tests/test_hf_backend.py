"""The hf backend as the engine uses it: generation, chat rendering, batching under concurrency, bad
input and bad paths, and a whole run through ``Runner``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import torch

from engine_helpers import run_engine
from hf_fixtures import CHAT_TEMPLATE, tiny_model_dir, tokenizer_variant  # noqa: F401 - a fixture
from tianping.core import GenerationParams, Message, Request
from tianping.engine.backends import create_backend
from tianping.models import hf_generate
from tianping.models.errors import BadRequest
from tianping.models.hf_generate import cut_at_stop, render_plain
from tianping.models.hf_load import ModelLoadError, resolve_ref_model
from tianping.models.hf_local import HFLocalBackend
from tianping.spec import GenerationOverrides, ModelSpec, RunSpec
from tianping.store import Store

PROMPT = "Question: Which gas do plants absorb?\nAnswer:"


def run(coro):
    return asyncio.run(coro)


async def _ask(backend: HFLocalBackend, *requests: Request) -> list:
    try:
        return list(await asyncio.gather(*(backend.generate(r) for r in requests)))
    finally:
        await backend.aclose()


def completion(prompt: str, **params) -> Request:
    return Request(model="hf/t", prompt=prompt, params=GenerationParams(**params))


def test_generation_stops_at_the_first_stop_sequence(tiny_model_dir: Path) -> None:  # noqa: F811
    (free,) = run(_ask(HFLocalBackend("hf/t", tiny_model_dir, device="cpu"), completion(PROMPT, max_tokens=24)))
    text = free.first.text
    assert len(text) > 6 and free.first.finish_reason == "length"
    assert free.completion_tokens == 24 and free.prompt_tokens > 0
    stops = (text[4:6], text[2:3] + "\x00never")  # the second never occurs
    (stopped,) = run(
        _ask(HFLocalBackend("hf/t", tiny_model_dir, device="cpu"), completion(PROMPT, max_tokens=24, stop=stops))
    )
    assert stopped.first.text == text[: text.find(stops[0])]
    assert stopped.first.finish_reason == "stop"
    assert stopped.completion_tokens < 24, "generation should end once the stop string appeared"


def test_n_completions_greedy_and_sampled(tiny_model_dir: Path) -> None:  # noqa: F811
    backend = HFLocalBackend("hf/t", tiny_model_dir, device="cpu")
    greedy, sampled = run(
        _ask(
            backend,
            completion(PROMPT, max_tokens=6, n=3),
            completion(PROMPT, max_tokens=6, n=3, temperature=1.0, seed=7),
        )
    )
    assert len(greedy.completions) == 3 and len({c.text for c in greedy.completions}) == 1
    assert len(sampled.completions) == 3


def test_cut_at_stop_takes_the_earliest_of_several() -> None:
    assert cut_at_stop("abc\nQ: d", ["Q:", "\n"]) == ("abc", True)
    assert cut_at_stop("abc", ["x"]) == ("abc", False)


def test_chat_template_used_when_present_and_switchable(tiny_model_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    templated = tokenizer_variant(tiny_model_dir, tmp_path / "chat", chat_template=CHAT_TEMPLATE)
    messages = (Message("system", "Be brief."), Message("user", "Hi"))
    request = Request(model="hf/t", messages=messages, params=GenerationParams(max_tokens=3))
    on = HFLocalBackend("hf/t", templated, device="cpu")
    assert on.loaded.job(request).prompt == "<|system|>Be brief.\n<|user|>Hi\n<|assistant|>"
    off = HFLocalBackend("hf/t", templated, device="cpu", chat_template=False)
    assert off.loaded.job(request).prompt == "System: Be brief.\n\nUser: Hi\n\nAssistant:"
    assert render_plain(messages) == off.loaded.job(request).prompt
    (response,) = run(_ask(on, request))
    assert response.first.finish_reason in ("stop", "length") and response.completion_tokens <= 3
    run(off.aclose())
    with pytest.raises(ModelLoadError, match="no chat template"):
        HFLocalBackend("hf/t", tiny_model_dir, device="cpu", chat_template=True)


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(tiny_model_dir: Path) -> None:  # noqa: F811
    contexts = [f"Question {i}: what is {i} times {i + 1}?\nAnswer:" for i in range(40)]
    scoring = [
        Request(model="hf/t", prompt=c, continuations=(f" {i * (i + 1)}", " no")) for i, c in enumerate(contexts)
    ]
    prompts = [completion(c, max_tokens=5) for c in contexts[:12]]
    backend = HFLocalBackend("hf/t", tiny_model_dir, device="cpu", batch_size=8)
    together = run(_ask(backend, *scoring, *prompts))
    assert backend.batches_run < len(together) / 4, "concurrent requests should share model calls"
    for request, response in zip(scoring + prompts, together, strict=True):
        (alone,) = run(_ask(HFLocalBackend("hf/t", tiny_model_dir, device="cpu", batch_size=1), request))
        if request.kind == "loglikelihood":
            assert [x.logprob for x in response.loglikelihoods] == pytest.approx(
                [x.logprob for x in alone.loglikelihoods], abs=1e-4
            )
            assert [x.greedy for x in response.loglikelihoods] == [x.greedy for x in alone.loglikelihoods]
        else:
            assert response.first.text == alone.first.text


def test_loglikelihood_fields_and_left_truncation(tiny_model_dir: Path) -> None:  # noqa: F811
    long_context = "The sky is blue because of Rayleigh scattering. " * 60  # far beyond the 256-token window
    short, long = run(
        _ask(
            HFLocalBackend("hf/t", tiny_model_dir, device="cpu"),
            Request(model="hf/t", prompt="Answer:", continuations=(" Blue sky", " é")),
            Request(model="hf/t", prompt=long_context + "Answer:", continuations=(" A",)),
        )
    )
    blue, accent = short.loglikelihoods
    assert blue.chars == 9 and blue.bytes == 9 and blue.tokens >= 2 and blue.truncated == 0 and blue.logprob < 0
    assert accent.chars == 2 and accent.bytes == 3
    assert long.loglikelihoods[0].truncated > 0
    assert long.completions == () and short.prompt_tokens > 0


def test_bad_scoring_input_fails_only_its_own_request(tiny_model_dir: Path) -> None:  # noqa: F811
    backend = HFLocalBackend("hf/t", tiny_model_dir, device="cpu")

    async def both():
        good = backend.generate(Request(model="hf/t", prompt="Answer:", continuations=(" A",)))
        bad = backend.generate(Request(model="hf/t", prompt="Answer:", continuations=("",)))
        out = await asyncio.gather(good, bad, return_exceptions=True)
        await backend.aclose()
        return out

    good, bad = run(both())
    assert good.loglikelihoods[0].logprob < 0
    assert isinstance(bad, BadRequest) and "adds no tokens" in str(bad)


def test_tokenizer_without_pad_token(tiny_model_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    no_pad = tokenizer_variant(tiny_model_dir, tmp_path / "nopad", pad=False)
    backend = HFLocalBackend("hf/t", no_pad, device="cpu", batch_size=4)
    assert backend.loaded.tokenizer.pad_token is None, "the tokenizer must not be changed"
    assert backend.loaded.pad_id == backend.loaded.tokenizer.eos_token_id
    vocab = backend.loaded.model.get_input_embeddings().weight.shape[0]
    requests = [completion("Hi" * (k + 1), max_tokens=4) for k in range(5)]
    requests.append(Request(model="hf/t", prompt=PROMPT, continuations=(" carbon", " oxygen")))
    got = run(_ask(backend, *requests))
    assert backend.loaded.model.get_input_embeddings().weight.shape[0] == vocab, "embeddings must not be resized"
    assert all(r.completion_tokens <= 4 for r in got[:5])
    (reference,) = run(_ask(HFLocalBackend("hf/t", tiny_model_dir, device="cpu"), requests[-1]))
    assert [x.logprob for x in got[-1].loglikelihoods] == pytest.approx(
        [x.logprob for x in reference.loglikelihoods], abs=1e-5
    )


def test_generation_out_of_memory_halves_and_answers_all(
    tiny_model_dir: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = hf_generate.generate_batch
    sizes: list[int] = []

    def fits_one(model, tokenizer, encode, jobs, **kwargs):
        sizes.append(len(jobs))
        if len(jobs) > 1:
            raise torch.OutOfMemoryError("fake out of memory")
        return real(model, tokenizer, encode, jobs, **kwargs)

    monkeypatch.setattr(hf_generate, "generate_batch", fits_one)
    backend = HFLocalBackend("hf/t", tiny_model_dir, device="cpu", batch_size=4)
    got = run(_ask(backend, *(completion(f"Q{k}:", max_tokens=3) for k in range(6))))
    assert len(got) == 6 and all(r.completion_tokens >= 1 for r in got)
    assert max(sizes) == 4 and backend.loaded.scorer.batch_size == 1


def test_bad_paths_fail_before_any_request(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        create_backend(ModelSpec(id=f"hf/{tmp_path / 'nothing'}"))
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match=r"half holds no usable model: missing weights .*; tokenizer"):
        create_backend(ModelSpec(id=f"hf/{tmp_path / 'half'}"))


def test_ref_names_resolve_or_list_what_exists(tmp_path: Path) -> None:
    (tmp_path / "tiny-a").mkdir()
    (tmp_path / "tiny-a" / "config.json").write_text("{}")
    assert resolve_ref_model("tiny-a", tmp_path) == tmp_path / "tiny-a"
    with pytest.raises(ModelLoadError, match=r"no reference model 'nope' .*available: tiny-a"):
        resolve_ref_model("nope", tmp_path)
    with pytest.raises(ModelLoadError, match=r"'tiny-b' .*; did you mean ref/tiny-a\? \(available: tiny-a\)"):
        resolve_ref_model("tiny-b", tmp_path)
    with pytest.raises(ModelLoadError, match="no reference model 'surely-absent'"):
        create_backend(ModelSpec(id="ref/surely-absent"))


def test_engine_run_with_a_completion_benchmark(tiny_model_dir: Path, tmp_path: Path, data_dir: Path) -> None:  # noqa: F811
    definition = tmp_path / "arc_completion.yaml"
    definition.write_text(
        """name: arc_completion_tiny
version: "1.0"
description: ARC-Easy as raw completion prompts, for the hf backend test.
dataset:
  loader: arc_jsonl
  path: arc/ARC-Easy/ARC-Easy-Test.jsonl
prompt:
  format: completion
  question: |-
    Question: {{ question }}
    Answer:
generation:
  temperature: 0.0
  max_tokens: 4
  stop: ["\\n"]
scoring:
  extractor: arc_choice
  metric: exact_match
"""
    )
    spec = RunSpec(
        models=[ModelSpec(id=f"hf/{tiny_model_dir}", device="cpu", batch_size=4, concurrency=6)],
        benchmarks=[str(definition)],
        limit=6,
        data_dir=str(data_dir),
    )
    store = Store(tmp_path / "results.db")
    result = run_engine(store, spec)
    assert result.status == "completed", result.message
    rows = list(store.sample_rows(result.run_id))
    assert len(rows) == 6 and all(r["status"] in ("scored", "unscorable") for r in rows)


def test_engine_run_with_mmlu_in_loglikelihood_mode(tiny_model_dir: Path, tmp_path: Path, data_dir: Path) -> None:  # noqa: F811
    spec = RunSpec(
        models=[ModelSpec(id=f"hf/{tiny_model_dir}", device="cpu", batch_size=8, concurrency=8)],
        benchmarks=["mmlu"],
        mode="loglikelihood",
        limit=8,
        data_dir=str(data_dir),
    )
    store = Store(tmp_path / "results.db")
    result = run_engine(store, spec)
    assert result.status == "completed", result.message
    rows = list(store.sample_rows(result.run_id))
    assert len(rows) == 8 and all(r["status"] == "scored" for r in rows)


def test_answers_rendered_without_the_chat_template_are_not_reused_by_a_run_that_uses_it(
    tiny_model_dir: Path,  # noqa: F811
    tmp_path: Path,
    data_dir: Path,
) -> None:
    """The chat rendering (template or plain ``Role: content``) and the window decide what the model reads: they
    are part of who answers, so the response cache never serves one setting's answer to another."""
    templated = tokenizer_variant(tiny_model_dir, tmp_path / "chat", chat_template=CHAT_TEMPLATE)
    store = Store(tmp_path / "results.db")

    def run_with(**options: object) -> tuple[set[str], int]:
        model = ModelSpec(id=f"hf/{templated}", device="cpu", batch_size=4, **options)
        spec = RunSpec(models=[model], benchmarks=["gsm8k"], limit=2, data_dir=str(data_dir),
                       generation=GenerationOverrides(max_tokens=8))  # fmt: skip
        result = run_engine(store, spec)
        assert result.status == "completed", result.message
        rows = list(store.sample_rows(result.run_id))
        return {r["endpoint"] for r in rows}, sum(r["from_cache"] for r in rows)

    plain, _ = run_with(chat_template=False)
    default, cached = run_with()
    assert cached == 0  # nothing the plain rendering answered is taken for the template's answer
    assert plain != default and plain == {f"file://{templated.resolve()};chat_template=off"}
    assert default == {f"file://{templated.resolve()}"}  # the default's identity is what it always was
    again, cached = run_with()
    assert again == default and cached == 2  # the same setting still answers from the cache
    window, cached = run_with(max_length=200)
    assert cached == 0 and window == {f"file://{templated.resolve()};max_length=200"}
