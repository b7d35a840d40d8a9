"""``tianping contamination`` on the bundled reference models, real files and a real local endpoint."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from typer.testing import CliRunner

from fake_openai import LocalAppServer, echo_answer, in_background, running_server
from tianping.cli import app
from tianping.cli.errors import BAD_INPUT, FAILED
from tianping.models.hf_load import REFMODELS_DIR

EXPOSURE = REFMODELS_DIR / "tp-ref-contaminated" / "exposure.json"


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["contamination", *args])


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_white_box_on_the_ladder_writes_every_method_per_item(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "wb.jsonl"
    result = invoke("white-box", "--model", "ref/tp-ref-contaminated", "--reference", "ref/tp-ref-clean",
                    "--benchmark", "gsm8k", "--ladder", "--limit", "4", "--device", "cpu", "--data-dir",
                    str(data_dir), "--out", str(out), "--json", str(tmp_path / "tests.json"))  # fmt: skip
    assert result.exit_code == 0, result.output
    found = rows(out)
    assert len(found) == 24  # 4 items of each of the five tiers and of the unseen half
    assert {r["group"] for r in found} == {"seen-1", "seen-2", "seen-4", "seen-8", "seen-16", "unseen"}
    ladder = json.loads(EXPOSURE.read_text("utf-8"))["datasets"]["gsm8k"]
    tier_of = {i: f"seen-{g['exposures']}" for g in ladder["groups"] for i in g["ids"]} | dict.fromkeys(
        ladder["unseen"], "unseen"
    )
    for r in found:
        assert r["group"] == tier_of[r["id"]]
        assert set(r["scores"]) == {"loss", "zlib", "min_k", "min_k_pp", "ref_ratio", "ref_min_k"}
        assert r["scores"]["loss"] == pytest.approx(-r["values"]["loss"])
        assert r["scores"]["ref_ratio"] == pytest.approx(r["values"]["reference_loss"] - r["values"]["loss"])
    tests = json.loads((tmp_path / "tests.json").read_text())
    assert len(tests) == 6 * 5 and all(0 <= t["p_value"] <= 1 and t["n_fresh"] == 4 for t in tests)
    assert "ref_ratio" in result.output and "seen-16" in result.output


def test_white_box_against_a_fresh_file_and_without_one(tmp_path: Path, data_dir: Path) -> None:
    fresh = tmp_path / "fresh.jsonl"
    fresh.write_text(
        "\n".join(
            json.dumps(
                {
                    "question": f"Question: A shop sells {n} pens for ${n + 3}. How much is one pen?",
                    "answer": f"It costs {n + 3}/{n} dollars.\nThe answer is {n + 3}.",
                }
            )  # fmt: skip
            for n in range(2, 8)
        )
    )
    out = tmp_path / "f.jsonl"
    base = ["--model", "ref/tp-ref-contaminated", "--benchmark", "gsm8k", "--device", "cpu"]
    result = invoke("white-box", *base, "--fresh", str(fresh), "--limit", "6", "--out", str(out),
                    "--data-dir", str(data_dir), "--test", "permutation")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [r["group"] for r in rows(out)].count("fresh") == 6
    assert "p (permutation)" in result.output and "min_k_pp" in result.output and "ref_ratio" not in result.output
    alone = invoke("white-box", *base, "--limit", "2", "--out", str(tmp_path / "a.jsonl"), "--data-dir", str(data_dir))
    assert alone.exit_code == 0 and "no dataset-level p-value" in alone.output


def test_black_box_on_the_ladder_with_a_local_model(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "bb.jsonl"
    result = invoke("black-box", "--model", "ref/tp-ref-contaminated", "--benchmark", "cmmlu", "--ladder",
                    "--limit", "2", "--device", "cpu", "--max-tokens", "24", "--data-dir", str(data_dir),
                    "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    found = rows(out)
    assert len(found) == 12
    for r in found:
        assert set(r["scores"]) == {"guided", "ts_guess", "perturb"}
        assert 0 <= r["scores"]["guided"] <= 1 and 0 <= r["scores"]["ts_guess"] <= 1
        assert r["scores"]["perturb"] in (-1.0, 0.0, 1.0)
        assert "options reordered" in r["values"]["perturb_change"]
        hidden = r["values"]["ts_hidden"]
        assert hidden and isinstance(r["values"]["ts_guess"], str)


def _ladder_corpus(path: Path, data_dir: Path, *, gz: bool = False) -> int:
    """The texts of every exposed GSM8K item, as a JSONL corpus; returns how many."""
    from tianping.contamination.items import Source

    ladder = json.loads(EXPOSURE.read_text("utf-8"))["datasets"]["gsm8k"]
    exposed = {i for g in ladder["groups"] for i in g["ids"]}
    texts = [i.text for i in Source("gsm8k", data_dir).items() if i.id in exposed]
    lines = "".join(json.dumps({"body": t}) + "\n" for t in texts)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(lines)
    else:
        path.write_text(lines, "utf-8")
    return len(texts)


def test_ngram_finds_exactly_the_exposed_items_and_reuses_a_saved_index(tmp_path: Path, data_dir: Path) -> None:
    corpus = tmp_path / "corpus" / "part-1.jsonl.gz"
    corpus.parent.mkdir()
    assert _ladder_corpus(corpus, data_dir, gz=True) == 655
    (tmp_path / "corpus" / "part-2.txt").write_text("Plain text with no benchmark item in it at all.\n" * 50)
    out, index = tmp_path / "ng.jsonl", tmp_path / "corpus.bloom"
    common = ["--benchmark", "gsm8k", "--exposure", str(EXPOSURE), "--limit", "20", "--data-dir", str(data_dir)]
    result = invoke("ngram", *common, "--corpus", str(tmp_path / "corpus" / "*"), "--text-field", "body",
                    "--save-index", str(index), "--index-capacity", "300000", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 files" in result.output and "100 of 120 items share at least one 13-gram" in result.output
    scored = rows(out)
    # the flagged items are named on the screen (the first ten, most overlapping first), not only in the file
    assert "flagged items, most overlapping first (10 of 100)" in result.output
    listed = [line.split("│")[2].strip() for line in result.output.splitlines() if line.startswith("│ gsm8k")]
    flagged_ids = sorted(r["id"] for r in scored if r["values"]["flagged"])  # all share 100%: by id
    assert listed == flagged_ids[:10]
    for r in scored:
        assert r["values"]["flagged"] == (r["group"] != "unseen")
        assert r["scores"]["ngram"] == (1.0 if r["group"] != "unseen" else 0.0)
    again = invoke("ngram", *common, "--index", str(index), "--out", str(tmp_path / "again.jsonl"))
    assert again.exit_code == 0, again.output
    assert [r["scores"] for r in rows(tmp_path / "again.jsonl")] == [r["scores"] for r in scored]
    mismatch = invoke("ngram", *common, "--index", str(index), "--n", "8", "--out", str(tmp_path / "x.jsonl"))
    assert mismatch.exit_code == BAD_INPUT and "holds 13-grams of words" in mismatch.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["white-box", "--model", "ref/tp-ref-clean", "--benchmark", "no_such_bench"], "unknown benchmark"),
        (["white-box", "--model", "ref/tp-ref-clean", "--benchmark", "gsm8k", "--ladder"], "has no exposure ladder"),
        (["white-box", "--model", "ref/nope", "--benchmark", "gsm8k"], "no reference model 'nope'"),
        (
            [
                "white-box",
                "--model",
                "ref/tp-ref-contaminated",
                "--benchmark",
                "gsm8k",
                "--ladder",
                "--fresh",
                "x.jsonl",
            ],
            "not both",
        ),
        (
            ["black-box", "--model", "ref/tp-ref-clean", "--benchmark", "gsm8k", "--methods", "guided,psychic"],
            "--methods",
        ),
        (["ngram", "--benchmark", "gsm8k"], "give --corpus"),
        (["ngram", "--benchmark", "gsm8k", "--corpus", "/nonexistent/*.jsonl"], "matches no file"),
        (["white-box", "--model", "ref/tp-ref-clean", "--benchmark", "gsm8k", "--test", "t-test"], "--test t-test"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path, data_dir: Path) -> None:
    result = invoke(*args, "--data-dir", str(data_dir), "--out", str(tmp_path / "o.jsonl"))
    assert result.exit_code == BAD_INPUT, result.output
    assert message in result.output and "Traceback" not in result.output


def test_a_corpus_line_that_is_not_json_is_named(tmp_path: Path, data_dir: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"text": "fine"}\n{"text": 3}\n')
    result = invoke("ngram", "--benchmark", "gsm8k", "--corpus", str(corpus), "--limit", "2",
                    "--data-dir", str(data_dir), "--out", str(tmp_path / "o.jsonl"))  # fmt: skip
    assert result.exit_code == BAD_INPUT and f"{corpus}:2: field 'text'" in result.output


class EchoServer(LocalAppServer):
    """``/v1/completions`` with ``echo`` and ``logprobs`` as vLLM serves it, computed by a real model: the
    prompt's tokens (BOS first, with no log-probability), their offsets and log-probabilities."""

    def __init__(self, model_dir: Path):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir).eval()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/completions", self._completions)

    async def _completions(self, request: web.Request) -> web.Response:
        body = await request.json()
        prompt = body["prompt"]
        assert body["echo"] and body["logprobs"] >= 1
        enc = self.tok(prompt, add_special_tokens=False, return_offsets_mapping=True)
        ids = [self.tok.bos_token_id, *enc["input_ids"]]
        with self.torch.no_grad():
            logp = self.torch.log_softmax(self.model(self.torch.tensor([ids])).logits[0, :-1].float(), -1)
        values = [None] + [float(logp[i, t]) for i, t in enumerate(ids[1:])]
        tokens = [self.tok.decode([t]) for t in ids]
        tops = [None] + [{tok: v} for tok, v in zip(tokens[1:], values[1:], strict=True)]
        offsets = [0] + [start for start, _ in enc["offset_mapping"]]
        # the one generated token after the prompt, which a reader must not take for a prompt token
        tokens.append("!")
        values.append(-0.5)
        tops.append({"!": -0.5})
        offsets.append(len(prompt))
        logprobs = {"tokens": tokens, "token_logprobs": values, "text_offset": offsets, "top_logprobs": tops}
        choice = {"index": 0, "text": prompt + "!", "logprobs": logprobs, "finish_reason": "length"}
        return web.json_response({"id": "x", "object": "text_completion", "model": body["model"], "choices": [choice]})


