"""``tianping run`` on a machine that has no datasets yet: the data comes from a local hub mirror (``tianping data
pull``, or the run's own pull of what it lacks), the model is the fake OpenAI server, and ``--offline`` refuses
to download. The run's data folder is a fresh temporary one: the shared copy is only what the mirror serves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine_helpers import cli
from fake_openai import oracle_answer_fn, running_server
from hub_mirror import MirrorState, env_for, hub_files, serving
from tianping.benchmarks.sources import read_definition
from tianping.data.catalog import catalog, catalog_names, hub_mirror
from tianping.data.ensure import missing_datasets, needed_paths
from tianping.engine.tasks import whole_datasets
from tianping.store import Store


@pytest.fixture()
def hub(data_dir: Path) -> Iterator[tuple[str, MirrorState]]:
    mirror = hub_mirror()
    with serving(hub_files(data_dir, mirror.repo, mirror.revision)) as served:
        yield served


def run_gsm8k(base_url: str, results: Path, env: dict[str, str], *extra: str):  # type: ignore[no-untyped-def]
    args = ["run", "--model", "openai/fake", "--base-url", base_url, "--benchmark", "gsm8k", "--limit", "3"]
    return cli(*args, "--results-dir", str(results), *extra, env=env)


def scored(results: Path) -> int:
    store = Store.open(results)
    (run,) = store.list_runs()
    rows = store.aggregates(run["run_id"])
    return next(r["n"] + r["extraction_failures"] for r in rows if r["group_kind"] == "all")


def test_pull_then_run_without_the_shared_folder(tmp_path: Path, hub: tuple[str, MirrorState]) -> None:
    url, state = hub
    env = env_for(tmp_path, url)
    pulled = cli("data", "pull", "gsm8k", env=env)
    assert pulled.returncode == 0, pulled.stderr[-3000:]
    asked = len(state.seen)
    with running_server(answer_fn=oracle_answer_fn()) as server:
        done = run_gsm8k(server.base_url, tmp_path / "results", env, "--offline")  # everything is here now
    assert done.returncode == 0, done.stderr[-3000:]
    assert scored(tmp_path / "results") == 3
    assert len(state.seen) == asked  # the run downloaded nothing


def test_run_pulls_what_it_lacks(tmp_path: Path, hub: tuple[str, MirrorState]) -> None:
    url, state = hub
    with running_server(answer_fn=oracle_answer_fn()) as server:
        done = run_gsm8k(server.base_url, tmp_path / "results", env_for(tmp_path, url))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "pulling gsm8k" in done.stderr and "license MIT" in done.stderr
    assert (tmp_path / "data" / "gsm8k" / "test.jsonl").is_file()
    assert scored(tmp_path / "results") == 3


@pytest.mark.parametrize("how", ["--offline", "TIANPING_OFFLINE=1"])
def test_run_offline_without_data_fails_naming_the_pull_command(
    tmp_path: Path, hub: tuple[str, MirrorState], how: str
) -> None:
    url, state = hub
    flags = [how] if how.startswith("--") else []
    extra = dict([how.split("=")]) if "=" in how else {}
    with running_server() as server:
        done = run_gsm8k(server.base_url, tmp_path / "results", env_for(tmp_path, url, **extra), *flags)
        assert server.requests_total == 0
    assert done.returncode == 2
    assert "tianping data pull gsm8k" in done.stderr and "downloads are off" in done.stderr
    assert not state.seen and not (tmp_path / "results").exists()


def test_a_plan_pulls_what_it_lacks_and_offline_refuses(tmp_path: Path, hub: tuple[str, MirrorState]) -> None:
    url, state = hub
    plan = tmp_path / "plan.yaml"
    with running_server(answer_fn=oracle_answer_fn()) as server:
        plan.write_text(
            f"models: [{{id: openai/fake, base_url: '{server.base_url}', max_retries: 0}}]\n"
            f"benchmarks: [gsm8k]\nresults_dir: {tmp_path / 'results'}\nsettings: {{limit: 3}}\n",
            encoding="utf-8",
        )
        refused = cli("run", str(plan), "--offline", env=env_for(tmp_path, url))
        assert refused.returncode == 2 and "tianping data pull gsm8k" in refused.stderr
        assert not state.seen and server.requests_total == 0
        done = cli("run", str(plan), env=env_for(tmp_path, url))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "pulling gsm8k" in done.stderr and scored(tmp_path / "results") == 3


def _records(*names: str) -> dict[str, dict[str, str]]:
    return {n: read_definition(n).to_record() for n in names}


def test_a_run_needs_the_paths_its_definitions_read(tmp_path: Path) -> None:
    assert set(catalog_names()) == set(catalog())
    found = needed_paths(["gsm8k_cot8", "mmlu", "safety"], _records("gsm8k_cot8", "mmlu"), {"safety": "safety"})
    assert found["gsm8k"] == ["gsm8k/test.jsonl", "gsm8k/train.jsonl"]  # the few-shot pool too
    assert "safety/advbench/harmful_behaviors.csv" in found["safety"] and "mmlu" in found
    assert not any(p.endswith(("SOURCE.md", "README.md")) for p in found["safety"])
    # the kinds say which datasets their tasks read whole: the safety suite, the judged tasks
    assert whole_datasets(["safety", "mt_bench", "gsm8k"], _records("gsm8k")) == {
        "safety": "safety",
        "mt_bench": "mt-bench",
    }
    # a user's definition: its folder in the catalog (by about.data or the first folder), or not at all
    own = tmp_path / "own.yaml"
    own.write_text(
        "name: own\nversion: 1\ndataset: {loader: gsm8k_jsonl, path: mine/test.jsonl}\n"
        "prompt: {question: '{{ question }}'}\nscoring: {scorer: number}\n",
        encoding="utf-8",
    )
    assert needed_paths([str(own)], {str(own): {"source": str(own), "text": own.read_text()}}) == {}
    labelled = own.read_text().replace("version: 1\n", "version: 1\nabout: {data: gsm8k}\n")
    assert needed_paths(["x.yaml"], {"x.yaml": {"source": "x.yaml", "text": labelled}}) == {
        "gsm8k": ["mine/test.jsonl"]
    }
    # present paths need nothing: a stat each, however partial the rest of the dataset is
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "test.jsonl").write_text("{}\n")
    assert missing_datasets({"gsm8k": ["gsm8k/test.jsonl"], "mmlu": ["mmlu/test"]}, tmp_path) == ["mmlu"]


def test_the_python_api_pulls_what_it_lacks_and_offline_refuses(tmp_path: Path, hub: tuple[str, MirrorState]) -> None:
    """``tianping.evaluate`` fetches a missing dataset as ``run`` does (its license logged first), and with
    ``offline=True`` refuses naming the pull command; in a fresh process, so the hub client reads this endpoint."""
    import json
    import os
    import subprocess
    import sys

    url, state = hub
    script = (
        "import json, logging, sys, tianping\n"
        "logging.basicConfig(level=logging.WARNING, stream=sys.stderr)\n"
        "kw = dict(base_url=sys.argv[1], limit=3, results_dir=sys.argv[2], progress=False)\n"
        "try:\n"
        "    tianping.evaluate('openai/fake', 'gsm8k', offline=True, **kw)\n"
        "except Exception as exc:\n"
        "    print(json.dumps({'refused': f'{type(exc).__name__}: {exc}'}))\n"
        "r = tianping.evaluate('openai/fake', 'gsm8k', **kw)\n"
        "print(json.dumps({'n': r.score('gsm8k').n}))\n"
    )
    with running_server(answer_fn=oracle_answer_fn()) as server:
        done = subprocess.run(
            [sys.executable, "-c", script, server.base_url, str(tmp_path / "results")],
            capture_output=True,
            text=True,
            env={**os.environ, **env_for(tmp_path, url)},
            timeout=120,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    refused, finished = (json.loads(line) for line in done.stdout.splitlines())
    assert refused["refused"].startswith("DatasetError") and "tianping data pull gsm8k" in refused["refused"]
    assert "pulling gsm8k" in done.stderr and "license MIT" in done.stderr
    assert finished == {"n": 3} and (tmp_path / "data" / "gsm8k" / "test.jsonl").is_file()
