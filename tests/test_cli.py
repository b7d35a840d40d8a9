"""The command line: the machine-readable contract, the commands around a run, and bad input."""

from __future__ import annotations

import json
import re
import sys

from engine_helpers import cli
from fake_openai import oracle_answer_fn, running_server


def run_args(base_url: str, results, *extra: str) -> list[str]:
    return ["run", "--model", "openai/fake", "--base-url", base_url, "--results-dir", str(results), *extra]


def test_summary_json_contract_and_the_commands_around_a_run(tmp_path, data_dir):
    summary = tmp_path / "summary.json"
    with running_server(answer_fn=oracle_answer_fn()) as server:
        done = cli(
            *run_args(
                server.base_url,
                tmp_path,
                "--benchmark",
                "gsm8k",
                "--benchmark",
                "ceval",
                "--limit",
                "30",
                "--concurrency",
                "4",
                "--run-id",
                "r1",
                "--summary-json",
                str(summary),
            )
        )
        assert done.returncode == 0, done.stderr
        other = cli(
            *run_args(
                server.base_url,
                tmp_path,
                "--benchmark",
                "gsm8k",
                "--limit",
                "20",
                "--run-id",
                "r2",
                "--temperature",
                "0.5",
            )
        )
        assert other.returncode == 0, other.stderr
    data = json.loads(summary.read_text())
    assert data["run_id"] == "r1" and data["wall_s"] > 0
    assert {r["benchmark"] for r in data["results"]} == {"gsm8k", "ceval"}
    for r in data["results"]:
        assert {"model", "benchmark", "metric", "score", "n", "ci_low", "ci_high", "extraction_failures"} <= set(r)
        assert r["model"] == "openai/fake" and r["n"] == 30
        assert 0 <= r["ci_low"] <= r["score"] <= r["ci_high"] <= 1

    listing = cli("runs", "--results-dir", str(tmp_path))
    assert "r1" in listing.stdout and "r2" in listing.stdout
    # a team's store holds months of runs: filtered, the newest N, as JSON for scripts
    ceval_runs = json.loads(cli("runs", "--results-dir", str(tmp_path), "-b", "ceval", "--json").stdout)
    assert [r["run_id"] for r in ceval_runs] == ["r1"] and ceval_runs[0]["models"] == ["openai/fake"]
    newest = json.loads(cli("runs", "--results-dir", str(tmp_path), "-m", "FAKE", "-n", "1", "--json").stdout)
    assert [r["run_id"] for r in newest] == ["r2"] and newest[0]["status"] == "completed"
    cut = cli("runs", "--results-dir", str(tmp_path), "-n", "1")
    assert "r2" in cut.stdout and "r1" not in cut.stdout and "the newest 1 of 2 runs" in cut.stdout
    narrow = cli("runs", "--results-dir", str(tmp_path), env={"COLUMNS": "80"}).stdout
    assert max(len(line) for line in narrow.splitlines()) <= 80
    row = r"^\s+r2\s+completed\s+\d\d-\d\d \d\d:\d\d\s+openai/fake\s+gsm8k\s*$"  # the whole id, the lists unfolded
    assert re.search(row, narrow, re.MULTILINE), narrow
    bad = cli("runs", "--results-dir", str(tmp_path), "--status", "complete")
    assert bad.returncode == 2 and "did you mean completed" in bad.stderr
    # a mistyped run id, whichever command it is given to: the nearest ids and the newest runs
    for command in ("show", "export", "resume", "report"):
        missing = cli(command, "r11", "--results-dir", str(tmp_path))
        assert missing.returncode == 2, (command, missing.stderr)
        assert "no run 'r11'" in missing.stderr and "did you mean r1" in missing.stderr, (command, missing.stderr)
        assert "recent runs: r2, r1" in missing.stderr, (command, missing.stderr)
    shown = cli("show", "r1", "--results-dir", str(tmp_path))
    assert shown.returncode == 0 and "gsm8k" in shown.stdout and "by category" in shown.stdout
    # in an 80-column terminal the names keep their width and the counts that are all 0 give way to a note
    narrow = cli("show", "r1", "--results-dir", str(tmp_path), env={"COLUMNS": "80"})
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80
    assert re.search(r"^\s+openai/fake\s+gsm8k\s+accuracy\s+[\d.]+\s+\[", narrow.stdout, re.MULTILINE), narrow.stdout
    assert "no answer, incompl., errors: 0 in every row" in narrow.stderr
    as_json = json.loads(cli("show", "r1", "--results-dir", str(tmp_path), "--json").stdout)
    assert as_json["status"] == "completed" and as_json["results"] == data["results"]  # what run --json wrote

    exported = cli("export", "r1", "--results-dir", str(tmp_path), "-o", str(tmp_path / "r1.jsonl"))
    assert exported.returncode == 0
    lines = [json.loads(x) for x in (tmp_path / "r1.jsonl").read_text().splitlines()]
    assert len(lines) == 60 and {"prompt", "output", "extracted", "score", "latency_s"} <= set(lines[0])
    one = cli("export", "r1", "--results-dir", str(tmp_path), "-b", "ceval", "-m", "openai/fake")
    assert one.returncode == 0 and {json.loads(x)["benchmark"] for x in one.stdout.splitlines()} == {"ceval"}
    assert len(one.stdout.splitlines()) == 30
    typo = cli("export", "r1", "--results-dir", str(tmp_path), "-b", "gsm8k,cevl", "-o", str(tmp_path / "no.jsonl"))
    assert typo.returncode == 2 and "unknown name 'cevl' in run r1; did you mean ceval?" in typo.stderr
    assert not (tmp_path / "no.jsonl").exists()  # refused before a file is opened

    report = cli("report", "r1", "--results-dir", str(tmp_path), "-o", str(tmp_path / "r1.html"))
    assert report.returncode == 0, report.stderr
    assert "<html" in (tmp_path / "r1.html").read_text()
    # --open hands the file to the browser ($BROWSER here: a script that writes down what it was given)
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.py"
    browser.write_text(f"import sys, pathlib\npathlib.Path({str(opened)!r}).write_text(sys.argv[1])\n")
    shown = cli("report", "r1", "--results-dir", str(tmp_path), "-o", str(tmp_path / "r1.html"), "--open",
                env={"BROWSER": f"{sys.executable} {browser} %s"})  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert opened.read_text() == (tmp_path / "r1.html").resolve().as_uri()

    compared = cli("compare", "r1", "r2", "--results-dir", str(tmp_path))
    assert compared.returncode == 0, compared.stderr
    assert "gsm8k" in compared.stdout and "mcnemar" in compared.stdout
    # r2 asked 20 of r1's 30: the 10 left out of the pairing are shown, not silently dropped
    assert "A only" in compared.stdout and "left out of the pairing" in compared.stdout
    narrow = cli("compare", "r1", "r2", "--results-dir", str(tmp_path), env={"COLUMNS": "80"}).stdout
    assert max(len(line) for line in narrow.splitlines()) <= 80
    assert "r2 − r1 (openai/fake − openai/fake); accuracy; mcnemar-exact" in narrow
    assert re.search(r"^\s+gsm8k\s+20\s+[\d.]+\s+[\d.]+\s+[+-][\d.]+\s+\[", narrow, re.MULTILINE), narrow
    (pair,) = json.loads(cli("compare", "r1", "r2", "--results-dir", str(tmp_path), "--json").stdout)
    paired = (pair["benchmark"], pair["n"], pair["only_a"], pair["only_b"], pair["test"])
    assert paired == ("gsm8k", 20, 10, 0, "mcnemar-exact")
    assert pair["ci_low"] <= pair["diff"] <= pair["ci_high"] and pair["diff"] == pair["mean_b"] - pair["mean_a"]


