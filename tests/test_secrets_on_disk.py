"""A canary API key, in the environment and in the base URL, appears in no file tianping writes and in
nothing it prints: store, report, export, summary, error messages."""

from __future__ import annotations

from pathlib import Path

from engine_helpers import cli
from fake_openai import oracle_answer_fn, running_server

CANARY = "sk-canary-5f3a9c1e7d2b4a6f8e0c"


def every_file(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def assert_no_canary(root: Path, *printed: str) -> None:
    files = every_file(root)
    assert files, "the commands should have written files"
    for path in files:
        assert CANARY.encode() not in path.read_bytes(), path
    for text in printed:
        assert CANARY not in text


def test_a_canary_key_reaches_no_written_file_and_no_output(tmp_path, data_dir):
    env = {"CANARY_KEY": CANARY}
    results = tmp_path / "results"
    printed: list[str] = []

    def run(*args: str, code: int = 0) -> None:
        done = cli(*args, env=env)
        printed.extend((done.stdout, done.stderr))
        assert done.returncode == code, done.stderr[-2000:]

    common = ["--model", "openai/m", "--benchmark", "gsm8k", "--limit", "6", "--data-dir", str(data_dir),
              "--results-dir", str(results)]  # fmt: skip
    with running_server(answer_fn=oracle_answer_fn(), api_key=CANARY) as server:
        host = server.base_url.removeprefix("http://")
        url = f"http://{host}?api_key={CANARY}&token={CANARY}"
        run("run", *common, "--api-key-env", "CANARY_KEY", "--base-url", url, "--run-id", "c1",
            "--summary-json", str(tmp_path / "out" / "s.json"))  # fmt: skip
        assert "not stored" in printed[-1]
        assert server.last_headers.get("Authorization") == f"Bearer {CANARY}"
    with running_server(answer_fn=oracle_answer_fn()) as basic:
        host = basic.base_url.removeprefix("http://")
        basic_url = f"http://user:{CANARY}@{host}"
        run("run", *common, "--api-key-env", "UNSET_KEY", "--base-url", basic_url, "--run-id", "c3")
        assert basic.last_headers.get("Authorization", "").startswith("Basic ")
    # a server that refuses the key: the 401 message names the variable, never the key
    with running_server(api_key="another-key") as refusing:
        host = refusing.base_url.removeprefix("http://")
        run("run", *common, "--api-key-env", "CANARY_KEY", "--base-url", f"http://{host}?api_key={CANARY}",
            "--run-id", "c2", code=3)  # fmt: skip
        assert "CANARY_KEY" in printed[-1]
    for command in (["show", "c1"], ["runs"], ["report", "c1"], ["report", "c2"]):
        run(*command, "--results-dir", str(results))
    run("export", "c1", "--results-dir", str(results), "-o", str(tmp_path / "out" / "c1.jsonl"))
    run("export", "c2", "--results-dir", str(results))
    assert (results / "c1.html").is_file() and (tmp_path / "out" / "s.json").is_file()
    assert_no_canary(tmp_path, *printed)


def test_a_run_stored_with_credentials_by_an_older_version_shows_none(tmp_path):
    from tianping.report.collect import run_info
    from tianping.store import Store

    store = Store.open(tmp_path)
    url = f"http://user:{CANARY}@127.0.0.1:9/v1?api_key={CANARY}"
    store.create_run("old", {"models": [{"id": "openai/m", "base_url": url}], "benchmarks": ["gsm8k"]}, "0.0")
    assert CANARY not in str(run_info(store, "old").spec)
    assert run_info(store, "old").spec["models"][0]["base_url"] == "http://127.0.0.1:9/v1"
