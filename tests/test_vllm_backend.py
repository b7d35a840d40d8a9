"""The vLLM backend (``vllm/<dir>``): prompts, sampling parameters, log-likelihoods, batching, errors.

vLLM needs a CUDA GPU and is not installed where the suite usually runs, so most tests inject a stand-in ``vllm``
module into ``sys.modules``: its ``LLM`` records every ``generate`` call and answers with objects shaped like
vLLM's ``RequestOutput`` (``outputs[i].text/token_ids/finish_reason``, ``prompt_logprobs``), computed
deterministically from the prompt's token ids (:func:`fake_logprob`, :func:`fake_rank`), so that what the backend
makes of them can be checked exactly. The last test runs the real vLLM on a GPU, where one is lent.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers", reason="the tokenizer fixtures need transformers")

from hf_fixtures import CHAT_TEMPLATE, build_tokenizer  # noqa: E402
from tianping.core import GenerationParams, Message, Request  # noqa: E402
from tianping.core.task import GENERATE, LOGLIKELIHOOD  # noqa: E402
from tianping.engine.backends import backend_supports, check_backend, create_backend  # noqa: E402
from tianping.models.errors import BadRequest  # noqa: E402
from tianping.models.registry import BUILTIN_SUPPORTS  # noqa: E402
from tianping.models.vllm_local import VLLMBackend, VLLMUnavailable  # noqa: E402
from tianping.spec import ModelSpec  # noqa: E402

WINDOW = 256
"""The stand-in's ``max_model_len`` when none is asked for (the tiny model's ``max_position_embeddings``)."""
TEMPLATES = {"no_bos": CHAT_TEMPLATE, "bos": "{{ bos_token }}" + CHAT_TEMPLATE}
"""Like ChatML (writes no BOS) and like Llama 3 (starts with BOS itself)."""


# -- the stand-in for vLLM -----------------------------------------------------------------------------------------


def fake_logprob(pos: int, prev: int, token: int) -> float:
    """The stand-in's log-probability of ``token`` at prompt position ``pos`` after ``prev``."""
    return -((prev * 31 + token * 17 + pos * 7) % 97 + 1) / 16.0


def fake_rank(pos: int, prev: int, token: int) -> int:
    return 1 if (prev + token + pos) % 3 == 0 else 2 + (prev + token) % 4


@dataclass
class FakeLogprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class FakeCompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    finish_reason: str | None
    cumulative_logprob: float | None = None
    logprobs: Any = None


@dataclass
class FakeRequestOutput:
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int]
    prompt_logprobs: list[dict[int, FakeLogprob] | None] | None
    outputs: list[FakeCompletionOutput]
    finished: bool = True


class FakeSamplingParams:
    """Records what it was given; unset fields read as vLLM's defaults."""

    DEFAULTS: dict[str, Any] = {"n": 1, "temperature": 1.0, "top_p": 1.0, "max_tokens": 16, "stop": None,
                                "seed": None, "prompt_logprobs": None, "detokenize": True}  # fmt: skip

    def __init__(self, **kwargs: Any):
        unknown = set(kwargs) - set(self.DEFAULTS)
        assert not unknown, f"SamplingParams got arguments vLLM does not take: {unknown}"
        self.given = kwargs
        for name, default in self.DEFAULTS.items():
            setattr(self, name, kwargs.get(name, default))


def default_reply(prompt_ids: list[int], params: FakeSamplingParams, k: int) -> tuple[str, list[int], str]:
    """Text, token ids and finish reason of the k-th completion: ``length`` when max_tokens <= 4."""
    tokens = [(sum(prompt_ids) + k + i) % 50 + 10 for i in range(min(params.max_tokens, 4))]
    return f"answer {k} after {len(prompt_ids)} tokens", tokens, "length" if params.max_tokens <= 4 else "stop"


