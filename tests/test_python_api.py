"""``tianping.evaluate`` from Python: the same run as ``tianping run`` (same scores, same store, so the command
line's show/report/resume work on it), clear errors for bad options, and an async form for event loops."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

import tianping
from engine_helpers import cli
from fake_openai import oracle_answer_fn, running_server
from tianping.benchmarks.errors import DatasetError


@pytest.fixture(scope="module")
def server():
    with running_server(answer_fn=oracle_answer_fn()) as s:
        yield s


def test_scores_equal_the_command_lines_and_the_run_is_the_command_lines_too(server, tmp_path, data_dir) -> None:
    result = tianping.evaluate(
        "openai/fake",
        ["gsm8k", "arc_easy"],
        base_url=server.base_url,
        limit=25,
        concurrency=4,
        data_dir=str(data_dir),
        results_dir=tmp_path,
        progress=False,
    )
    summary = tmp_path / "cli.json"
    done = cli("run", "--model", "openai/fake", "--base-url", server.base_url, "-b", "gsm8k,arc_easy",
               "--limit", "25", "--data-dir", str(data_dir), "--results-dir", str(tmp_path / "cli"),
               "--json", str(summary))  # fmt: skip
    assert done.returncode == 0, done.stderr
    by_cli = {(r["benchmark"], r["metric"]): r for r in json.loads(summary.read_text())["results"]}
    assert result.status == "completed" and result.sent == 50
    assert {(s.benchmark, s.metric) for s in result.scores} == set(by_cli)
    for s in result.scores:
        want = by_cli[(s.benchmark, s.metric)]
        assert (s.score, s.n, s.ci_low, s.ci_high) == (want["score"], want["n"], want["ci_low"], want["ci_high"])
    gsm8k = result.score("gsm8k")
    assert gsm8k.n == 25 and gsm8k.ci_low <= gsm8k.score <= gsm8k.ci_high
    # in a terminal or a notebook: one line per score, or a table
    shown = repr(result).splitlines()
    assert shown[0] == f"Evaluation(run_id={result.run_id!r}, status='completed', {len(result.scores)} score(s))"
    line = f"openai/fake gsm8k accuracy: {100 * gsm8k.score:.1f}% [{100 * gsm8k.ci_low:.1f}, "
    assert any(s.strip().startswith(line) and s.endswith("n=25") for s in shown[1:]), shown
    assert result._repr_html_().count("<tr>") == len(result.scores) + 1

    samples = result.samples()
    assert len(samples) == 50 and {"prompt", "output", "extracted", "score"} <= set(samples[0])
    gsm8k_rows = result.samples("gsm8k", model="openai/fake")
    assert len(gsm8k_rows) == 25 and {r["benchmark"] for r in gsm8k_rows} == {"gsm8k"}
    # a misspelt name is an error naming the nearest, never an empty list read as "no answers"
    with pytest.raises(KeyError, match=r"unknown benchmark 'gsm8' in run .*did you mean gsm8k\?"):
        result.samples("gsm8")
    with pytest.raises(KeyError, match=r"unknown model 'openai/fakee'.*known: openai/fake\)"):
        result.samples(model="openai/fakee")
    page = result.report(tmp_path / "out" / "report.html").read_text()
    assert result.run_id in page and "<html" in page
    assert result.report() == tmp_path / f"{result.run_id}.html"  # where `tianping report RUN` writes it
    shown = cli("show", result.run_id, "--results-dir", str(tmp_path))
    assert shown.returncode == 0 and "gsm8k" in shown.stdout


def test_model_options_reach_every_model_and_a_mapping_overrides_them(server, tmp_path, data_dir) -> None:
    from tianping.evaluation import build_spec

    spec = build_spec(
        ["openai/a", {"id": "openai/b", "concurrency": 3}],
        "gsm8k",
        (),
        {"base_url": server.base_url, "concurrency": 7, "limit": 5, "data_dir": str(data_dir)},
    )
    assert [(m.id, m.concurrency, m.base_url) for m in spec.models] == [
        ("openai/a", 7, server.base_url),
        ("openai/b", 3, server.base_url),
    ]
    assert spec.limit == 5 and spec.benchmarks == ["gsm8k"]
    with_suite = build_spec("openai/a", "gsm8k", "math", {"base_url": server.base_url, "data_dir": str(data_dir)})
    assert with_suite.benchmarks[0] == "gsm8k" and len(with_suite.benchmarks) > 1


def test_bad_options_are_refused_before_a_run_exists(server, tmp_path, data_dir) -> None:
    with pytest.raises(TypeError, match="unknown option limitt"):
        tianping.evaluate("openai/fake", "gsm8k", base_url=server.base_url, limitt=3, results_dir=tmp_path)
    with pytest.raises(ValidationError, match="limit"):
        tianping.evaluate("openai/fake", "gsm8k", base_url=server.base_url, limit=0, results_dir=tmp_path)
    with pytest.raises(ValueError, match="base-url is required"):
        tianping.evaluate("openai/fake", "gsm8k", limit=3, results_dir=tmp_path, data_dir=str(data_dir))
    with pytest.raises(KeyError, match="did you mean gsm8k"):
        tianping.evaluate("openai/fake", "gsm8kk", base_url=server.base_url, results_dir=tmp_path)
    with pytest.raises(DatasetError, match="tianping data pull gsm8k"):
        tianping.evaluate("openai/fake", "gsm8k", base_url=server.base_url, data_dir=str(tmp_path / "empty"),
                          offline=True, results_dir=tmp_path)  # fmt: skip
    assert not (tmp_path / "tianping.sqlite").exists()  # nothing was registered


def test_a_run_that_fails_raises_with_its_id_and_resumes_from_the_command_line(server, tmp_path, data_dir) -> None:
    with pytest.raises(tianping.EvaluationFailed, match="ConnectError") as failed:
        tianping.evaluate("openai/fake", "gsm8k", base_url="http://127.0.0.1:9/v1", limit=3, max_retries=0,
                          data_dir=str(data_dir), results_dir=tmp_path, progress=False)  # fmt: skip
    run_id = failed.value.run_id
    resumed = cli("resume", run_id, "--results-dir", str(tmp_path), "--base-url", server.base_url)
    assert resumed.returncode == 0, resumed.stderr
    with pytest.raises(ValueError, match=f"run {run_id} exists"):
        tianping.evaluate("openai/fake", "gsm8k", base_url=server.base_url, limit=3, run_id=run_id,
                          data_dir=str(data_dir), results_dir=tmp_path, progress=False)  # fmt: skip


def test_inside_an_event_loop_the_async_form_runs_and_the_plain_one_says_so(server, tmp_path, data_dir) -> None:
    async def main() -> tianping.Evaluation:
        with pytest.raises(RuntimeError, match="await tianping.aevaluate"):
            tianping.evaluate("openai/fake", "gsm8k", base_url=server.base_url)
        return await tianping.aevaluate("openai/fake", "gsm8k", base_url=server.base_url, limit=5,
                                        data_dir=str(data_dir), results_dir=tmp_path, progress=False)  # fmt: skip

    assert asyncio.run(main()).score("gsm8k").n == 5


def test_importing_tianping_does_not_import_the_api() -> None:
    """The command line imports the package: the Python API (spec, engine, report) is loaded on first use."""
    code = "import sys, tianping; print('tianping.evaluation' in sys.modules, callable(tianping.evaluate))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent)
    assert out.stdout.split() == ["False", "True"], out.stderr


def test_resume_from_python_finishes_a_failed_run_with_a_corrected_url(server, tmp_path, data_dir) -> None:
    with pytest.raises(tianping.EvaluationFailed) as failed:
        tianping.evaluate("openai/fake", "gsm8k", base_url="http://127.0.0.1:9/v1", limit=4, max_retries=0,
                          data_dir=str(data_dir), results_dir=tmp_path, progress=False)  # fmt: skip
    run_id = failed.value.run_id
    with pytest.raises(TypeError, match="cannot change limit"):  # what determines results stays as stored
        tianping.resume(run_id, results_dir=tmp_path, limit=5)
    with pytest.raises(KeyError, match="no run 'nope'"):
        tianping.resume("nope", results_dir=tmp_path)
    done = tianping.resume(run_id, results_dir=tmp_path, base_url=server.base_url, concurrency=2, progress=False)
    assert done.status == "completed" and done.sent == 4 and done.score("gsm8k").n == 4
    again = tianping.resume(run_id, results_dir=tmp_path)  # complete: returned as it is, nothing sent
    assert again.sent == 0 and again.scores == done.scores
    shown = cli("show", run_id, "--results-dir", str(tmp_path))
    assert shown.returncode == 0 and "completed" in shown.stdout


def test_the_readme_example_runs_as_written(server, tmp_path, monkeypatch) -> None:
    """README's "From Python" block, against the fake server instead of a local vLLM."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("### From Python", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert "http://localhost:8000/v1" in block
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block.replace("http://localhost:8000/v1", server.base_url), "README.md", "exec"), namespace)  # noqa: S102
    result = namespace["result"]
    assert result.status == "completed" and {s.benchmark for s in result.scores} == {"gsm8k", "mmlu"}
    assert (tmp_path / "gsm8k.html").is_file() and len(namespace["rows"]) == 200  # gsm8k's


def test_the_notebook_table_escapes_names_and_shows_counts_as_numbers() -> None:
    from tianping.core.results import MetricRow
    from tianping.evaluation import Evaluation

    rows = [
        MetricRow("openai/<script>x</script>", "gsm8k", "accuracy", 0.5, 10, 0.2, 0.8),
        MetricRow("m", "safety", "requests_spent", 3.25, 4, 2.0, 4.5, unit="count"),
    ]
    result = Evaluation("r<1>", "completed", None, 1.0, 10, 0, rows, None)
    page = result._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page and "r&lt;1&gt;" in page
    assert "<td>3.25</td>" in page and "<td>[2.00, 4.50]</td>" in page and "<td>50.0</td>" in page
    assert "m safety requests_spent: 3.25 [2.00, 4.50] n=4" in repr(result)