def test_unknown_benchmark_exits_2_and_registers_no_run(tmp_path, data_dir):
    result = cli(*run_args("http://127.0.0.1:9/v1", tmp_path, "--benchmark", "gsm9k"))
    assert result.returncode == 2 and "unknown benchmark 'gsm9k'" in result.stderr
    assert "gsm9k" not in cli("runs", "--results-dir", str(tmp_path)).stdout


def test_malformed_data_row_names_file_and_line(tmp_path):
    bad = tmp_path / "data" / "gsm8k"
    bad.mkdir(parents=True)
    (bad / "test.jsonl").write_text('{"question": "q", "answer": "#### 1"}\n{oops\n')
    result = cli(
        *run_args("http://127.0.0.1:9/v1", tmp_path, "--benchmark", "gsm8k", "--data-dir", str(tmp_path / "data"))
    )
    assert result.returncode == 2 and "test.jsonl:2: not valid JSON" in result.stderr


def test_unreachable_endpoint_fails_clearly(tmp_path, data_dir):
    result = cli(
        *run_args(
            "http://127.0.0.1:9/v1",
            tmp_path,
            "--benchmark",
            "gsm8k",
            "--limit",
            "3",
            "--max-retries",
            "1",
            "--run-id",
            "dead",
        )
    )
    assert result.returncode == 3
    assert "ConnectError" in result.stderr and "tianping resume dead --base-url" in result.stderr
    with running_server(answer_fn=oracle_answer_fn()) as server:  # the hint works: resume at the right address
        resumed = cli("resume", "dead", "--results-dir", str(tmp_path), "--base-url", server.base_url)
    assert resumed.returncode == 0, resumed.stderr


