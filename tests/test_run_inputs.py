"""Careless and hostile command-line input: one error line naming the flag, file or field, exit 2, no
traceback, and nothing registered in the store before the input is known to be good."""

from __future__ import annotations

import json
import sqlite3

import pytest

from engine_helpers import cli
from fake_openai import running_server
from tianping.store import Store
from tianping.store.store import DB_FILENAME


def assert_one_line_error(done, *needles: str, code: int = 2) -> None:
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    for needle in needles:
        assert needle in done.stderr, (needle, done.stderr)


def run_args(results, data_dir, *extra: str, base_url: str = "http://127.0.0.1:9/v1") -> list[str]:
    return ["run", "--model", "openai/m", "--base-url", base_url, "--benchmark", "gsm8k", "--limit", "2",
            "--data-dir", str(data_dir), "--results-dir", str(results), *extra]  # fmt: skip


def runs_in(results) -> list[str]:
    db = results / DB_FILENAME
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("select run_id from runs")]


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--temperature", "nan"], "--temperature"),
        (["--temperature", "-1"], "--temperature"),
        (["--top-p", "inf"], "--top-p"),
        (["--max-tokens", "100000000000000000000000000000"], "--max-tokens"),
        (["--timeout", "inf"], "--timeout"),
        (["--timeout", "nan"], "--timeout"),
        (["--rpm", "nan"], "--rpm"),
        (["--max-reply-mb", "0"], "--max-reply-mb"),
        (["--n", "100000"], "--n"),
        (["--completions-per-prompt", "100000"], "--completions-per-prompt"),
        (["--mode", "guess"], "--mode"),
        (["--api-key-env", "sk-live-0123456789abcdefABCDEF0123"], "--api-key-env"),
        (["--api-key-env", "MY KEY"], "--api-key-env"),
        (["--run-id", "../../../tmp/x"], "--run-id"),
        (["--run-id", "a[/]b"], "--run-id"),
    ],
)
def test_bad_flags_exit_2_with_one_line_before_any_run_exists(tmp_path, data_dir, flags, needle):
    results = tmp_path / "results"
    done = cli(*run_args(results, data_dir, *flags))
    assert_one_line_error(done, needle)
    assert runs_in(results) == []


def test_a_key_given_as_the_env_var_name_is_refused_and_never_echoed(tmp_path, data_dir):
    key = "sk-live-0123456789abcdefABCDEF0123"
    done = cli(*run_args(tmp_path / "r", data_dir, "--api-key-env", key))
    assert_one_line_error(done, "NAME of an environment variable")
    assert key not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("model", "base_url", "needle"),
    [
        ("openai/m", "ftp://example/v1", "--base-url"),
        ("openai/m", "http://", "--base-url"),
        ("openai/m", "http://127.0.0.1:notaport/v1", "--base-url"),
        ("llama/m", "http://127.0.0.1:9/v1", "unknown backend 'llama'"),
        ("opena/m", "http://127.0.0.1:9/v1", "unknown backend 'opena' in model id 'opena/m'; did you mean openai/m?"),
        ("hf/no/such/checkpoint", "http://127.0.0.1:9/v1", "does not exist"),
    ],
)
def test_a_bad_endpoint_or_backend_leaves_no_failed_run_behind(tmp_path, data_dir, model, base_url, needle):
    results = tmp_path / "results"
    args = run_args(results, data_dir, base_url=base_url)
    args[2] = model
    done = cli(*args)
    assert_one_line_error(done, needle)
    assert runs_in(results) == []


def test_a_results_dir_that_cannot_be_created_is_one_line(tmp_path, data_dir):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    done = cli(*run_args(blocker / "results", data_dir))
    assert_one_line_error(done, "cannot create the results directory")


def test_outputs_that_are_directories_are_refused_before_the_run(tmp_path, data_dir):
    with running_server() as server:
        results = tmp_path / "results"
        done = cli(*run_args(results, data_dir, "--summary-json", str(tmp_path), base_url=server.base_url))
        assert_one_line_error(done, "--summary-json", "is a directory")
        assert server.requests_total == 0 and runs_in(results) == []

        ok = cli(*run_args(results, data_dir, "--run-id", "r1", base_url=server.base_url))
        assert ok.returncode == 0, ok.stderr
    for command in (["report", "r1", "-o", str(tmp_path)], ["export", "r1", "-o", str(tmp_path)]):
        assert_one_line_error(cli(*command, "--results-dir", str(results)), "is a directory")


def test_an_undefined_template_variable_is_one_line_naming_the_field(tmp_path, data_dir):
    bench = tmp_path / "typo.yaml"
    bench.write_text(
        "name: typo\nversion: 1\ndataset: {loader: gsm8k_jsonl, path: gsm8k/test.jsonl}\n"
        "prompt: {question: '{{ questoin }}'}\nscoring: {extractor: final_number}\n"
    )
    results = tmp_path / "results"
    args = run_args(results, data_dir)
    args[args.index("gsm8k")] = str(bench)
    done = cli(*args)
    assert_one_line_error(done, "typo.yaml", "prompt.question", "questoin")
    assert runs_in(results) == []


