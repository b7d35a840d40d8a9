"""Log-likelihood contexts as a chat (``--apply-chat-template``, ``--fewshot-as-multiturn``,
``--system-instruction``) give lm-evaluation-harness 0.4.13's contexts and log-likelihoods.

lm-eval's own MMLU task (its YAML, the shared data swapped in) builds each 2-shot context with
``fewshot_context(..., apply_chat_template=True, chat_template=HFLM.apply_chat_template)`` and its
continuations with ``construct_requests(..., apply_chat_template=True)``; HFLM scores them. Ours: the request
the benchmark builds (a chat and its continuations), rendered and scored by the hf backend as a run creates it.
The tiny model has a chat template that writes every role, so that the system turn and the turns of the shots
show in the rendered text."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from hf_fixtures import CHAT_TEMPLATE, tiny_model_dir, tokenizer_variant  # noqa: F401 - a fixture
from tianping.benchmarks import registry
from tianping.benchmarks.loglikelihood import ContextOptions
from tianping.core import GenerationParams, Request
from tianping.core.task import LOGLIKELIHOOD_CHAT
from tianping.engine.backends import create_backend
from tianping.models.hf_tokens import render_chat_context
from tianping.spec import ModelSpec

os.environ.setdefault("HF_HUB_OFFLINE", "1")
try:  # HFLM needs lm-eval's "hf" extra (accelerate) besides lm_eval itself
    from lm_eval.models.huggingface import HFLM
except ImportError as exc:  # pragma: no cover - CI installs lm_eval[hf]
    pytest.skip(f"lm-eval's HFLM is not importable ({exc}); install lm_eval[hf]", allow_module_level=True)

from test_loglikelihood_lmeval_parity import TASKS, lm_eval_task, mmlu_docs  # noqa: E402

SUBJECTS = ("abstract_algebra", "computer_security")
PER_SUBJECT = 10
SHOTS = 2
CASES = {
    "single turn": ContextOptions(apply_chat_template=True),
    "multiturn": ContextOptions(apply_chat_template=True, fewshot_as_multiturn=True),
    "system, multiturn": ContextOptions(
        apply_chat_template=True, fewshot_as_multiturn=True, system_instruction="You are a careful examiner."
    ),
    "system, single turn": ContextOptions(apply_chat_template=True, system_instruction="Answer with one letter.\n"),
}


@pytest.fixture(scope="module")
def templated(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    return tokenizer_variant(tiny_model_dir, tmp_path_factory.mktemp("chat"), chat_template=CHAT_TEMPLATE)


@pytest.fixture(scope="module")
def hflm(templated: Path) -> HFLM:
    return HFLM(pretrained=str(templated), device="cpu", batch_size=16, dtype="float32")


def lm_eval_side(hflm: HFLM, data_dir: Path, options: ContextOptions) -> dict[str, tuple[str, list, list]]:
    """Per sample id: lm-eval's context, its continuations and HFLM's (log-likelihood, greedy) of each."""
    out = {}
    for subject in SUBJECTS:
        test = mmlu_docs(data_dir / "mmlu" / "test" / f"{subject}_test.csv", subject)[:PER_SUBJECT]
        dev = mmlu_docs(data_dir / "mmlu" / "dev" / f"{subject}_dev.csv", subject)
        task = lm_eval_task(TASKS / "mmlu" / "default" / f"mmlu_{subject}.yaml", {"test": test, "dev": dev})
        for i, doc in enumerate(test):
            context = task.fewshot_context(
                doc,
                num_fewshot=SHOTS,
                system_instruction=options.system_instruction,
                apply_chat_template=True,
                fewshot_as_multiturn=options.fewshot_as_multiturn,
                chat_template=hflm.apply_chat_template,
            )
            instances = task.construct_requests(doc, context, apply_chat_template=True)
            scored = hflm.loglikelihood(instances, disable_tqdm=True)
            out[f"{subject}/{i}"] = (context, [x.arguments[1] for x in instances], scored)
    return out


def our_side(templated: Path, data_dir: Path, options: ContextOptions) -> dict[str, tuple[str, list, list]]:
    (bench,) = registry.build("mmlu_5shot", data_dir, mode="loglikelihood")
    bench = bench.configure(num_fewshot=SHOTS, options=options).load(PER_SUBJECT, "per-subject")
    assert LOGLIKELIHOOD_CHAT in bench.requires
    samples = [s for s in bench.samples if s.meta["subject"] in SUBJECTS]
    requests = [bench.build_request(s, "hf/t", GenerationParams()) for s in samples]
    assert all(r.messages is not None and r.prompt is None for r in requests)
    backend = create_backend(ModelSpec(id=f"hf/{templated}", device="cpu", batch_size=8))
    assert LOGLIKELIHOOD_CHAT in backend.supports

    async def ask() -> list:
        try:
            return list(await asyncio.gather(*(backend.generate(r) for r in requests)))
        finally:
            await backend.aclose()

    tokenizer = backend.loaded.tokenizer  # type: ignore[attr-defined]
    responses = asyncio.run(ask())
    return {
        s.id: (
            render_chat_context(tokenizer, r.messages),
            list(r.continuations),
            [(x.logprob, x.greedy) for x in response.loglikelihoods],
        )
        for s, r, response in zip(samples, requests, responses, strict=True)
    }


@pytest.mark.parametrize("case", list(CASES))
def test_chat_contexts_and_loglikelihoods_equal_lm_evals(case, templated, hflm, data_dir):
    options = CASES[case]
    expected = lm_eval_side(hflm, data_dir, options)
    got = our_side(templated, data_dir, options)
    assert set(got) == set(expected) and len(got) == len(SUBJECTS) * PER_SUBJECT
    for sample_id, (context, continuations, scored) in expected.items():
        our_context, our_continuations, our_scored = got[sample_id]
        assert our_context == context, sample_id
        assert our_continuations == continuations == ["A", "B", "C", "D"], sample_id
        for (e, eg), (g, gg) in zip(scored, our_scored, strict=True):
            assert abs(e - g) <= 1e-4, (sample_id, e, g)
            assert eg == gg, sample_id
    first = expected[f"{SUBJECTS[0]}/0"][0]
    assert first.endswith("<|assistant|>") and first.count("<|user|>") == (SHOTS + 1 if "multiturn" in case else 1)
    assert ("<|system|>" + (options.system_instruction or "The following")) in first


def test_a_chat_context_is_refused_where_it_cannot_be_rendered(tiny_model_dir):  # noqa: F811
    """Without a chat template (or with templates turned off) a chat context is that sample's error."""
    from tianping.models.errors import BadRequest

    request = Request(model="hf/t", messages=(), continuations=("A",))
    for spec in (
        ModelSpec(id=f"hf/{tiny_model_dir}", device="cpu"),
        ModelSpec(id=f"hf/{tiny_model_dir}", device="cpu", chat_template=False),
    ):
        backend = create_backend(spec)

        async def ask(backend=backend) -> None:
            try:
                await backend.generate(request)
            finally:
                await backend.aclose()

        with pytest.raises(BadRequest, match="chat"):
            asyncio.run(ask())