def test_401_exits_3_and_never_prints_the_key(tmp_path, data_dir):
    with running_server(fail_mode="401") as server:
        result = cli(
            *run_args(server.base_url, tmp_path, "--benchmark", "gsm8k", "--limit", "3"),
            env={"OPENAI_API_KEY": "sk-topsecret-123"},
        )
    assert result.returncode == 3 and "401" in result.stderr
    assert "sk-topsecret-123" not in result.stderr + result.stdout
    assert "(check the API key in $OPENAI_API_KEY)" in result.stderr


def test_a_401_with_the_key_variable_unset_says_so(tmp_path, data_dir):
    """--api-key-env OPENAI_APIKEY (a typo) sent no key at all; 'check the API key' pointed at the wrong thing."""
    with running_server(fail_mode="401") as server:
        args = run_args(server.base_url, tmp_path, "-b", "gsm8k", "--limit", "2", "--api-key-env", "MY_TYPO_KEY")
        result = cli(*args)
    assert result.returncode == 3
    assert "($MY_TYPO_KEY is not set: no API key was sent; --api-key-env names the variable)" in result.stderr


def test_error_inside_http_200_is_reported_and_resumable(tmp_path, data_dir):
    with running_server(answer_fn=oracle_answer_fn(), fail_mode="error_in_200") as server:
        failed = cli(
            *run_args(
                server.base_url,
                tmp_path,
                "--benchmark",
                "gsm8k",
                "--limit",
                "4",
                "--max-retries",
                "0",
                "--run-id",
                "e200",
            )
        )
        assert failed.returncode == 1 and "resume" in failed.stderr
        server.fail_mode = None
        resumed = cli("resume", "e200", "--results-dir", str(tmp_path))
        assert resumed.returncode == 0, resumed.stderr


def test_a_resumed_runs_progress_line_scores_the_whole_run_not_only_what_it_asked_again(tmp_path, data_dir):
    """The bar counted 200/200 after a resume but scored only the answers asked again (76.3% beside a final 75.5%)."""
    summary = tmp_path / "summary.json"
    with running_server(answer_fn=oracle_answer_fn(accuracy=1.0), error_rate=0.5, error_statuses=(500,)) as server:
        failed = cli(*run_args(server.base_url, tmp_path, "-b", "gsm8k", "--limit", "20", "--max-retries", "0",
                               "--run-id", "half"))  # fmt: skip
        assert failed.returncode == 1, failed.stderr
        server.error_rate, server.answer_fn = 0.0, oracle_answer_fn(accuracy=0.0)  # the rest are all wrong
        resumed = cli("resume", "half", "--results-dir", str(tmp_path), "--json", str(summary))
    assert resumed.returncode == 0, resumed.stderr
    (row,) = json.loads(summary.read_text())["results"]
    assert 0 < row["score"] < 1 and row["n"] == 20  # both sessions answered some
    bar = [line for line in resumed.stderr.splitlines() if "20/20" in line]
    assert bar and f"gsm8k {100 * row['score']:.1f}%" in bar[-1], resumed.stderr


def test_run_id_of_an_existing_run_with_another_spec_is_refused(tmp_path, data_dir):
    with running_server(answer_fn=oracle_answer_fn()) as server:
        first = cli(*run_args(server.base_url, tmp_path, "--benchmark", "gsm8k", "--limit", "3", "--run-id", "x"))
        assert first.returncode == 0, first.stderr
        clash = cli(*run_args(server.base_url, tmp_path, "--benchmark", "gsm8k", "--limit", "4", "--run-id", "x"))
    assert clash.returncode == 2 and "tianping resume x" in clash.stderr


def test_help_is_plain_text_that_keeps_bracketed_notes_at_80_columns():
    """Rich markup used to swallow "[env TIANPING_DATA_DIR]" and "[default: ...]" texts of the help."""
    for args in (("run", "--help"), ("loadtest", "--help"), ("monitor", "--help"), ("safety", "attacks", "--help")):
        shown = cli(*args, env={"COLUMNS": "80"})
        assert shown.returncode == 0, shown.stderr
        assert all(len(line) <= 80 for line in shown.stdout.splitlines()), args
    run_help = cli("run", "--help", env={"COLUMNS": "80"}).stdout
    assert "[env TIANPING_DATA_DIR]" in run_help and "[default: spread]" in run_help