class FakeLLM:
    """``vllm.LLM``: loads the tokenizer of ``model`` and answers ``generate`` from the token ids alone."""

    reply = staticmethod(default_reply)
    """What the k-th completion of a prompt is (a test may set another)."""
    instances: list[FakeLLM] = []
    """Every engine made, in order (a fresh list per test: the ``fake_vllm`` fixture)."""

    def __init__(self, model: str, **kwargs: Any):
        from transformers import PreTrainedTokenizerFast

        self.model, self.kwargs = model, kwargs
        self.calls: list[tuple[list[Any], list[FakeSamplingParams]]] = []
        self.tokenizer = PreTrainedTokenizerFast.from_pretrained(model)
        max_len = kwargs.get("max_model_len") or WINDOW
        self.llm_engine = types.SimpleNamespace(model_config=types.SimpleNamespace(max_model_len=max_len))
        FakeLLM.instances.append(self)

    def get_tokenizer(self) -> Any:
        return self.tokenizer

    def generate(self, prompts: Any, sampling_params: Any = None, use_tqdm: bool = True) -> list[FakeRequestOutput]:
        assert isinstance(sampling_params, list) and len(sampling_params) == len(prompts)
        self.calls.append((prompts, sampling_params))
        window = self.llm_engine.model_config.max_model_len
        results = []
        for r, (prompt, params) in enumerate(zip(prompts, sampling_params, strict=True)):
            ids = list(prompt["prompt_token_ids"])
            assert 0 < len(ids) <= window, f"vLLM refuses a prompt of {len(ids)} tokens in a window of {window}"
            assert params.temperature > 0 or params.n == 1, "vLLM refuses n > 1 with greedy sampling"
            logprobs = None
            if params.prompt_logprobs:
                logprobs = [None]
                for pos in range(1, len(ids)):
                    prev, tok = ids[pos - 1], ids[pos]
                    rank = fake_rank(pos, prev, tok)
                    entry = {tok: FakeLogprob(fake_logprob(pos, prev, tok), rank)}
                    if rank > 1:  # the top-ranked token is another one
                        entry[(tok + 1) % len(self.tokenizer)] = FakeLogprob(-0.01, 1)
                    logprobs.append(entry)
            outputs = [FakeCompletionOutput(k, *type(self).reply(ids, params, k)) for k in range(params.n)]
            results.append(FakeRequestOutput(str(r), None, ids, logprobs, outputs))
        return results


@pytest.fixture(scope="module")
def tokenizer_dirs(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, Path]:
    """The tiny tokenizer (adding BOS by default, as Llama's does) saved plain and with each chat template."""
    from tokenizers import processors

    tokenizer: Any = build_tokenizer(data_dir)
    bos = tokenizer.bos_token_id
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", bos)]
    )
    root = tmp_path_factory.mktemp("vllm_tokenizers")
    dirs = {}
    for name, template in {"plain": None, **TEMPLATES}.items():
        tokenizer.chat_template = template
        tokenizer.save_pretrained(root / name)
        dirs[name] = root / name
    return dirs


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    import torch

    module = types.ModuleType("vllm")
    module.LLM = FakeLLM  # type: ignore[attr-defined]
    module.SamplingParams = FakeSamplingParams  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(FakeLLM, "instances", [])
    return module


def tokenizer(path: Path) -> Any:
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(path)


def ask(backend: VLLMBackend, *requests: Request) -> list[Any]:
    async def go() -> list[Any]:
        try:
            return await asyncio.gather(*(backend.generate(r) for r in requests), return_exceptions=True)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def expected_loglikelihood(tok: Any, context: str, continuation: str, window: int = WINDOW) -> tuple[float, bool, int]:
    """What the stand-in's prompt_logprobs give for the continuation, worked out here from the token ids: lm-eval's
    split, the whole cut to the last ``window`` tokens, the continuation's positions summed."""
    ctx = tok.encode(context)
    whole = tok.encode(context + continuation)
    n = len(whole) - len(ctx)
    kept = whole[-window:]
    positions = range(len(kept) - n, len(kept))
    total = sum(fake_logprob(p, kept[p - 1], kept[p]) for p in positions)
    greedy = all(fake_rank(p, kept[p - 1], kept[p]) == 1 for p in positions)
    return total, greedy, len(whole) - len(kept)


# -- generation ------------------------------------------------------------------------------------------------------


