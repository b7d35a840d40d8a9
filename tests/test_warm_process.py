"""``TIANPING_WARM=1``: ``tianping run`` / ``resume`` handed to a warm process give the results, output and exit
status of the same command run in its own process; Ctrl-C reaches the command and the run resumes; a socket
directory others can enter is not used; another environment gets its own warm process; removing the socket stops
it. Real processes throughout: the command line as a subprocess, the warm process it starts, a local server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine_helpers import REPO, outcomes
from fake_openai import oracle_answer_fn, running_server
from tianping.store import Store

# Measured on this machine: a command run in its own process needs 0.4-0.9 s of CPU before its first request
# (imports); the caller of a warm process only starts Python and passes the command on (about 0.05 s).
WARM_CALLER_CPU_S = 0.25


def _sockets(runtime: Path) -> list[Path]:
    return sorted(runtime.glob("tianping-warm-*/*.sock"))


def _warm_pids(runtime: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"tianping.warm" in cmdline and any(str(runtime).encode() in part for part in cmdline):
                found.append(int(proc.name))
    return found


def _wait_for(check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def runtime() -> Iterator[Path]:
    """A private XDG_RUNTIME_DIR (short: a socket's path has a limit of 108 bytes); every warm process started
    under it is stopped afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="tpw-"))
    yield folder
    for sock in _sockets(folder):
        sock.unlink()
    deadline = time.monotonic() + 10
    while _warm_pids(folder) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in _warm_pids(folder):
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(folder, ignore_errors=True)


def _env(runtime: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "TIANPING_WARM": "1", "XDG_RUNTIME_DIR": str(runtime), "COLUMNS": "200", **extra}