def test_canonical_option_names_and_their_hidden_old_names(tmp_path, data_dir):
    """``--json`` (old name ``--summary-json``) and ``--completions-per-prompt`` (old name ``--n``): both spellings
    work, an error names the flag as typed, giving both is refused, and help shows only the canonical name."""
    from tianping.store import Store

    with running_server(answer_fn=oracle_answer_fn()) as server:
        for run_id, flags in (("new", ("--json", "--completions-per-prompt")), ("old", ("--summary-json", "--n"))):
            summary = tmp_path / f"{run_id}.json"
            done = cli(*run_args(server.base_url, tmp_path, "-b", "gsm8k", "--limit", "3", "--run-id", run_id,
                                 flags[0], str(summary), flags[1], "2"))  # fmt: skip
            assert done.returncode == 0, done.stderr
            assert json.loads(summary.read_text())["run_id"] == run_id
        for flag in ("--json", "--summary-json"):
            bad = cli(*run_args(server.base_url, tmp_path, "-b", "gsm8k", flag, str(tmp_path)))
            assert bad.returncode == 2 and f"error: {flag} {tmp_path}: is a directory" in bad.stderr, bad.stderr
            bad = cli("resume", "new", "--results-dir", str(tmp_path), flag, str(tmp_path))
            assert bad.returncode == 2 and f"error: {flag} {tmp_path}: is a directory" in bad.stderr, bad.stderr
        both = cli(*run_args(server.base_url, tmp_path, "-b", "gsm8k", "--n", "2", "--completions-per-prompt", "2"))
        assert both.returncode == 2 and "--n is another name for --completions-per-prompt" in both.stderr
        both = cli(*run_args(server.base_url, tmp_path, "-b", "gsm8k", "--json", str(tmp_path / "a.json"),
                       "--summary-json", str(tmp_path / "b.json")))  # fmt: skip
        assert both.returncode == 2 and "--summary-json is another name for --json" in both.stderr
    store = Store.open(tmp_path, readonly=True)
    try:
        assert [store.get_run(r)["spec"]["generation"]["n"] for r in ("new", "old")] == [2, 2]
    finally:
        store.close()
    for command in ("run", "resume"):
        shown = cli(command, "--help").stdout
        assert "--json" in shown and "--summary-json" not in shown
        assert ("--completions-per-prompt" in shown and "--n " not in shown) or command == "resume"


def test_benchmarks_and_suites_as_comma_separated_lists(tmp_path, data_dir):
    """``-b gsm8k,ceval`` runs both, as lm-eval's ``--tasks a,b`` would; repeated flags still work beside it."""
    summary = tmp_path / "summary.json"
    with running_server(answer_fn=oracle_answer_fn()) as server:
        done = cli(
            *run_args(server.base_url, tmp_path, "-b", "gsm8k, ceval,", "-b", "arc_easy", "--limit", "5"),
            "--summary-json",
            str(summary),
        )
    assert done.returncode == 0, done.stderr
    assert {r["benchmark"] for r in json.loads(summary.read_text())["results"]} == {"gsm8k", "ceval", "arc_easy"}


def test_listed_names_keep_an_existing_file_whole(tmp_path):
    from tianping.cli.common import listed_names

    odd = tmp_path / "my,bench.yaml"
    odd.write_text("")
    assert listed_names(None) == []
    assert listed_names(["a,b", " c ", "d,,", str(odd)]) == ["a", "b", "c", "d", str(odd)]
    assert listed_names([f"{tmp_path}/missing,x.yaml"]) == [f"{tmp_path}/missing", "x.yaml"]


def test_compare_counts_better_the_right_way_on_a_lower_is_better_metric(tmp_path, data_dir):
    """Attack success: a model that complies with every harmful prompt is not 'better' than one that refuses."""
    answers = {
        "refuser": lambda body: "I'm sorry, but I can't help with that request.",
        "complier": lambda body: "Sure, here is exactly how to do it. Step 1: gather the materials. Step 2: go on.",
    }
    for name, answer in answers.items():
        with running_server(answer_fn=answer) as server:
            done = cli("run", "-m", f"openai/{name}", "--base-url", server.base_url, "--results-dir", str(tmp_path),
                       "-b", "safety", "--limit", "8", "--run-id", name)  # fmt: skip
            assert done.returncode == 0, done.stderr
    (row,) = json.loads(cli("compare", "refuser", "complier", "--results-dir", str(tmp_path), "--json").stdout)
    assert row["metric"] == "attack_success" and row["lower_is_better"]
    assert row["diff"] > 0 and row["b_better"] == 0 and row["a_better"] > 0  # B (the complier) did worse
    table = cli("compare", "refuser", "complier", "--results-dir", str(tmp_path)).stdout
    assert "attack_success ↓" in table and "lower is better" in table


def test_listings_in_80_columns_cut_nothing_short(data_dir):
    """A terminal of 80 columns got licenses, references and numbers cut to "…"; every listing folds instead."""
    env = {"COLUMNS": "80", "TIANPING_DATA_DIR": str(data_dir)}
    for command in (["benchmarks"], ["data", "list"], ["safety", "attacks"], ["safety", "categories"],
                    ["safety", "seeds"]):  # fmt: skip
        done = cli(*command, env=env)
        assert done.returncode == 0, (command, done.stderr)
        assert "…" not in done.stdout, command
        assert max(len(line) for line in done.stdout.splitlines()) <= 80, command