def test_generation_parameters_become_sampling_params(fake_vllm, tokenizer_dirs) -> None:
    backend = VLLMBackend("vllm/tiny", tokenizer_dirs["plain"], max_length=1024)
    sampled = GenerationParams(temperature=0.7, top_p=0.9, max_tokens=12, stop=("\n\n", "Q:"), n=3, seed=5)
    prompt = "Question: Which gas do plants absorb?\nAnswer:"
    greedy = GenerationParams(temperature=0.0, max_tokens=None, n=2)
    first, second = ask(
        backend, Request(model="m", prompt=prompt, params=sampled), Request(model="m", prompt=prompt, params=greedy)
    )
    ((prompts, params),) = FakeLLM.instances[0].calls
    assert params[0].given == {"n": 3, "temperature": 0.7, "top_p": 0.9, "max_tokens": 12, "stop": ["\n\n", "Q:"],
                               "seed": 5}  # fmt: skip
    # greedy decoding runs once and its answer is repeated; no max_tokens: lm-eval's 256
    assert params[1].given == {"n": 1, "temperature": 0.0, "top_p": 1.0, "max_tokens": 256, "stop": [], "seed": None}
    ids = tokenizer(tokenizer_dirs["plain"]).encode(prompt)
    assert prompts == [{"prompt_token_ids": ids}] * 2 and ids[0] == backend.tokenizer.bos_token_id
    assert [c.text for c in first.completions] == [f"answer {k} after {len(ids)} tokens" for k in range(3)]
    assert [c.text for c in second.completions] == [f"answer 0 after {len(ids)} tokens"] * 2
    assert first.prompt_tokens == len(ids) and first.completion_tokens == 12 and second.completion_tokens == 8
    assert all(c.finish_reason == "stop" and not c.incomplete for c in (*first.completions, *second.completions))


def test_chat_prompts_are_the_templates_own_ids_without_an_extra_bos(fake_vllm, tokenizer_dirs) -> None:
    messages = (Message("system", "Answer with a number."), Message("user", "What is 7 times 8?"))
    chat = Request(model="m", messages=messages, params=GenerationParams(max_tokens=8))
    for name in TEMPLATES:
        tok = tokenizer(tokenizer_dirs[name])
        backend = VLLMBackend("vllm/tiny", tokenizer_dirs[name])
        ask(backend, chat)
        ((prompts, _),) = FakeLLM.instances[-1].calls
        ids = prompts[0]["prompt_token_ids"]
        as_hf = tok.apply_chat_template([{"role": m.role, "content": m.content} for m in messages],
                                        tokenize=True, add_generation_prompt=True)  # fmt: skip
        if not isinstance(as_hf, list):  # newer transformers give a BatchEncoding
            as_hf = as_hf["input_ids"]
        assert ids == list(as_hf), name
        assert ids.count(tok.bos_token_id) == (1 if name == "bos" else 0), name
    # no template: "Role: content" text with the tokenizer's BOS, as a completion prompt
    backend = VLLMBackend("vllm/tiny", tokenizer_dirs["plain"])
    ask(backend, chat)
    ((prompts, _),) = FakeLLM.instances[-1].calls
    plain = "System: Answer with a number.\n\nUser: What is 7 times 8?\n\nAssistant:"
    assert prompts[0]["prompt_token_ids"] == tokenizer(tokenizer_dirs["plain"]).encode(plain)
    with pytest.raises(VLLMUnavailable, match="no chat template"):
        VLLMBackend("vllm/tiny", tokenizer_dirs["plain"], chat_template=True)


def test_a_cut_answer_is_marked_as_the_endpoint_backend_marks_it(fake_vllm, tokenizer_dirs, monkeypatch) -> None:
    """Thinking cut by the token limit is incomplete (no answer to extract); a plain answer cut short is kept."""
    thinking_reply = ("<think>the sum is still being worked", [11, 12, 13, 14], "length")
    monkeypatch.setattr(FakeLLM, "reply", staticmethod(lambda ids, params, k: thinking_reply))
    backend = VLLMBackend("vllm/tiny", tokenizer_dirs["plain"])
    (thinking,) = ask(backend, Request(model="m", prompt="Q: 2+2?\nA:", params=GenerationParams(max_tokens=4)))
    assert thinking.first.incomplete and thinking.first.text == "" and thinking.first.finish_reason == "length"
    assert thinking.first.reasoning == "the sum is still being worked"
    monkeypatch.setattr(FakeLLM, "reply", staticmethod(lambda ids, params, k: ("Paris is", [15, 16], "length")))
    backend = VLLMBackend("vllm/tiny", tokenizer_dirs["plain"])
    (cut,) = ask(backend, Request(model="m", prompt="Capital of France?", params=GenerationParams(max_tokens=2)))
    assert cut.first.text == "Paris is" and cut.first.finish_reason == "length" and not cut.first.incomplete


