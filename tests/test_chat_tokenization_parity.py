"""Chat prompts reach a local model as the model's own server feeds them (issue 25).

A rendered chat template already holds the special tokens the model expects; tokenizing it with the
tokenizer's special tokens on top put a BOS the template does not write in front of chat prompts. Two tiny
models share one set of random weights and a tokenizer that adds BOS by default; their chat templates
differ in whether they write ``{{ bos_token }}`` themselves. For both:

- the ids tianping feeds ``generate`` for a chat request are ``apply_chat_template(tokenize=True)``'s;
  a completion prompt (and a chat rendered without a template) still gets the tokenizer's BOS;
- greedy outputs, prompt token counts and completion token counts equal what ``transformers serve``
  returns for the same chat and completion requests (skipped without ``transformers[serving]``).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import torch

from hf_fixtures import build_tokenizer, tiny_llama
from tianping.core import GenerationParams, Message, Request
from tianping.models.hf_local import HFLocalBackend

BODY_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
TEMPLATES = {"no_bos": BODY_TEMPLATE, "bos": "{{ bos_token }}" + BODY_TEMPLATE}
"""The first like ChatML (no BOS written), the second like Llama 3 (the template starts with BOS)."""

CHATS = [
    [("user", "Natalia sold clips to 48 of her friends in April. How many clips did she sell?")],
    [("user", "What is 7 times 8?")],
    [("system", "Answer with a number."), ("user", "A farmer has 12 cows and buys 5 more. How many now?")],
    [("user", "Weng earns $12 an hour for babysitting. Yesterday she did 50 minutes. How much did she earn?")],
    [("user", "Betty needs $100 for a wallet and has half of it. How much more does she need?")],
    [("user", "Which gas do plants absorb?")],
]
COMPLETIONS = ["Question: Which gas do plants absorb?\nAnswer:", "Q: What is 2 plus 3?\nA:"]
MAX_TOKENS = 16
SERVER_START_S = 90.0
REQUEST_TIMEOUT_S = 60.0


def build_parity_models(out: Path, data_dir: Path) -> dict[str, Path]:
    """One seeded random Llama saved twice, with each chat template; the tokenizer adds BOS by default
    (as Llama's does), so an extra BOS is visible in the ids and changes the greedy continuation."""
    from tokenizers import processors
    from transformers import GenerationConfig

    tokenizer = build_tokenizer(data_dir)
    bos = tokenizer.bos_token_id
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", bos)]
    )
    tokenizer.pad_token = None  # like Llama: nothing but EOS ends a generation, here and in the server
    torch.manual_seed(1234)
    # wide logit margins (tiny_llama scales the head): greedy picks stay the same under batching's padding
    model = tiny_llama(tokenizer, max_positions=512)
    model.generation_config = GenerationConfig(bos_token_id=bos, eos_token_id=tokenizer.eos_token_id, do_sample=False)
    dirs = {}
    for name, template in TEMPLATES.items():
        path = out / name
        model.save_pretrained(path)  # float32 weights: the server's dtype "auto" loads them as float32 too
        tokenizer.chat_template = template
        tokenizer.save_pretrained(path)
        dirs[name] = path
    return dirs


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, Path]:
    return build_parity_models(tmp_path_factory.mktemp("chat_parity"), data_dir)


def _messages(chat: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"role": role, "content": content} for role, content in chat]


def _chat_request(chat: list[tuple[str, str]]) -> Request:
    return Request(
        model="hf/t",
        messages=tuple(Message(role, content) for role, content in chat),
        params=GenerationParams(max_tokens=MAX_TOKENS, temperature=0.0),
    )


def _completion_request(prompt: str) -> Request:
    return Request(model="hf/t", prompt=prompt, params=GenerationParams(max_tokens=MAX_TOKENS, temperature=0.0))


def _template_ids(tokenizer: Any, chat: list[tuple[str, str]]) -> list[int]:
    rendered = tokenizer.apply_chat_template(
        _messages(chat), tokenize=True, add_generation_prompt=True, return_dict=True
    )
    return list(rendered["input_ids"])


def _run_spied(backend: HFLocalBackend, requests: list[Request]) -> tuple[list[Any], list[list[int]]]:
    """Answer the requests concurrently (so they are batched, left-padded) and return the responses and
    the unpadded token ids of every row that reached ``model.generate``."""
    model = backend.loaded.model
    real = model.generate
    fed: list[list[int]] = []

    def spy(*args: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs: Any) -> Any:
        for row, mask in zip(input_ids.tolist(), attention_mask.tolist(), strict=True):
            fed.append([t for t, keep in zip(row, mask, strict=True) if keep])
        return real(*args, input_ids=input_ids, attention_mask=attention_mask, **kwargs)

    model.generate = spy

    async def ask() -> list[Any]:
        try:
            return list(await asyncio.gather(*(backend.generate(r) for r in requests)))
        finally:
            await backend.aclose()

    try:
        return asyncio.run(ask()), fed
    finally:
        del model.generate


