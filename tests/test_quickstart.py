"""``tianping quickstart``: the offline first run on the bundled reference model and the bundled data excerpts,
and the same command pointed at an OpenAI-compatible endpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine_helpers import cli
from fake_openai import running_server
from tianping.indicators import default_tree, rollup
from tianping.quickstart import BUNDLED_DATA, GENERATED, MULTIPLE_CHOICE, quickstart_spec
from tianping.report.collect import metric_rows
from tianping.store import Store

REFMODEL = Path(__file__).resolve().parent.parent / "src" / "tianping" / "refmodels" / "tp-ref-clean"


def _scores(results: Path) -> dict[str, dict]:
    store = Store.open(results)
    run_id = store.list_runs()[0]["run_id"]
    rows = store.aggregates(run_id)
    # generation reports accuracy; log-likelihood lm-eval's acc (beside acc_norm)
    return {r["benchmark"]: r for r in rows if r["group_kind"] == "all" and r["metric"] in ("accuracy", "acc")}


def test_the_spec_asks_local_models_by_loglikelihood_and_endpoints_by_generation():
    local = quickstart_spec("ref/tp-ref-clean")
    assert {local.modes[b] for b in MULTIPLE_CHOICE} == {"loglikelihood"}
    assert {local.modes[b] for b in GENERATED} == {"generate"}
    assert Path(local.data_dir) == BUNDLED_DATA.resolve()
    remote = quickstart_spec("openai/m", base_url="http://127.0.0.1:9/v1")
    assert set(remote.modes.values()) == {"generate"}


@pytest.mark.skipif(not (REFMODEL / "model.safetensors").is_file(), reason="reference model not built")
def test_quickstart_runs_offline_on_the_bundled_model(tmp_path):
    env = {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TIANPING_DATA_DIR": "",  # the bundled excerpts, not a data folder of the machine
        "HOME": str(tmp_path),  # no cache of a previous run to lean on
        "NO_PROXY": "*",
        "HTTP_PROXY": "http://127.0.0.1:9",  # anything that tried the network would fail
        "HTTPS_PROXY": "http://127.0.0.1:9",
    }
    done = cli("quickstart", "--results-dir", str(tmp_path / "results"), "--limit", "12", env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "report:" in done.stdout
    scores = _scores(tmp_path / "results")
    assert set(scores) == {*MULTIPLE_CHOICE, *GENERATED}
    assert all(r["n"] > 0 for r in scores.values())
    html = next((tmp_path / "results").glob("*.html")).read_text(encoding="utf-8")
    assert "mmlu_5shot" in html and "acc_norm" in html
    # the indicator block counts every benchmark the run measured, and says which dimensions it lacks
    store = Store.open(tmp_path / "results")
    run_id = store.list_runs()[0]["run_id"]
    (report,) = rollup(default_tree(), metric_rows(store, run_id))
    counted = {key.split(":")[0] for key in report.composite.measured_by}
    assert counted == {*MULTIPLE_CHOICE, *GENERATED}
    dims = {d.id: d for d in report.dimensions}
    assert dims["knowledge"].measured_by == ("cmmlu_5shot:acc", "mmlu_5shot:acc")
    gsm8k = scores["gsm8k"]
    assert (dims["mathematics"].ci_low, dims["mathematics"].ci_high) == (gsm8k["ci_low"], gsm8k["ci_high"])
    assert "Code" in report.composite.dimensions_missing and "Mathematics" in report.composite.dimensions_measured
    assert "of 9 dimensions" in html


def test_quickstart_pointed_at_an_endpoint(tmp_path):
    with running_server(latency_s=0.0) as server:
        done = cli(
            "quickstart", "--model", "openai/fake", "--base-url", server.base_url, "--limit", "8",
            "--results-dir", str(tmp_path / "r"), env={"OPENAI_API_KEY": "x", "TIANPING_DATA_DIR": ""},
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    scores = _scores(tmp_path / "r")
    assert scores["mmlu_5shot"]["n"] + scores["mmlu_5shot"]["extraction_failures"] >= 1
    assert os.path.getsize(next((tmp_path / "r").glob("*.html"))) > 1000
