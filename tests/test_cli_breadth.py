"""The benchmarks beyond the core run end to end from the CLI against an OpenAI-compatible endpoint:
code execution in the sandbox with pass@k, IFEval's four accuracies, BBH and ARC by generation."""

from __future__ import annotations

import gzip
import json

import pytest

from engine_helpers import cli
from fake_openai import last_user_text, running_server
from tianping.scoring.sandbox import isolation_mechanism


def canonical_humaneval(data_dir) -> dict[str, str]:
    """Prompt text -> a chat answer holding the reference solution."""
    with gzip.open(data_dir / "humaneval" / "HumanEval.jsonl.gz", "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    return {r["prompt"].strip(): f"```python\n{r['prompt']}{r['canonical_solution']}```" for r in rows}


def run(tmp_path, base_url, *args):
    summary = tmp_path / "summary.json"
    done = cli(
        "run",
        "--model",
        "openai/fake",
        "--base-url",
        base_url,
        "--results-dir",
        str(tmp_path),
        "--summary-json",
        str(summary),
        "--concurrency",
        "4",
        *args,
    )
    assert done.returncode == 0, done.stderr
    return {(r["benchmark"], r["metric"]): r for r in json.loads(summary.read_text())["results"]}


@pytest.mark.skipif(isolation_mechanism() is None, reason="no sandbox isolation (apt-get install bubblewrap)")
def test_humaneval_pass_at_k_from_the_cli(tmp_path, data_dir):
    solutions = canonical_humaneval(data_dir)

    def answer(body):
        text = last_user_text(body)
        return next((s for p, s in solutions.items() if p in text), "I cannot solve this.")

    with running_server(answer_fn=answer) as server:
        results = run(tmp_path, server.base_url, "--benchmark", "humaneval_pass10", "--limit", "3")
        assert server.last_body["n"] == 10
    assert results[("humaneval_pass10", "pass@1")]["score"] == 1.0
    assert results[("humaneval_pass10", "pass@10")]["score"] == 1.0
    assert results[("humaneval_pass10", "pass@1")]["n"] == 3


def test_ifeval_bbh_and_arc_from_the_cli(tmp_path, data_dir):
    def answer(body):
        text = last_user_text(body)
        if "Let's think step by step" in text:
            return "Let's think step by step. The first option fits. So the answer is (A)."
        if "multiple choice science question" in text:
            return "The answer is B."
        return "here is a short answer in lowercase letters only, without any commas at all"

    with running_server(answer_fn=answer) as server:
        results = run(
            tmp_path,
            server.base_url,
            "--benchmark",
            "ifeval",
            "--benchmark",
            "bbh",
            "--benchmark",
            "arc_challenge",
            "--limit",
            "30",
        )
    assert {k[1] for k in results if k[0] == "ifeval"} == {"prompt_strict", "prompt_loose", "inst_strict", "inst_loose"}
    for key in (("ifeval", "prompt_strict"), ("bbh", "accuracy"), ("arc_challenge", "accuracy")):
        assert results[key]["n"] == 30 and 0 < results[key]["score"] < 1, key
    assert results[("arc_challenge", "accuracy")]["extraction_failures"] == 0


def test_model_code_is_refused_without_isolation_unless_unsafe_exec(tmp_path, data_dir, monkeypatch):
    import tianping.scoring.sandbox as sandbox
    from engine_helpers import make_spec, run_engine
    from tianping.store import Store

    monkeypatch.setattr(sandbox, "isolation_mechanism", lambda: None)
    with running_server(answer_fn=lambda body: "```python\ndef f():\n    return 1\n```") as server:
        store = Store.open(tmp_path)
        refused = run_engine(store, make_spec(server.base_url, data_dir, ["humaneval"], limit=2))
        assert refused.status == "failed" and "--unsafe-exec" in refused.message
        assert server.requests_total == 0  # refused before any request was sent
        allowed = make_spec(server.base_url, data_dir, ["humaneval"], limit=2).model_copy(update={"unsafe_exec": True})
        result = run_engine(store, allowed)
    assert result.status == "completed"
    assert {r["status"] for r in store.sample_rows(result.run_id)} == {"scored"}