def test_a_prompt_over_the_window_is_cut_from_the_left_and_one_without_room_is_refused(fake_vllm, tokenizer_dirs):
    backend = VLLMBackend("vllm/tiny", tokenizer_dirs["plain"])
    long = "Question: " + "the quick brown fox jumps over the lazy dog " * 60 + "\nAnswer:"
    ok, refused = ask(
        backend,
        Request(model="m", prompt=long, params=GenerationParams(max_tokens=16)),
        Request(model="m", prompt="Hi", params=GenerationParams(max_tokens=WINDOW)),
    )
    ((prompts, _),) = FakeLLM.instances[0].calls
    ids = tokenizer(tokenizer_dirs["plain"]).encode(long)
    assert prompts == [{"prompt_token_ids": ids[-(WINDOW - 16) :]}] and ok.prompt_tokens == WINDOW - 16
    assert isinstance(refused, BadRequest) and "leaves no room for a prompt" in str(refused)


# -- log-likelihoods -------------------------------------------------------------------------------------------------

CONTEXT = (
    "The following are multiple choice questions (with answers) about astronomy.\n\n"
    "Question: Which planet is red?\nAnswer:"
)
CHOICES = (" A", " B", " C", " D", " Mars", " Jupiter", " the Sun", " Venus and Earth", " 42", " none of these")


