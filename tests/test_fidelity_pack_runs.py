"""The fidelity pack over real runs against local fake servers: a provider that truncates its context is called
``context cut`` from the long-context buckets, and ``pack-stats`` ranks first the items that separate models of
known, differing abilities."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from engine_helpers import cli
from fake_openai import _unit, last_user_text, oracle_answer_fn, running_server
from tianping.benchmarks.longctx import approx_tokens, make_items

_ITEMS = {item.document[:300]: item for item in make_items()}


def longctx_oracle(accuracy: float, seed: int, window: int | None = None) -> Callable[[dict[str, Any]], str]:
    """The GSM8K oracle, and for a tp_longctx prompt a reader that sees only the last ``window`` tokens of the
    document (a server that silently truncates a long prompt from the front): right when every fact the answer
    needs survived the cut and the item is among the hash-chosen ``accuracy`` share it knows."""
    gsm8k = oracle_answer_fn(accuracy=accuracy, seed=seed)

    def answer(body: dict[str, Any]) -> str:
        text = last_user_text(body)
        if "<document>\n" not in text:
            return gsm8k(body)
        document = text.split("<document>\n", 1)[1].split("\n</document>", 1)[0]
        item = _ITEMS[document[:300]]
        seen, size = document, approx_tokens(document)
        if window is not None and size > window:
            seen = document[len(document) - len(document) * window // size :]
        right = all(n in seen for n in item.needles) and _unit(seed, "longctx", item.id) < accuracy
        value = item.target if right else str(int(item.target) + 7)
        return f"Reading the document, the answer is {value}."

    return answer


def _host(url: str) -> str:
    return url.split("//")[1].split("/")[0]


def _plan(tmp_path: Path, results: Path, data_dir: Path, servers: list[Any], benchmarks: dict[str, int]) -> Path:
    entries = "".join(
        f"  - id: openai/qwen\n    base_url: {s.base_url}\n    concurrency: 16\n    max_retries: 0\n" for s in servers
    )
    plan = tmp_path / "plan.yaml"
    settings = {"data_dir": str(data_dir), "limits": benchmarks, "generation": {"temperature": 0, "seed": 1234}}
    body = {"run_id": "fid", "results_dir": str(results), "benchmarks": list(benchmarks), "settings": settings}
    text = yaml.safe_dump(body, sort_keys=False)
    plan.write_text(text.replace("benchmarks:", f"models:\n{entries}benchmarks:", 1), encoding="utf-8")
    return plan


def test_a_provider_that_truncates_its_context_is_called_context_cut_from_the_long_buckets(
    tmp_path: Path, data_dir: Path
) -> None:
    results = tmp_path / "results"
    with (
        running_server(answer_fn=longctx_oracle(0.85, seed=3)) as ref,
        running_server(answer_fn=longctx_oracle(0.85, seed=3)) as same,
        # 12k tokens: the 2k and 8k documents (~7k tokens) fit, the 16k and 32k ones (~14k, ~28k) do not
        running_server(answer_fn=longctx_oracle(0.85, seed=3, window=12_000)) as cut,
    ):
        plan = _plan(tmp_path, results, data_dir, [ref, same, cut], {"gsm8k": 300, "tp_longctx": 64})
        done = cli("run", str(plan), timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    reference, faithful, truncating = (f"openai/qwen@{_host(s.base_url)}" for s in (ref, same, cut))
    report = cli("fidelity", "report", "fid", "--reference", reference, "--results-dir", str(results), "--json")
    assert report.returncode == 0, report.stderr
    rows = {r["model"]: r for r in json.loads(report.stdout)}
    bad, good = rows[truncating], rows[faithful]
    assert bad["verdict"] == "context cut" and bad["by_length"]["cut_from"] == "16k", bad["evidence"]
    buckets = bad["by_length"]["buckets"]
    assert set(buckets) == {"2k", "8k", "16k", "32k"} and all(b["n"] == 16 for b in buckets.values())
    assert buckets["2k"]["accuracy"] == buckets["2k"]["reference_accuracy"]
    assert buckets["8k"]["accuracy"] == buckets["8k"]["reference_accuracy"]
    # cut from the front, a 16k document keeps its last ~85%: facts deep in it survive, the rest are lost
    assert buckets["16k"]["accuracy"] < buckets["16k"]["reference_accuracy"] and buckets["16k"]["p_value"] < 0.05
    assert buckets["32k"]["accuracy"] < buckets["16k"]["accuracy"] and buckets["32k"]["p_value"] < 0.01
    assert "context window served is shorter than the 16k documents" in bad["evidence"]
    assert bad["by_benchmark"]["gsm8k"]["diff"] == 0.0  # the short benchmark is untouched
    assert good["verdict"] == "consistent" and good["by_length"]["cut_from"] is None and good["diff"] == 0.0
    table = cli("fidelity", "report", "fid", "--reference", reference, "--results-dir", str(results))
    assert table.returncode == 0 and "context cut" in next(
        line for line in table.stdout.splitlines() if truncating in line and "│" in line
    )


def test_pack_stats_ranks_first_the_items_that_separate_models_of_known_ability(tmp_path: Path, data_dir: Path) -> None:
    results = tmp_path / "results"
    abilities = (0.2, 0.4, 0.6, 0.8, 0.95)
    # one seed: the oracle is right on an item when its hash is below the model's accuracy, so an item hashed
    # between 0.2 and 0.95 separates some of the models and one outside that band none of them
    servers = [running_server(answer_fn=oracle_answer_fn(accuracy=a, seed=11)) for a in abilities]
    started = [s.__enter__() for s in servers]
    try:
        plan = _plan(tmp_path, results, data_dir, started, {"gsm8k": 120})
        done = cli("run", str(plan), timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        for s in servers:
            s.__exit__(None, None, None)
    target = tmp_path / "pack.yaml"
    made = cli("fidelity", "pack-stats", "fid", "--results-dir", str(results), "-o", str(target), "--pack", "v1")
    assert made.returncode == 0, made.stdout + made.stderr
    assert "5 models" in made.stdout and "not in the runs: arc_challenge" in made.stdout
    pack = yaml.safe_load(target.read_text(encoding="utf-8"))
    chosen = pack["items"]["gsm8k"]
    assert len(chosen) == 100 and pack["derived_from"]["runs"] == ["fid"]
    lines = (data_dir / "gsm8k" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    hashes = {str(i): _unit(11, "gsm8k", json.loads(line)["question"].strip()) for i, line in enumerate(lines)}
    separating = [c for c in chosen if 0.2 <= hashes[c["id"]] < 0.95]
    # every separating item is ranked above every item that no model pair disagrees on
    first = [0.2 <= hashes[c["id"]] < 0.95 for c in chosen]
    assert first == sorted(first, reverse=True) and len(separating) >= 60
    assert all(c["r"] is not None for c in separating) and all(c["r"] is None for c in chosen[len(separating) :])
    assert chosen[0]["r"] >= chosen[len(separating) - 1]["r"]
    few = cli("fidelity", "pack-stats", "nope", "--results-dir", str(results), "-o", str(tmp_path / "x.yaml"))
    assert few.returncode == 2 and "no run 'nope'" in few.stderr
