"""Wrapper detection: the known tokenizer table is recomputed from its sources, the evidence is read and scored
by the documented rule, and ``tianping fidelity wrapper`` tells a genuine endpoint from one that wraps another
family's model under the claimed name, over real HTTP, with real tokenizers counting the prompts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine_helpers import cli
from fake_openai import in_background, last_user_text
from fidelity_fakes import FidelityServer
from tianping.fidelity.families import family_of, mentioned_families
from tianping.fidelity.tokenizer_table import KNOWN, QWEN_SPLIT, fingerprint_of_file, fingerprint_with
from tianping.fidelity.wrapper import CUTOFF_PROBES, IDENTITY_PROBES, REFUSAL_PROBES, parse_cutoff, score_wrapper

TP_REF = Path(__file__).resolve().parents[1] / "src" / "tianping" / "refmodels" / "tp-ref-clean" / "tokenizer.json"


def _tp_ref_counter() -> Callable[[str], int]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(TP_REF))
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


def test_the_bundled_reference_tokenizer_entry_is_what_its_tokenizer_file_gives() -> None:
    assert KNOWN["tp-ref"].fingerprint == fingerprint_of_file(TP_REF)


def test_the_qwen_entry_is_what_qwens_tiktoken_file_gives() -> None:
    tiktoken = pytest.importorskip("tiktoken")
    resources = pytest.importorskip("dashscope")
    from tiktoken.load import load_tiktoken_bpe

    path = Path(resources.__file__).parent / "resources" / "qwen.tiktoken"
    if not path.exists():
        pytest.skip("dashscope ships no qwen.tiktoken here")
    encoding = tiktoken.Encoding(
        "qwen", pat_str=QWEN_SPLIT, mergeable_ranks=load_tiktoken_bpe(str(path)), special_tokens={}
    )
    assert KNOWN["qwen"].fingerprint == fingerprint_with(lambda text: len(encoding.encode(text)))


def test_family_names_are_read_in_english_and_chinese() -> None:
    assert family_of("Qwen2.5-72B-Instruct") == "qwen" and family_of("gpt-4o-mini") == "openai-gpt"
    assert family_of("deepseek-chat") == "deepseek" and family_of("my-own-model") is None
    assert mentioned_families("我是通义千问，由阿里云开发。") == ["qwen"]
    assert mentioned_families("I am ChatGPT, trained by OpenAI.") == ["openai-gpt"]
    assert mentioned_families("我是由智谱AI开发的ChatGLM。") == ["glm"]


def test_stated_knowledge_cutoffs_are_parsed_in_several_forms() -> None:
    assert parse_cutoff("My knowledge cutoff is 2023-10.") == (2023, 10)
    assert parse_cutoff("我的训练数据截止到2024年6月。") == (2024, 6)
    assert parse_cutoff("As of April 2024, ...") == (2024, 4)
    assert parse_cutoff("Up to 2021.") == (2021, 6)
    assert parse_cutoff("I do not know.") is None


def test_scores_follow_the_rule_tokenizer_outweighs_identity_and_no_evidence_is_inconclusive() -> None:
    qwen = list(KNOWN["qwen"].fingerprint)
    tp = list(KNOWN["tp-ref"].fingerprint)
    ok = score_wrapper(
        "qwen2.5-7b-instruct", fingerprint=qwen, identity=["我是通义千问。"] * 4, refusals=[], cutoffs=[]
    )
    assert ok.verdict == "consistent" and ok.scores["qwen"] == pytest.approx(5.0)
    # the model calls itself Qwen, but its tokenizer is another family's: the tokenizer wins
    liar = score_wrapper("qwen2.5-7b-instruct", fingerprint=tp, identity=["I am Qwen."] * 4, refusals=[], cutoffs=[])
    assert liar.verdict == "another family: tp-ref" and liar.scores["qwen"] == pytest.approx(-1.0)
    # a Qwen model that misnames itself (trained on another vendor's outputs) is not called a wrapper
    confused = score_wrapper(
        "qwen2.5-7b-instruct", fingerprint=qwen, identity=["I am ChatGPT."] * 4, refusals=[], cutoffs=[]
    )
    assert confused.verdict == "consistent"
    blind = score_wrapper("qwen2.5-7b-instruct", fingerprint=None, identity=[], refusals=[], cutoffs=[])
    assert blind.verdict == "inconclusive"
    stale = score_wrapper(
        "qwen2.5-7b-instruct", fingerprint=None, identity=["Qwen"] * 2, refusals=[], cutoffs=["2021-09"],
        reference_cutoff=(2024, 6),
    )  # fmt: skip
    assert stale.scores["qwen"] == pytest.approx(1.0) and "vs expected 2024-06" in stale.evidence[-1].detail


def _persona(name: str, maker: str, cutoff: str, refusal: str) -> Callable[[dict[str, Any]], str]:
    def answer(body: dict[str, Any]) -> str:
        text = last_user_text(body)
        if text in IDENTITY_PROBES:
            return f"I am {name}, a large language model created by {maker}."
        if text in REFUSAL_PROBES:
            return refusal
        if text in CUTOFF_PROBES:
            return cutoff
        return "Here is an answer."

    return answer


def _wrapper(server: FidelityServer, model: str, *extra: str) -> dict[str, Any]:
    done = cli("fidelity", "wrapper", "--base-url", server.base_url, "--model", model, "--json", *extra)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_the_wrapper_command_tells_a_genuine_endpoint_from_a_wrapped_one() -> None:
    counter = _tp_ref_counter()
    genuine = _persona("tp-ref-clean", "the tianping project", "2024-05", "I'm sorry, I can't help with that.")
    wrapped = _persona(
        "ChatGPT", "OpenAI", "My knowledge cutoff is 2023-10.", "I'm sorry, as a model developed by OpenAI I can't."
    )
    with (
        in_background(FidelityServer(answer_fn=genuine, tokenizer=counter, overhead=9)) as real,
        in_background(FidelityServer(answer_fn=wrapped, tokenizer="bytes", overhead=3)) as shell,
    ):
        good = _wrapper(real, "tp-ref-clean")
        bad = _wrapper(shell, "tp-ref-clean", "--reference-url", real.base_url)
        text = cli("fidelity", "wrapper", "--base-url", shell.base_url, "--model", "tp-ref-clean")
        extra = cli("fidelity", "wrapper", "--base-url", real.base_url, "--model", "qwen2.5-7b", "--tokenizer", "x")
        added = _wrapper(real, "tp-ref-clean", "--tokenizer", f"tp-copy={TP_REF}")
        missing = cli("fidelity", "wrapper", "--base-url", real.base_url, "--model", "m", "--tokenizer", "a=/no/t.json")
    assert good["verdict"] == "consistent" and good["claimed_family"] == "tp-ref", good
    signals = {e["signal"]: e for e in good["evidence"]}
    assert signals["tokenizer"]["scores"]["tp-ref"] == 3.0 and signals["identity"]["scores"] == {"tp-ref": 2.0}
    assert bad["verdict"] == "another family: openai-gpt", bad
    shown = {e["signal"]: e["detail"] for e in bad["evidence"]}
    assert "probes differ from the reference endpoint's counts" in shown["tokenizer vs reference"]
    assert "makers named: openai-gpt" in shown["refusal"] and "wording similarity" in shown["refusal"]
    assert "stated 2023-10, 2023-10 vs expected 2024-05" in shown["knowledge cutoff"]
    assert text.returncode == 0 and "verdict: another family: openai-gpt" in text.stdout and "identity [" in text.stdout
    assert extra.returncode == 2 and "FAMILY=PATH" in extra.stderr
    tokenizer = next(e for e in added["evidence"] if e["signal"] == "tokenizer")
    assert tokenizer["scores"]["tp-copy"] == 3.0 and "tp-copy 0 of 8 probes differ" in tokenizer["detail"]
    assert missing.returncode == 2 and "/no/t.json: no such tokenizer file" in missing.stderr