def test_chat_prompt_ids_are_the_templates_own_and_completions_keep_bos(models: dict[str, Path]) -> None:
    for name, path in models.items():
        backend = HFLocalBackend("hf/t", path, device="cpu")
        tokenizer = backend.loaded.tokenizer
        bos = tokenizer.bos_token_id
        chats = [_chat_request(c) for c in CHATS]
        completions = [_completion_request(p) for p in COMPLETIONS]
        responses, fed = _run_spied(backend, chats + completions)
        want_chat = [_template_ids(tokenizer, c) for c in CHATS]
        want_completion = [tokenizer(p)["input_ids"] for p in COMPLETIONS]
        assert sorted(fed) == sorted(want_chat + want_completion), name
        assert [r.prompt_tokens for r in responses] == [len(ids) for ids in want_chat + want_completion]
        for ids in want_chat:  # exactly the BOS the template writes, never one more
            assert ids.count(bos) == (1 if name == "bos" else 0), name
            assert (ids[0] == bos) == (name == "bos"), name
        for ids in want_completion:  # a plain prompt keeps the tokenizer's default BOS, as lm-eval gives it
            assert ids[0] == bos and ids.count(bos) == 1

        plain = HFLocalBackend("hf/t", path, device="cpu", chat_template=False)
        (response,), (ids,) = _run_spied(plain, [chats[0]])
        assert ids == tokenizer(plain.loaded.job(chats[0]).prompt)["input_ids"] and ids[0] == bos
        assert response.prompt_tokens == len(ids)


def test_an_extra_bos_changes_the_fixture_models_answers(models: dict[str, Path]) -> None:
    """The parity test below can only catch a stray BOS if the models answer differently with one."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = models["no_bos"]
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    right = [_template_ids(tokenizer, chat) for chat in CHATS]
    prompts = right + [[tokenizer.bos_token_id, *ids] for ids in right]
    width = max(len(p) for p in prompts)
    # one left-padded call (a row per prompt) instead of one call per prompt: generate is slow on CPU
    input_ids = torch.tensor([[tokenizer.eos_token_id] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    with torch.inference_mode():
        out = model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=MAX_TOKENS, do_sample=False)
    answers = out[:, width:].tolist()
    changed = sum(a != b for a, b in zip(answers[: len(CHATS)], answers[len(CHATS) :], strict=True))
    assert changed >= len(CHATS) // 2


# --- transformers serve -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as reply:
        return json.load(reply)


def _served(reply: dict[str, Any], *, chat: bool) -> tuple[str, int, int, str]:
    """Text, prompt tokens, completion tokens and finish reason of a server reply."""
    choice, usage = reply["choices"][0], reply["usage"]
    text = choice["message"]["content"] if chat else choice["text"]
    return text, usage["prompt_tokens"], usage["completion_tokens"], choice["finish_reason"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``transformers serve`` on 127.0.0.1, started once for the module; models load on first request."""
    for module in ("fastapi", "uvicorn", "openai"):
        pytest.importorskip(module, reason="transformers serve needs transformers[serving]")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    # offline: no Hub lookup and no update check at start-up
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_DISABLE_UPDATE_CHECK="1", TRANSFORMERS_VERBOSITY="error")
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--device", "cpu", "--log-level", "warning"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"transformers serve exited ({process.returncode}):\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve not up in {SERVER_START_S:g}s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _ask_server(base: str, path: Path) -> list[tuple[str, int, int, str]]:
    """The server's answers to every chat, then every completion prompt, for the model at ``path``."""
    common = {"model": str(path), "max_tokens": MAX_TOKENS, "temperature": 0}
    chats = [_post(base + "/v1/chat/completions", {**common, "messages": _messages(c)}) for c in CHATS]
    completions = [_post(base + "/v1/completions", {**common, "prompt": p}) for p in COMPLETIONS]
    return [_served(d, chat=True) for d in chats] + [_served(d, chat=False) for d in completions]


@pytest.fixture(scope="module")
def served(server: str, models: dict[str, Path]) -> dict[str, list[tuple[str, int, int, str]]]:
    # the server runs each model in a process of its own: asking both at once overlaps their loading
    with ThreadPoolExecutor(max_workers=len(models)) as pool:
        futures = {name: pool.submit(_ask_server, server, path) for name, path in models.items()}
        return {name: future.result(timeout=2 * REQUEST_TIMEOUT_S) for name, future in futures.items()}


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_greedy_outputs_and_token_counts_match_transformers_serve(
    models: dict[str, Path], served: dict[str, list[tuple[str, int, int, str]]], template: str
) -> None:
    path = models[template]
    backend = HFLocalBackend("hf/t", path, device="cpu")
    tokenizer = backend.loaded.tokenizer
    responses, fed = _run_spied(
        backend, [_chat_request(c) for c in CHATS] + [_completion_request(p) for p in COMPLETIONS]
    )
    want_chat = [_template_ids(tokenizer, c) for c in CHATS]
    assert sorted(fed) == sorted(want_chat + [tokenizer(p)["input_ids"] for p in COMPLETIONS])

    ours = [(r.first.text, r.prompt_tokens, r.completion_tokens, r.first.finish_reason) for r in responses]
    assert ours == served[template]
    assert [r.prompt_tokens for r in responses[: len(CHATS)]] == [len(ids) for ids in want_chat]
    assert len({text for text, *_ in ours}) == len(ours), "the fixture should answer each prompt differently"
