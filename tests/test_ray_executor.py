"""The Ray executor against the local one: a plan of 3 models x 4 benchmarks on a real local Ray cluster (started
here, offline, 2 CPUs, no dashboard) and a real fake OpenAI server, on SQLite and on PostgreSQL (a throwaway
cluster, where its binaries exist). Whatever dies on the way (a worker mid-unit, the driver mid-run) and however
many drivers share the plan, every sample ends stored exactly once and the results equal the local executor's.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine_helpers import REPO, run_engine
from fake_openai import echo_answer, oracle_answer_fn, running_server
from tianping.engine.runner import start_run
from tianping.spec import ModelSpec, RunSpec
from tianping.store import Store
from tianping.store.units import UnitQueue

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'tianping[ray]')")

pytestmark = pytest.mark.ray

MODELS = ("openai/strong", "openai/middling", "openai/weak")
BENCHMARKS = ["gsm8k", "arc_easy", "piqa", "svamp"]
ACCURACY = {"strong": 0.9, "middling": 0.6, "weak": 0.2}
CLI_LIMIT = 10
CLI_SAMPLES = len(MODELS) * len(BENCHMARKS) * CLI_LIMIT


def _answers() -> Any:
    """Each model right on its own share of the questions, so that the three models' results differ."""
    oracles = {name: oracle_answer_fn(acc, seed=i) for i, (name, acc) in enumerate(ACCURACY.items())}

    def answer(body: dict[str, Any]) -> str:
        oracle = oracles.get(body.get("model", ""))
        return oracle(body) if oracle is not None else echo_answer(body)

    return answer


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with running_server(answer_fn=_answers()) as srv:
        yield srv


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A local Ray cluster for this module's tests (and the drivers they start as subprocesses)."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    temp = tempfile.mkdtemp(prefix="tpray-")  # short: Ray's socket paths must fit in 107 bytes
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        namespace="tianping",
        log_to_driver=False,
        _temp_dir=temp,
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


def _spec(base_url: str, data_dir: Path, limit: int) -> RunSpec:
    return RunSpec(
        models=[ModelSpec(id=m, base_url=base_url, concurrency=4, timeout_s=20) for m in MODELS],
        benchmarks=BENCHMARKS,
        limit=limit,
        data_dir=str(data_dir),
    )


def _results(store: Store, run_id: str) -> tuple[dict[tuple[str, str, str], tuple[Any, ...]], list[dict[str, Any]]]:
    """What must not depend on the executor: each sample's key, request, answer and score, and the aggregates."""
    samples = {
        (r["model"], r["benchmark"], r["sample_id"]): (
            r["request_key"], r["output"], r["extracted"], r["score"], r["status"], r["reason"], r["metrics"],
        )
        for r in store.sample_rows(run_id)
    }  # fmt: skip
    aggregates = [{k: v for k, v in row.items() if k != "run_id"} for row in store.aggregates(run_id)]
    return samples, aggregates


_REFERENCES: dict[int, Any] = {}


def _reference(base_url: str, data_dir: Path, folder: Path, limit: int) -> Any:
    """The local executor's results on SQLite for ``limit`` samples per benchmark: what a Ray run must equal."""
    if limit not in _REFERENCES:
        store = Store(folder / f"local-{limit}.sqlite")
        result = run_engine(store, _spec(base_url, data_dir, limit))
        assert result.status == "completed", result.message
        _REFERENCES[limit] = _results(store, result.run_id)
        store.close()
        assert len(_REFERENCES[limit][0]) == len(MODELS) * len(BENCHMARKS) * limit
    return _REFERENCES[limit]


