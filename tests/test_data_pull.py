"""``tianping data pull / verify / list / path`` against local servers on 127.0.0.1 that serve the shared
datasets in the Hugging Face Hub's layout and in raw.githubusercontent.com's, never the internet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine_helpers import cli
from hub_mirror import MirrorState, env_for, hub_files, serving
from tianping.data.catalog import dataset, hub_mirror

GSM8K_FILES = {f.path for f in dataset("gsm8k").files}


@pytest.fixture(scope="module")
def hub(data_dir: Path) -> Iterator[tuple[str, MirrorState]]:
    mirror = hub_mirror()
    with serving(hub_files(data_dir, mirror.repo, mirror.revision)) as served:
        yield served


@pytest.fixture()
def fresh_hub(data_dir: Path) -> Iterator[tuple[str, MirrorState]]:
    """A hub server of its own, for a test that sets faults or counts requests."""
    mirror = hub_mirror()
    with serving(hub_files(data_dir, mirror.repo, mirror.revision)) as served:
        yield served


def raw_files(data_dir: Path, name: str) -> dict[str, Path]:
    """The dataset's files as raw.githubusercontent.com serves them: <owner>/<repo>/<commit>/<upstream path>."""
    entry = dataset(name)
    found = {}
    for f in entry.files:
        upstream = entry.source_of(f)
        if upstream is not None:
            found[f"{upstream.slug}/{upstream.commit}/{f.upstream_path}"] = data_dir / name / f.path
    return found


def resolves(state: MirrorState) -> list[str]:
    """The files a hub server was asked for (not the client's telemetry calls)."""
    return [s.path.rsplit("/resolve/", 1)[1] for s in state.seen if "/resolve/" in s.path and s.method == "GET"]