def test_white_box_on_an_endpoint_equals_the_local_model(tmp_path: Path, data_dir: Path) -> None:
    local, remote = tmp_path / "local.jsonl", tmp_path / "remote.jsonl"
    common = ["--benchmark", "gsm8k", "--exposure", str(EXPOSURE), "--limit", "2", "--data-dir", str(data_dir)]
    here = invoke("white-box", "--model", "ref/tp-ref-contaminated", *common, "--device", "cpu", "--out", str(local))
    assert here.exit_code == 0, here.output
    with in_background(EchoServer(REFMODELS_DIR / "tp-ref-contaminated")) as server:
        there = invoke("white-box", "--model", "openai/tp-ref-contaminated", "--base-url", server.base_url,
                       *common, "--out", str(remote))  # fmt: skip
    assert there.exit_code == 0, there.output
    a, b = rows(local), rows(remote)
    assert [r["id"] for r in a] == [r["id"] for r in b]
    for x, y in zip(a, b, strict=True):
        assert set(y["scores"]) == {"loss", "zlib", "min_k"}  # no distribution from an endpoint: no Min-K%++
        for method in y["scores"]:
            assert y["scores"][method] == pytest.approx(x["scores"][method], abs=1e-4)
        assert y["values"]["tokens"] == x["values"]["tokens"]