def test_continuation_loglikelihoods_are_sums_of_prompt_logprobs(fake_vllm, tokenizer_dirs) -> None:
    tok = tokenizer(tokenizer_dirs["plain"])
    backend = VLLMBackend("vllm/tiny", tokenizer_dirs["plain"])
    long_context = "Question: " + "the quick brown fox jumps over the lazy dog " * 60 + "\nAnswer:"
    short, long = ask(
        backend,
        Request(model="m", prompt=CONTEXT, continuations=CHOICES),
        Request(model="m", prompt=long_context, continuations=(" yes", " no")),
    )
    ((prompts, params),) = FakeLLM.instances[0].calls
    assert len(prompts) == len(CHOICES) + 2
    assert all(
        p.given == {"max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 1, "detokenize": False} for p in params
    )
    assert [p["prompt_token_ids"] for p in prompts[: len(CHOICES)]] == [tok.encode(CONTEXT + c) for c in CHOICES]
    for got, choice in zip(short.loglikelihoods, CHOICES, strict=True):
        logprob, greedy, truncated = expected_loglikelihood(tok, CONTEXT, choice)
        assert (got.logprob, got.greedy, got.truncated) == (logprob, greedy, truncated) == (logprob, greedy, 0)
        assert got.tokens == len(tok.encode(CONTEXT + choice)) - len(tok.encode(CONTEXT))
        assert (got.chars, got.bytes) == (len(choice), len(choice.encode()))
    assert {x.greedy for x in short.loglikelihoods} == {True, False}  # both outcomes are exercised
    assert short.prompt_tokens == len(tok.encode(CONTEXT))
    # over the window: the whole is cut to the last max_model_len tokens (lm-eval's vllm rule), counted
    for got, choice in zip(long.loglikelihoods, (" yes", " no"), strict=True):
        logprob, greedy, truncated = expected_loglikelihood(tok, long_context, choice)
        assert truncated > 0 and (got.logprob, got.greedy, got.truncated) == (logprob, greedy, truncated)
    assert [len(p["prompt_token_ids"]) for p in prompts[len(CHOICES) :]] == [WINDOW, WINDOW]


def test_a_chat_context_is_rendered_by_the_template_and_scored_as_a_prompt(fake_vllm, tokenizer_dirs) -> None:
    tok = tokenizer(tokenizer_dirs["bos"])
    messages = (Message("user", "Which planet is red?"),)
    rendered = tok.apply_chat_template([{"role": "user", "content": "Which planet is red?"}], tokenize=False,
                                       add_generation_prompt=True)  # fmt: skip
    backend = VLLMBackend("vllm/tiny", tokenizer_dirs["bos"])
    chat, prompt = ask(
        backend,
        Request(model="m", messages=messages, continuations=(" Mars", " Venus")),
        Request(model="m", prompt=rendered, continuations=(" Mars", " Venus")),
    )
    assert chat.loglikelihoods == prompt.loglikelihoods
    ((prompts, _),) = FakeLLM.instances[0].calls
    assert prompts[0]["prompt_token_ids"].count(tok.bos_token_id) == 1  # the template's BOS, not one more
    plain = VLLMBackend("vllm/tiny", tokenizer_dirs["plain"])
    (refused,) = ask(plain, Request(model="m", messages=messages, continuations=(" Mars",)))
    assert isinstance(refused, BadRequest) and "chat templates are off" in str(refused)


def test_rolling_loglikelihood_sums_every_token_in_windows(fake_vllm, tokenizer_dirs) -> None:
    tok = tokenizer(tokenizer_dirs["plain"])
    backend = VLLMBackend("vllm/tiny", tokenizer_dirs["plain"])
    text = "the quick brown fox jumps over the lazy dog " * 12

    async def go() -> float:
        try:
            return await backend.loglikelihood_rolling(text)
        finally:
            await backend.aclose()

    total = asyncio.run(go())
    tokens = tok.encode(text)  # as the hf backend's encoder gives them (here with the tokenizer's BOS)
    assert WINDOW < len(tokens) < 2 * (WINDOW - 1)  # two windows
    prompts = [p["prompt_token_ids"] for call, _ in FakeLLM.instances[0].calls for p in call]
    # every token scored once: the first window after BOS, the next ones after the tokens before them
    assert [p[-1] for p in prompts] == [tokens[WINDOW - 2], tokens[-1]] and all(len(p) <= WINDOW for p in prompts)
    first = [tok.bos_token_id, *tokens[: WINDOW - 1]]
    expected = sum(fake_logprob(p, first[p - 1], first[p]) for p in range(1, len(first)))
    rest = tokens[-WINDOW:]
    n = len(tokens) - (WINDOW - 1)
    expected += sum(fake_logprob(p, rest[p - 1], rest[p]) for p in range(len(rest) - n, len(rest)))
    assert total == pytest.approx(expected, abs=1e-9)


# -- batching --------------------------------------------------------------------------------------------------------


def test_concurrent_requests_go_to_vllm_as_one_generate_call(fake_vllm, tokenizer_dirs) -> None:
    backend = VLLMBackend("vllm/tiny", tokenizer_dirs["plain"])
    requests = [Request(model="m", prompt=f"Q: what is {i} plus {i}?\nA:", params=GenerationParams(max_tokens=8))
                for i in range(8)]  # fmt: skip
    requests += [
        Request(model="m", prompt=f"Question {i}:\nAnswer:", continuations=(" A", " B", " C")) for i in range(6)
    ]
    requests.append(Request(model="m", prompt="x", continuations=("",)))  # adds no token: refused alone
    answers = ask(backend, *requests)
    assert backend.batches_run == 1 and len(FakeLLM.instances[0].calls) == 1
    ((prompts, _),) = FakeLLM.instances[0].calls
    assert len(prompts) == 8 + 6 * 3
    assert all(len(a.completions) == 1 for a in answers[:8]) and all(len(a.loglikelihoods) == 3 for a in answers[8:14])
    assert isinstance(answers[-1], BadRequest) and "adds no tokens" in str(answers[-1])
    # each caller gets the answer to its own prompt
    tok = tokenizer(tokenizer_dirs["plain"])
    for request, answer in zip(requests[:8], answers[:8], strict=True):
        assert answer.first.text == f"answer 0 after {len(tok.encode(request.prompt))} tokens"
    for request, answer in zip(requests[8:14], answers[8:14], strict=True):
        want = [expected_loglikelihood(tok, request.prompt, c)[0] for c in request.continuations]
        assert [x.logprob for x in answer.loglikelihoods] == want


# -- the bundled backend: registry, spec, errors --------------------------------------------------------------------


def test_vllm_is_a_bundled_backend(fake_vllm, tokenizer_dirs) -> None:
    assert VLLMBackend.supports == BUILTIN_SUPPORTS["vllm"] >= {GENERATE, LOGLIKELIHOOD}
    spec = ModelSpec(id=f"vllm/{tokenizer_dirs['plain']}", dtype="bfloat16", max_length=512)
    assert backend_supports(spec) == VLLMBackend.supports
    # the dtype and the window key the cache
    assert spec.endpoint == f"vllm:{tokenizer_dirs['plain'].resolve()};dtype=bfloat16;max_length=512"
    assert ModelSpec(id="vllm/Qwen/Qwen2.5-0.5B-Instruct").endpoint == "vllm:Qwen/Qwen2.5-0.5B-Instruct"
    check_backend(spec)
    backend = create_backend(spec)
    assert isinstance(backend, VLLMBackend) and backend.max_length == 512
    assert FakeLLM.instances[0].kwargs == {"dtype": "bfloat16", "seed": 0, "gpu_memory_utilization": 0.9,
                                           "tensor_parallel_size": 1, "trust_remote_code": False,
                                           "max_model_len": 512}  # fmt: skip
    assert FakeLLM.instances[0].model == str(tokenizer_dirs["plain"].resolve())
    asyncio.run(backend.aclose())
    with pytest.raises(ValueError, match="does not exist"):
        check_backend(ModelSpec(id="vllm//no/such/checkpoint"))
    with pytest.raises(ValueError, match=r"device \(options of hf/ models\) cannot be used with vLLM"):
        check_backend(ModelSpec(id=f"vllm/{tokenizer_dirs['plain']}", device="cpu"))
    with pytest.raises(ValueError, match="served_name"):
        ModelSpec(id="vllm/m", served_name="other")


def test_without_vllm_or_without_a_gpu_the_error_says_what_is_missing(tokenizer_dirs, monkeypatch) -> None:
    import torch

    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm fails, as where it is not installed
    hint = r"the vllm backend needs vLLM and a GPU: pip install 'tianping\[vllm\]'"
    spec = ModelSpec(id=f"vllm/{tokenizer_dirs['plain']}")
    for attempt in (lambda: VLLMBackend("vllm/x", tokenizer_dirs["plain"]), lambda: create_backend(spec),
                    lambda: check_backend(spec)):  # fmt: skip
        with pytest.raises(VLLMUnavailable, match=hint):
            attempt()
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(VLLMUnavailable, match=r"needs a CUDA GPU.*torch.cuda.is_available\(\) is False"):
        create_backend(spec)


# -- the real vLLM, on a GPU ---------------------------------------------------------------------------------------


def _no_real_vllm() -> str | None:
    """Why the real vLLM cannot run here, or None when it can."""
    try:
        installed = importlib.util.find_spec("vllm") is not None
    except (ImportError, ValueError):
        installed = False
    if not installed:
        return "vLLM is not installed (pip install 'tianping[vllm]')"
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA GPU (torch.cuda.is_available() is False)"
    return None


@pytest.mark.skipif(_no_real_vllm() is not None, reason=f"the real vLLM test needs vLLM and a GPU: {_no_real_vllm()}")
def test_real_vllm_scores_mmlu_as_the_transformers_backend(tmp_path, data_dir, monkeypatch) -> None:
    """Runs only where vLLM is installed and a CUDA GPU is visible (on this project's machines: when a GPU is lent
    to the task). The tiny random Llama of ``hf_fixtures`` answers 20 MMLU items in log-likelihood mode through
    ``vllm/<dir>`` and through ``hf/<dir>`` (on the CPU); every choice's log-likelihood must agree within 1e-3.
    The model is built with a 64-wide attention head (a size every vLLM attention kernel takes) and a window of
    4096 tokens, so that no 5-shot prompt is cut (vLLM's window keeps one token fewer than transformers')."""
    import torch

    from hf_fixtures import tiny_llama
    from tianping.engine.runner import Runner, start_run
    from tianping.spec import RunSpec
    from tianping.store import Store

    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the engine in this process: simpler to clean up
    tok: Any = build_tokenizer(data_dir)
    torch.manual_seed(0)
    model = tiny_llama(tok, max_positions=4096, head_dim=64, pad_token_id=tok.pad_token_id)
    model_dir = tmp_path / "tiny"
    model.save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    hf_id, vllm_id = f"hf/{model_dir}", f"vllm/{model_dir}"
    spec = RunSpec(
        models=[ModelSpec(id=hf_id, device="cpu", batch_size=8), ModelSpec(id=vllm_id, dtype="float32")],
        benchmarks=["mmlu"],
        data_dir=str(data_dir),
        limit=20,
        mode="loglikelihood",
    )
    store = Store.open(tmp_path / "results")
    run_id = start_run(store, spec)
    result = asyncio.run(Runner(spec, store, run_id).execute())
    assert result.status == "completed", result.message
    rows: dict[str, dict[str, list[float]]] = {}
    for row in store.sample_rows(run_id):
        rows.setdefault(row["model"], {})[row["sample_id"]] = json.loads(row["output"])
    assert len(rows[hf_id]) == len(rows[vllm_id]) == 20 and rows[hf_id].keys() == rows[vllm_id].keys()
    for sample_id, want in rows[hf_id].items():
        assert rows[vllm_id][sample_id] == pytest.approx(want, abs=1e-3), sample_id