def test_pull_verify_list_and_path(tmp_path: Path, hub: tuple[str, MirrorState], data_dir: Path) -> None:
    url, _ = hub
    env = env_for(tmp_path, url)
    done = cli("data", "pull", "gsm8k", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "license MIT" in done.stderr and "gsm8k: 0 present, 5 fetched" in done.stdout
    for path in GSM8K_FILES:
        assert (tmp_path / "data" / "gsm8k" / path).read_bytes() == (data_dir / "gsm8k" / path).read_bytes()
    again = cli("data", "pull", "gsm8k", env=env)  # nothing to do: no license notice, no download
    assert again.returncode == 0 and "5 present, 0 fetched" in again.stdout and "license" not in again.stderr
    assert cli("data", "verify", "gsm8k", env=env).returncode == 0
    listed = json.loads(cli("data", "list", "--json", env=env).stdout)
    status = {d["name"]: d["status"] for d in listed["datasets"]}
    assert status["gsm8k"] == "complete" and status["mmlu"] == "missing"
    where = cli("data", "path", "gsm8k", env=env)
    assert where.stdout.strip() == str(tmp_path / "data" / "gsm8k")
    unknown = cli("data", "path", "gsm9k", env=env)
    assert unknown.returncode == 2 and "known: " in unknown.stderr and "gsm8k" in unknown.stderr


def test_a_cut_hub_download_is_retried_and_checked(tmp_path: Path, fresh_hub: tuple[str, MirrorState]) -> None:
    url, state = fresh_hub
    mirror = hub_mirror()
    target = f"datasets/{mirror.repo}/resolve/{mirror.revision}/gsm8k/test.jsonl"
    state.cut[target] = 50_000
    done = cli("data", "pull", "gsm8k", env=env_for(tmp_path, url))
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(state.gets(target)) == 2  # the first was cut after 50 kB, the second completed it
    assert cli("data", "verify", "gsm8k", env=env_for(tmp_path, url)).returncode == 0


def test_upstream_source_resumes_a_cut_download_with_a_range_request(tmp_path: Path, data_dir: Path) -> None:
    with serving(raw_files(data_dir, "gsm8k")) as (raw, state):
        upstream = dataset("gsm8k").source_of(next(f for f in dataset("gsm8k").files if f.path == "train.jsonl"))
        target = f"{upstream.slug}/{upstream.commit}/grade_school_math/data/train.jsonl"  # type: ignore[union-attr]
        state.cut[target] = 100_000
        env = env_for(tmp_path, "http://127.0.0.1:9", TIANPING_UPSTREAM_URL=raw)
        done = cli("data", "pull", "gsm8k", "--source", "upstream", env=env)
        # SOURCE.md exists only in tianping's copy: the upstream source cannot give it
        assert done.returncode == 3, done.stderr[-3000:]
        assert "SOURCE.md" in done.stderr and "only in tianping's copy" in done.stderr
        first, second = state.gets(target)
        assert "range" not in first.headers and second.headers["range"] == "bytes=100000-"
        fetched = tmp_path / "data" / "gsm8k" / "train.jsonl"
        assert fetched.read_bytes() == (data_dir / "gsm8k" / "train.jsonl").read_bytes()
        assert not fetched.with_name("train.jsonl.part").exists()

        # a .part left by an earlier process is resumed, not fetched again
        test_file = tmp_path / "data" / "gsm8k" / "test.jsonl"
        test_file.rename(test_file.with_name("test.jsonl.part"))
        with test_file.with_name("test.jsonl.part").open("r+b") as f:
            f.truncate(1000)
        again = cli("data", "pull", "gsm8k", "--source", "upstream", env=env)
        assert again.returncode == 3 and "test.jsonl: ok (upstream)" in again.stderr
        last = state.gets("grade_school_math/data/test.jsonl")[-1]
        assert last.headers["range"] == "bytes=1000-"
        assert test_file.read_bytes() == (data_dir / "gsm8k" / "test.jsonl").read_bytes()


def test_auto_falls_back_to_upstream_unless_a_mirror_is_named(tmp_path: Path, data_dir: Path) -> None:
    mirror = hub_mirror()
    on_hub = hub_files(data_dir, mirror.repo, mirror.revision)
    missing = f"datasets/{mirror.repo}/resolve/{mirror.revision}/svamp/SVAMP.json"
    del on_hub[missing]  # the hub lacks one file; its upstream repo has it
    with serving(on_hub) as (hub_url, _), serving(raw_files(data_dir, "svamp")) as (raw, raw_state):
        env = env_for(tmp_path, hub_url, TIANPING_UPSTREAM_URL=raw)
        named = cli("data", "pull", "svamp", "--mirror", hub_url, env=env)
        assert named.returncode == 3 and "SVAMP.json" in named.stderr and "404" in named.stderr
        assert not raw_state.seen  # a named mirror is the only source asked
        done = cli("data", "pull", "svamp", env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "SVAMP.json: ok (upstream)" in done.stderr
        assert [s.path.rsplit("/", 1)[1] for s in raw_state.seen] == ["SVAMP.json"]  # the rest came from the hub


def test_a_corrupted_download_is_deleted_and_a_corrupted_file_fails_verify(
    tmp_path: Path, fresh_hub: tuple[str, MirrorState], data_dir: Path
) -> None:
    url, state = fresh_hub
    mirror = hub_mirror()
    env = env_for(tmp_path, url)
    state.corrupt.add(f"datasets/{mirror.repo}/resolve/{mirror.revision}/gsm8k/test.jsonl")
    bad = cli("data", "pull", "gsm8k", "--mirror", url, env=env)
    assert bad.returncode == 3 and "does not match the catalog" in bad.stderr
    test_file = tmp_path / "data" / "gsm8k" / "test.jsonl"
    assert not test_file.exists()  # never left where a run would read it
    assert {p.name for p in test_file.parent.iterdir()} == GSM8K_FILES - {"test.jsonl"}

    text = (data_dir / "gsm8k" / "test.jsonl").read_bytes()
    test_file.write_bytes(text.replace(b"Janet", b"Jan3t", 1))  # same size: only the hash can tell
    checked = cli("data", "verify", "gsm8k", env=env)
    assert checked.returncode == 1
    assert "test.jsonl: sha256" in checked.stdout and "tianping data pull --force gsm8k" in checked.stderr
    test_file.write_bytes(text[: len(text) // 2])  # cut mid-line: the row count says so too
    cut = cli("data", "verify", "gsm8k", "--json", env=env)
    report = json.loads(cut.stdout)
    (problem,) = report["datasets"][0]["problems"]
    assert cut.returncode == 1 and report["ok"] is False and problem["path"].endswith("gsm8k/test.jsonl")
    assert "not valid JSON" in problem["problem"]
    kept = cli("data", "pull", "gsm8k", env=env)  # pull leaves a modified file alone unless forced
    assert kept.returncode == 1 and "modified (kept" in kept.stdout
    state.corrupt.clear()
    assert cli("data", "pull", "gsm8k", "--force", env=env).returncode == 0
    assert test_file.read_bytes() == (data_dir / "gsm8k" / "test.jsonl").read_bytes()


@pytest.mark.parametrize("offline", [["--offline"], ["HF_HUB_OFFLINE=1"]])  # TIANPING_OFFLINE: test_data_run
def test_offline_pull_refuses_naming_the_command(
    tmp_path: Path, fresh_hub: tuple[str, MirrorState], offline: list[str]
) -> None:
    url, state = fresh_hub
    flags = [o for o in offline if o.startswith("--")]
    extra = dict(o.split("=") for o in offline if "=" in o)
    done = cli("data", "pull", "gsm8k", *flags, env=env_for(tmp_path, url, **extra))
    assert done.returncode == 2
    assert "tianping data pull gsm8k" in done.stderr and "downloads are off" in done.stderr
    assert not resolves(state) and not (tmp_path / "data" / "gsm8k").exists()


def test_mirror_option_wins_over_hf_endpoint(tmp_path: Path, data_dir: Path) -> None:
    mirror = hub_mirror()
    files = hub_files(data_dir, mirror.repo, mirror.revision)
    with serving(files) as (ignored_url, ignored), serving(files) as (named_url, named):
        done = cli("data", "pull", "ocnli", "--mirror", named_url, env=env_for(tmp_path, ignored_url))
        assert done.returncode == 0, done.stderr[-3000:]
        assert sorted(resolves(named)) == sorted(f"{mirror.revision}/ocnli/{f.path}" for f in dataset("ocnli").files)
        assert ignored.seen == []  # nothing at all went to HF_ENDPOINT: not even the hub client's own calls
        # a non-commercial license is flagged before the first download
        assert "NON-COMMERCIAL" in done.stderr and "CC-BY-NC-2.0" in done.stderr
        assert done.stderr.index("NON-COMMERCIAL") < done.stderr.index("dev.json: ok")
        bad = cli("data", "pull", "ocnli", "--mirror", "modelscope", env=env_for(tmp_path, ignored_url))
        assert bad.returncode == 2 and "hf-mirror" in bad.stderr


def test_an_empty_data_folder(tmp_path: Path) -> None:
    env = env_for(tmp_path, "http://127.0.0.1:9")
    assert cli("data", "pull", env=env).returncode == 2
    both = cli("data", "pull", "gsm8k", "--all", env=env)
    assert both.returncode == 2 and "not both" in both.stderr
    nothing = cli("data", "verify", env=env)
    assert nothing.returncode == 1 and "tianping data pull NAME" in nothing.stderr
    # without the data extra, the hub source says what to install (the upstream source would not need it)
    blocked = "import sys; sys.modules['huggingface_hub'] = None; from tianping.cli import main; main()"
    no_hub = subprocess.run(
        [sys.executable, "-c", blocked, "data", "pull", "svamp", "--source", "hub"],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=60,
    )  # fmt: skip
    assert no_hub.returncode == 3 and "pip install 'tianping[data]'" in no_hub.stderr
    table = cli("data", "list", env=env)
    assert table.returncode == 0
    cmmlu = next(line for line in table.stdout.splitlines() if " cmmlu " in line)
    assert "CC-BY-NC-SA-4.0 [NC]" in cmmlu and "missing" in cmmlu and "haonan-li/CMMLU@d6e7b71" in cmmlu
    narrow = cli("data", "list", env={**env, "COLUMNS": "80"}).stdout  # a license folds, never "CC-BY-NC-SA-4…"
    assert "…" not in narrow and max(len(line) for line in narrow.splitlines()) <= 80


def test_with_no_network_the_first_unresolved_host_spares_every_other_file_its_retries(tmp_path: Path) -> None:
    """Offline, pulling MMLU paid the hub client's five retries and three upstream attempts for each of 116
    files (minutes); a name that does not resolve is now learnt once per source, and the way out is said."""
    env = env_for(tmp_path, "http://tianping-no-such-host.invalid", TIANPING_UPSTREAM_URL="http://no-such-host.invalid")
    done = cli("data", "pull", "svamp", "--source", "upstream", "--jobs", "1", env=env)
    assert done.returncode == 3, done.stderr
    assert "svamp: 0 present, 0 fetched, 3 failed" in done.stdout
    # the first file finds out; the other two are not tried against a host already known not to resolve
    assert done.stderr.count("upstream: not tried: no-such-host.invalid could not be resolved (no network?)") == 2
    assert "no-such-host.invalid could not be resolved: no network here?" in done.stderr
    assert "--mirror URL" in done.stderr