def test_an_endpoint_without_prompt_logprobs_fails_in_one_line(tmp_path: Path, data_dir: Path) -> None:
    with running_server(logprobs_fault="missing") as server:
        result = invoke("white-box", "--model", "openai/m", "--base-url", server.base_url, "--benchmark", "gsm8k",
                        "--limit", "2", "--max-retries", "0", "--data-dir", str(data_dir),
                        "--out", str(tmp_path / "o.jsonl"))  # fmt: skip
    assert result.exit_code == FAILED, result.output  # no item can be scored there: the check cannot go on
    assert "prompt log-probabilities" in result.output and "Traceback" not in result.output


def test_black_box_on_a_chat_endpoint(tmp_path: Path, data_dir: Path) -> None:
    """Chat style: the task is explained in the prompt; ``perturb`` asks with the benchmark's own prompt."""
    out = tmp_path / "chat.jsonl"
    bodies: list[dict[str, Any]] = []

    def answer(body: dict[str, Any]) -> str:
        bodies.append(body)
        return echo_answer(body)

    with running_server(answer_fn=answer) as server:
        result = invoke("black-box", "--model", "openai/m", "--base-url", server.base_url, "--benchmark", "gsm8k",
                        "--fresh", "gsm8k", "--limit", "3", "--data-dir", str(data_dir), "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    found = rows(out)
    assert [r["group"] for r in found].count("fresh") == 3
    assert all(r["scores"]["guided"] is not None and r["scores"]["ts_guess"] in (0.0, 1.0) for r in found)
    assert bodies and all("messages" in b for b in bodies)  # chat style: every question is a chat
    prompts = [b["messages"][-1]["content"] for b in bodies]
    assert any("First piece:" in p for p in prompts) and any("[MASK]" in p for p in prompts)
    assert any(p.startswith("Solve the following math problem") for p in prompts)  # perturb: gsm8k's own prompt