def test_the_version_and_the_openai_backend_say_chat_contexts_apart(data_dir):
    (plain,) = registry.build("mmlu", data_dir, mode="loglikelihood")
    (chat,) = registry.build("mmlu", data_dir, mode="loglikelihood")
    chat.configure(options=CASES["system, multiturn"])
    assert plain.version == "1.0+loglikelihood"
    assert chat.version.startswith("1.0+loglikelihood+system-") and chat.version.endswith("+chat-multiturn")
    from tianping.models.registry import backend_supports

    endpoint = ModelSpec(id="openai/m", base_url="http://127.0.0.1:9", completions_logprobs=True)
    assert LOGLIKELIHOOD_CHAT not in backend_supports(endpoint)
    assert LOGLIKELIHOOD_CHAT in backend_supports(ModelSpec(id="ref/x"))


def test_a_system_instruction_without_a_chat_template_starts_lm_evals_plain_context(data_dir):
    subject = SUBJECTS[0]
    test = mmlu_docs(data_dir / "mmlu" / "test" / f"{subject}_test.csv", subject)[:5]
    dev = mmlu_docs(data_dir / "mmlu" / "dev" / f"{subject}_dev.csv", subject)
    task = lm_eval_task(TASKS / "mmlu" / "default" / f"mmlu_{subject}.yaml", {"test": test, "dev": dev})
    (bench,) = registry.build("mmlu_5shot", data_dir, mode="loglikelihood")
    bench = bench.configure(num_fewshot=SHOTS, options=ContextOptions(system_instruction="Be brief.")).load(5, "first")
    for i, doc in enumerate(test):
        context = task.fewshot_context(doc, num_fewshot=SHOTS, system_instruction="Be brief.")
        request = bench.build_request(
            next(s for s in bench.samples if s.id == f"{subject}/{i}"), "m", GenerationParams()
        )
        assert request.prompt == context and context.startswith("Be brief.\n\nThe following")
        assert request.continuations == tuple(x.arguments[1] for x in task.construct_requests(doc, context))