@pytest.fixture(scope="module")
def reference(server: Any, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _reference(server.base_url, data_dir, tmp_path_factory.mktemp("local"), 25)


@pytest.fixture(scope="module")
def small_reference(server: Any, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """For the tests that drive the command line: fewer samples, as each start of a driver costs seconds."""
    return _reference(server.base_url, data_dir, tmp_path_factory.mktemp("local"), CLI_LIMIT)


def _store_url(request: pytest.FixtureRequest, folder: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{folder / 'ray.sqlite'}"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _store_url(request, tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def cli_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """For the tests that start drivers as processes (marked slow: each takes 15-30 s on a busy 2-core machine)."""
    return _store_url(request, tmp_path)


def _check_once(store: Store, run_id: str, expected: int) -> None:
    """Every planned sample stored, once (the rows are keyed by model, task and sample), and every unit done."""
    rows = list(store.sample_rows(run_id))
    keys = [(r["model"], r["benchmark"], r["sample_id"]) for r in rows]
    assert len(keys) == len(set(keys)) == expected
    units = UnitQueue(store).units(run_id)
    assert units and all(u["status"] == "done" for u in units)
    assert sum(len(u["sample_ids"]) for u in units) == expected


def _ray_run(store: Store, spec: RunSpec, **options: Any) -> Any:
    from tianping.engine.ray_executor import RayRunner

    run_id = start_run(store, spec)
    result = asyncio.run(RayRunner(spec, store, run_id, **options).execute())
    return run_id, result


def test_ray_equals_local(server: Any, data_dir: Path, ray_address: str, reference: Any, store_url: str) -> None:
    store = Store(store_url)
    run_id, result = _ray_run(store, _spec(server.base_url, data_dir, 25), unit_size=16)
    assert result.status == "completed", result.message
    assert result.sent + result.from_cache == 300
    _check_once(store, run_id, 300)
    assert _results(store, run_id) == reference
    assert store.get_run(run_id)["status"] == "completed"


def test_worker_killed_mid_unit(
    server: Any, data_dir: Path, ray_address: str, reference: Any, store_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    marker = tmp_path / "killed"
    monkeypatch.setenv("TIANPING_TEST_KILL_WORKER", f"{marker}:5")
    store = Store(store_url)
    run_id, result = _ray_run(store, _spec(server.base_url, data_dir, 25), unit_size=10)
    assert marker.exists(), "no worker was killed: the test hook did not fire"
    assert result.status == "completed", result.message
    _check_once(store, run_id, 300)
    assert _results(store, run_id) == reference


def _driver(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tianping", "run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env, "COLUMNS": "200"},
        cwd=REPO,
    )


def _cli_args(server: Any, ray_address: str, store_url: str, run_id: str) -> list[str]:
    args = ["--base-url", server.base_url, "--limit", str(CLI_LIMIT), "-c", "4", "--executor", "ray"]
    args += ["--ray-address", ray_address, "--store", store_url, "--run-id", run_id]
    for m in MODELS:
        args += ["-m", m]
    for b in BENCHMARKS:
        args += ["-b", b]
    return args


def _wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _stored(store_url: str, run_id: str) -> int:
    store = Store(store_url)
    try:
        if store.get_run(run_id) is None:
            return -1
        return sum(1 for _ in store.sample_rows(run_id))
    finally:
        store.close()


@pytest.fixture
def slow_server(server: Any) -> Iterator[Any]:
    """The module's server, answering slowly enough that a run is still going when a test interferes."""
    server.latency_s = 0.4
    try:
        yield server
    finally:
        server.latency_s = 0.0


@pytest.mark.slow
def test_driver_killed_and_restarted(
    slow_server: Any, ray_address: str, small_reference: Any, cli_store_url: str, tmp_path: Path
) -> None:
    env = {"TIANPING_UNIT_SIZE": "5", "TIANPING_RESULTS_DIR": str(tmp_path / "unused")}
    args = _cli_args(slow_server, ray_address, cli_store_url, "kill-driver")
    first = _driver(args, env)
    try:
        _wait_for(lambda: _stored(cli_store_url, "kill-driver") >= 20, 120, "the first driver to store answers")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    assert _stored(cli_store_url, "kill-driver") < CLI_SAMPLES, "the run ended before the driver was killed"
    second = _driver(args, env)
    out, _ = second.communicate(timeout=240)
    assert second.returncode == 0, out
    store = Store(cli_store_url)
    _check_once(store, "kill-driver", CLI_SAMPLES)
    assert _results(store, "kill-driver") == small_reference
    assert store.get_run("kill-driver")["status"] == "completed"


@pytest.mark.slow
def test_two_drivers_share_a_plan(
    slow_server: Any, ray_address: str, small_reference: Any, cli_store_url: str, tmp_path: Path
) -> None:
    env = {"TIANPING_UNIT_SIZE": "5", "TIANPING_RESULTS_DIR": str(tmp_path / "unused")}
    args = _cli_args(slow_server, ray_address, cli_store_url, "two-drivers")
    first = _driver(args, env)
    # the second joins once the first has registered the run (two drivers creating one run id would race)
    _wait_for(lambda: _stored(cli_store_url, "two-drivers") >= 0, 120, "the first driver to register the run")
    second = _driver(args, env)
    outs = [p.communicate(timeout=240)[0] for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outs
    store = Store(cli_store_url)
    _check_once(store, "two-drivers", CLI_SAMPLES)
    assert _results(store, "two-drivers") == small_reference
    workers = {u["worker"] for u in UnitQueue(store).units("two-drivers")}
    assert len(workers) == 2, f"one driver did all the work: {workers}"


@pytest.mark.slow
def test_ray_equals_local_2000_samples(
    server: Any, data_dir: Path, ray_address: str, store_url: str, tmp_path: Path
) -> None:
    spec = _spec(server.base_url, data_dir, 170)
    local = Store(tmp_path / "local.sqlite")
    done = run_engine(local, spec)
    assert done.status == "completed", done.message
    store = Store(store_url)
    run_id, result = _ray_run(store, spec)
    assert result.status == "completed", result.message
    expected = len(MODELS) * len(BENCHMARKS) * 170
    assert expected >= 2000
    _check_once(store, run_id, expected)
    assert _results(store, run_id) == _results(local, done.run_id)


def test_rate_limit_holds_across_workers(server: Any, data_dir: Path, ray_address: str, tmp_path: Path) -> None:
    """Two units run at once in two worker processes; their requests still start 60/rpm seconds apart, as one
    process's would: the limit is the cluster's, not each worker's."""
    rpm = 600.0  # one request every 0.1 s
    spec = RunSpec(
        models=[ModelSpec(id="openai/strong", base_url=server.base_url, concurrency=4, rpm=rpm, timeout_s=20)],
        benchmarks=["gsm8k", "svamp"],
        limit=8,
        data_dir=str(data_dir),
        use_cache=False,
    )
    server.arrivals.clear()
    store = Store(tmp_path / "rate.sqlite")
    run_id, result = _ray_run(store, spec, unit_size=4)
    assert result.status == "completed", result.message
    arrivals = sorted(server.arrivals)
    assert len(arrivals) == 16
    # measured where the requests arrive, so one gap can shrink when the loaded machine delays a request; the
    # rate cannot: 16 starts at one per 0.1 s span 1.5 s (two workers limited each on their own: 0.75 s), and no
    # half second holds more than its 5 starts and one of scheduling slack
    span = arrivals[-1] - arrivals[0]
    assert span > 0.9 * 15 * 60 / rpm, f"16 requests in {span:.3f} s: faster than 60/rpm"
    busiest = max(sum(1 for t in arrivals if a <= t < a + 0.5) for a in arrivals)
    assert busiest <= 6, f"{busiest} requests within 0.5 s"
    workers = {u["worker"] for u in UnitQueue(store).units(run_id)}
    assert len(workers) == 1  # one driver; the units ran on the cluster's two CPUs


@pytest.mark.slow
def test_local_model_on_actors_equals_local(data_dir: Path, ray_address: str, tmp_path: Path) -> None:
    """A local model (the bundled reference model) runs on actors that load it once and keep it across units."""
    spec = RunSpec(
        models=[ModelSpec(id="ref/tp-ref-clean", device="cpu", batch_size=8)],
        benchmarks=["arc_easy"],
        limit=24,
        mode="loglikelihood",
        data_dir=str(data_dir),
    )
    local = Store(tmp_path / "local.sqlite")
    done = run_engine(local, spec)
    assert done.status == "completed", done.message
    store = Store(tmp_path / "ray.sqlite")
    run_id, result = _ray_run(store, spec, unit_size=8)
    assert result.status == "completed", result.message
    _check_once(store, run_id, 24)
    (ours, our_aggregates), (theirs, their_aggregates) = _results(store, run_id), _results(local, done.run_id)
    assert our_aggregates == their_aggregates
    assert ours.keys() == theirs.keys()
    for key, row in ours.items():
        # a unit batches other neighbours than the whole plan does: the log-likelihoods may differ in their last
        # float digits (as with any other batch composition), every choice and score may not
        assert row[0] == theirs[key][0] and row[2:] == theirs[key][2:], key
        assert json.loads(row[1]) == pytest.approx(json.loads(theirs[key][1]), rel=1e-5), key


def test_failed_samples_are_retried_by_the_next_run(data_dir: Path, ray_address: str, store_url: str) -> None:
    """Samples that fail after their retries leave the run incomplete, and their units claimable at once: the
    next driver on the run sends only those and completes it."""
    with running_server(fail_mode="500", fail_first=1) as failing:  # each request's first attempt fails
        spec = RunSpec(
            models=[ModelSpec(id="openai/strong", base_url=failing.base_url, max_retries=0, timeout_s=20)],
            benchmarks=["gsm8k"],
            limit=6,
            data_dir=str(data_dir),
        )
        store = Store(store_url)
        run_id, first = _ray_run(store, spec, unit_size=3)
        assert first.status == "incomplete" and first.errors == 6, first.message
        assert "HTTP 500" in (first.message or "")
        from tianping.engine.ray_executor import RayRunner

        started = time.monotonic()
        second = asyncio.run(RayRunner(spec, store, run_id, unit_size=3).execute())
        assert second.status == "completed", second.message
        assert second.sent == 6
        assert time.monotonic() - started < 30  # no lease of the first run was waited out (60 s)
        _check_once(store, run_id, 6)