def _run_measured(*args: str, env: dict[str, str], umask: int = 0o022) -> tuple[subprocess.CompletedProcess, float]:
    """Run the command line to its end, reaping it with ``wait4`` to read the caller's own CPU time."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tianping", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        umask=umask,
    )
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = subprocess.CompletedProcess(proc.args, proc.returncode, out.decode(), err.decode())
    return text, usage.ru_utime + usage.ru_stime


def _run_args(base_url: str, data_dir: Path, results: Path, run_id: str, limit: int = 30) -> list[str]:
    return ["run", "--model", "openai/fake", "--base-url", base_url, "--benchmark", "gsm8k", "--limit", str(limit),
            "--data-dir", str(data_dir), "--results-dir", str(results), "--run-id", run_id]  # fmt: skip


def _warm_up(runtime: Path, env: dict[str, str], base_url: str, data_dir: Path, results: Path) -> None:
    first, _ = _run_measured(*_run_args(base_url, data_dir, results, "warm-up", limit=1), env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    _wait_for(lambda: bool(_sockets(runtime)))


def test_a_run_through_the_warm_process_equals_a_run_in_its_own_process(
    runtime: Path, tmp_path: Path, data_dir: Path
) -> None:
    env = _env(runtime)
    results = tmp_path / "results"
    with running_server(answer_fn=oracle_answer_fn(accuracy=0.6)) as server:
        _warm_up(runtime, env, server.base_url, data_dir, results)
        warm, caller_cpu = _run_measured(*_run_args(server.base_url, data_dir, results, "warm"), env=env)
        assert warm.returncode == 0, warm.stderr[-2000:]
        assert caller_cpu < WARM_CALLER_CPU_S, caller_cpu  # the command ran in the warm process
        assert "run warm -> " in warm.stderr and "gsm8k" in warm.stdout and "accuracy" in warm.stdout
        cold_env = {k: v for k, v in env.items() if k != "TIANPING_WARM"}
        cold, cold_cpu = _run_measured(*_run_args(server.base_url, data_dir, results, "cold"), env=cold_env)
        assert cold.returncode == 0, cold.stderr[-2000:]
        assert cold_cpu > caller_cpu
        assert warm.stdout.replace("warm", "cold") == cold.stdout

        # a resume goes through it too
        again, caller_cpu = _run_measured("resume", "warm", "--results-dir", str(results), env=env)
        assert again.returncode == 0, again.stderr[-2000:]
        assert caller_cpu < WARM_CALLER_CPU_S

        # another environment is another warm process: the first never serves a changed variable
        flipped = "0" if os.environ.get("HF_HUB_OFFLINE") == "1" else "1"  # (other test modules set it)
        other = _env(runtime, HF_HUB_OFFLINE=flipped)
        changed, _ = _run_measured(*_run_args(server.base_url, data_dir, results, "other"), env=other)
        assert changed.returncode == 0, changed.stderr[-2000:]
        _wait_for(lambda: len(_sockets(runtime)) == 2)

    store = Store.open(results)
    assert len(outcomes(store, "warm")) == 30
    assert outcomes(store, "warm") == outcomes(store, "cold") == outcomes(store, "other")
    assert store.get_run("warm")["status"] == "completed"


def test_bad_input_through_the_warm_process_exits_2_naming_the_problem(
    runtime: Path, tmp_path: Path, data_dir: Path
) -> None:
    env = _env(runtime)
    with running_server() as server:
        _warm_up(runtime, env, server.base_url, data_dir, tmp_path / "results")
        args = _run_args(server.base_url, data_dir, tmp_path / "results", "bad")
        args[args.index("gsm8k")] = "no_such_benchmark"
        bad, caller_cpu = _run_measured(*args, env=env)
    assert bad.returncode == 2
    assert "no_such_benchmark" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert caller_cpu < WARM_CALLER_CPU_S


def _stored(results: Path) -> int:
    try:
        with sqlite3.connect(results / "tianping.sqlite", timeout=5) as conn:
            return conn.execute("select count(*) from samples").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.parametrize("stop", ["ctrl-c", "caller-killed"])
def test_a_stopped_warm_command_stops_its_run_and_resume_finishes_it(
    runtime: Path, tmp_path: Path, data_dir: Path, stop: str
) -> None:
    """Ctrl-C is passed on to the command; a caller killed outright (``kill -9``, a closed terminal) stops it the
    same way instead of leaving it running unseen."""
    env = _env(runtime)
    results = tmp_path / "results"
    with running_server(latency_s=0.1) as server:
        _warm_up(runtime, env, server.base_url, data_dir, results)
        args = [*_run_args(server.base_url, data_dir, results, "slow", limit=120), "--concurrency", "2"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "tianping", *args], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True
        )
        _wait_for(lambda: _stored(results) >= 2 or proc.poll() is not None)  # the warm-up's answer, then this run's
        proc.send_signal(signal.SIGINT if stop == "ctrl-c" else signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
        if stop == "ctrl-c":
            assert proc.returncode == 130, err[-2000:]
            assert "interrupted" in err and "tianping resume slow" in err
        _wait_for(lambda: Store.open(results, readonly=True).get_run("slow")["status"] != "running", timeout=30)
        stopped = _stored(results)
        time.sleep(1.0)
        assert _stored(results) == stopped < 121  # nothing is asked any more
        resumed, _ = _run_measured("resume", "slow", "--results-dir", str(results), env=env)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert len(outcomes(Store.open(results), "slow")) == 120


def test_a_socket_directory_others_can_enter_is_not_used(runtime: Path, tmp_path: Path, data_dir: Path) -> None:
    shared = runtime / f"tianping-warm-{os.getuid()}"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    env = _env(runtime)
    with running_server() as server:
        for run_id in ("a", "b"):
            done, _ = _run_measured(*_run_args(server.base_url, data_dir, tmp_path / "r", run_id, limit=2), env=env)
            assert done.returncode == 0, done.stderr[-2000:]
    assert not _sockets(runtime)
    assert not _warm_pids(runtime)


def test_removing_the_socket_stops_the_warm_process(runtime: Path, tmp_path: Path, data_dir: Path) -> None:
    env = _env(runtime)
    with running_server() as server:
        _warm_up(runtime, env, server.base_url, data_dir, tmp_path / "results")
    assert len(_warm_pids(runtime)) == 1
    for sock in _sockets(runtime):
        sock.unlink()
    _wait_for(lambda: not _warm_pids(runtime), timeout=10)


def test_the_warm_command_creates_files_with_the_callers_umask(runtime: Path, tmp_path: Path, data_dir: Path) -> None:
    env = _env(runtime)
    with running_server() as server:
        _warm_up(runtime, env, server.base_url, data_dir, tmp_path / "open")
        private = tmp_path / "private"
        args = _run_args(server.base_url, data_dir, private, "p", limit=2)
        done, caller_cpu = _run_measured(*args, env=env, umask=0o077)
    assert done.returncode == 0, done.stderr[-2000:]
    assert caller_cpu < WARM_CALLER_CPU_S
    assert (private / "tianping.sqlite").stat().st_mode & 0o077 == 0
    assert (tmp_path / "open" / "tianping.sqlite").stat().st_mode & 0o044 == 0o044


def test_a_malformed_request_is_dropped_and_the_warm_process_serves_on(
    runtime: Path, tmp_path: Path, data_dir: Path
) -> None:
    env = _env(runtime)
    with running_server() as server:
        _warm_up(runtime, env, server.base_url, data_dir, tmp_path / "results")
        (sock_path,) = _sockets(runtime)
        for junk in (b"not json\n", b'{"argv": ["run"]}\n', b"[1, 2]\n", b""):  # no descriptors, no environment
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(10)
                sock.connect(str(sock_path))
                sock.sendall(junk)
                sock.shutdown(socket.SHUT_WR)
                assert sock.recv(100) == b""  # closed without an answer
        done, caller_cpu = _run_measured(*_run_args(server.base_url, data_dir, tmp_path / "r", "after", 2), env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert caller_cpu < WARM_CALLER_CPU_S


def test_a_command_longer_than_the_idle_time_keeps_the_warm_process(
    runtime: Path, tmp_path: Path, data_dir: Path
) -> None:
    """The idle time counts from the end of the last command, not its start: a run that outlasts it (a long
    evaluation at C=1) does not leave the next command without its warm process."""
    env = _env(runtime, TIANPING_WARM_IDLE="1")
    results = tmp_path / "results"
    with running_server(answer_fn=oracle_answer_fn(), latency_s=0.5) as server:
        _warm_up(runtime, env, server.base_url, data_dir, results)
        (pid,) = _warm_pids(runtime)
        args = [*_run_args(server.base_url, data_dir, results, "long", limit=6), "--concurrency", "1"]
        long_run, caller_cpu = _run_measured(*args, env=env)  # ~3 s: three times the idle time
        assert long_run.returncode == 0, long_run.stderr[-2000:]
        assert caller_cpu < WARM_CALLER_CPU_S
        next_one, caller_cpu = _run_measured(*_run_args(server.base_url, data_dir, results, "next", limit=1), env=env)
        assert next_one.returncode == 0, next_one.stderr[-2000:]
        assert caller_cpu < WARM_CALLER_CPU_S, caller_cpu  # served warm, not in a process of its own
        assert _warm_pids(runtime) == [pid]
    _wait_for(lambda: not _warm_pids(runtime), timeout=15)  # and idle after the last command, it goes