def test_an_empty_dataset_is_an_error_not_a_completed_run(tmp_path, data_dir):
    (tmp_path / "data" / "mine").mkdir(parents=True)
    (tmp_path / "data" / "mine" / "empty.jsonl").write_text("")
    bench = tmp_path / "data" / "empty.yaml"
    bench.write_text(
        "name: empty\nversion: 1\ndataset: {loader: gsm8k_jsonl, path: mine/empty.jsonl}\n"
        "prompt: {question: '{{ question }}'}\nscoring: {extractor: final_number}\n"
    )
    results = tmp_path / "results"
    args = run_args(results, tmp_path / "data")
    args[args.index("gsm8k")] = str(bench)
    done = cli(*args)
    assert_one_line_error(done, "empty.jsonl", "no samples")
    assert runs_in(results) == []


def test_a_corrupt_or_newer_store_is_one_line_in_every_command(tmp_path, data_dir):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / DB_FILENAME).write_bytes(b"this is not sqlite" * 100)
    newer = tmp_path / "newer"
    Store.open(newer).close()
    with sqlite3.connect(newer / DB_FILENAME) as conn:
        conn.execute("PRAGMA user_version=999")
    for folder, needle in ((corrupt, "not a usable tianping result database"), (newer, "newer tianping")):
        for command in (["runs"], ["show", "x"], ["report", "x"], ["export", "x"], ["resume", "x"]):
            assert_one_line_error(cli(*command, "--results-dir", str(folder)), needle)
        assert_one_line_error(cli(*run_args(folder, data_dir)), needle)


def test_markup_in_names_is_printed_as_text(tmp_path, data_dir):
    """A model name with rich markup ('[/]') is shown as typed, never interpreted or crashing the table."""
    with running_server() as server:
        results = tmp_path / "results"
        args = run_args(results, data_dir, "--run-id", "plain", base_url=server.base_url)
        args[2] = "openai/[bold]m[/]"
        done = cli(*args)
        assert done.returncode == 0, done.stderr
        assert "[bold]m[/]" in done.stdout
        shown = cli("show", "plain", "--results-dir", str(results))
        assert shown.returncode == 0 and "[bold]m[/]" in shown.stdout
        listed = cli("runs", "--results-dir", str(results))
        assert listed.returncode == 0 and "[bold]m[/]" in listed.stdout


def test_a_report_for_a_run_id_that_would_escape_the_results_dir_is_refused(tmp_path):
    """An id stored by an older version (before ids were checked) cannot name a file outside the folder."""
    results = tmp_path / "results"
    store = Store.open(results)
    store.create_run("../../escape", {"models": [], "benchmarks": []}, "0")
    store.close()
    done = cli("report", "../../escape", "--results-dir", str(results))
    assert_one_line_error(done, "--output")
    assert not (tmp_path.parent / "escape.html").exists()
    assert json.loads(json.dumps(runs_in(results))) == ["../../escape"]


def test_a_url_password_beside_an_api_key_is_refused_before_the_run(tmp_path, data_dir):
    results = tmp_path / "results"
    done = cli(*run_args(results, data_dir, base_url="http://user:pw@127.0.0.1:9/v1"), env={"OPENAI_API_KEY": "k"})
    assert_one_line_error(done, "--model openai/m", "one of them")
    assert "pw" not in done.stderr and runs_in(results) == []


def test_run_id_of_an_older_run_continues_it_despite_settings_added_since_at_their_default(tmp_path, data_dir):
    """A setting added after a run was stored (at its default) is no difference; a changed setting is named."""
    results = tmp_path / "r"
    with running_server(latency_s=0.0) as server:
        args = ["run", "--model", "openai/fake", "--base-url", server.base_url, "-b", "gsm8k", "--limit", "2",
                "--results-dir", str(results), "--run-id", "old", "--data-dir", str(data_dir)]  # fmt: skip
        assert cli(*args, env={"OPENAI_API_KEY": "x"}).returncode in (0, 1)
        db = sqlite3.connect(results / "tianping.sqlite")
        spec = json.loads(db.execute("SELECT spec_json FROM runs WHERE run_id = 'old'").fetchone()[0])
        del spec["limit_mode"]  # as a version before --limit-mode stored it
        db.execute("UPDATE runs SET spec_json = ? WHERE run_id = 'old'", (json.dumps(spec),))
        db.commit()
        db.close()
        again = cli(*args, env={"OPENAI_API_KEY": "x"})
        assert again.returncode in (0, 1) and "different settings" not in again.stderr, again.stderr
        changed = cli(*[a if a != "2" else "3" for a in args], env={"OPENAI_API_KEY": "x"})
    assert changed.returncode == 2 and "different settings (limit)" in changed.stderr
