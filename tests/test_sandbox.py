"""The code sandbox: every containment case is run for real (small limits keep each one short)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from tianping.scoring import sandbox as sb
from tianping.scoring.sandbox import ExecResult, Limits, Sandbox, SandboxUnavailable, isolation_mechanism

FAST = Limits(cpu_s=1, wall_s=2, memory_mb=512, max_procs=32, max_output_bytes=100_000)

ISOLATED = isolation_mechanism() is not None
needs_isolation = pytest.mark.skipif(
    not ISOLATED,
    reason="no working sandbox isolation here (install bubblewrap: apt-get install bubblewrap)",
)


@pytest.fixture(scope="module")
def box() -> Sandbox:
    """The isolated sandbox when there is one, else the unsafe one (for the tests that do not need isolation)."""
    return Sandbox(FAST, allow_unsafe=True)


def run(box: Sandbox, code: str, **kw) -> ExecResult:
    return box.run_python_sync(code, **kw)


def _alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def _sandbox_processes() -> int:
    """Processes that may belong to sandboxed programs: as root those under the sandbox uids, else all."""
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                uid = os.stat(f"/proc/{name}").st_uid
            except OSError:
                continue
            count += os.geteuid() != 0 or uid >= sb.SANDBOX_UID_BASE
    return count


def _settles_to(baseline: int, slack: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while _sandbox_processes() > baseline + slack:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# --------------------------------------------------------------------------------------------------
# Outcomes a scorer sees


def test_passing_program_is_ok(box: Sandbox) -> None:
    r = run(box, "import math\nassert math.gcd(12, 18) == 6\nprint('done')\n")
    assert (r.status, r.returncode, r.stdout) == ("ok", 0, "done\n")
    assert r.stderr == "" and r.wall_s < FAST.wall_s


def test_failing_assert_is_error_with_the_exception(box: Sandbox) -> None:
    r = run(box, "def f(x):\n    return x + 1\n\nassert f(1) == 3\n")
    assert r.status == "error" and r.returncode == 1
    assert "AssertionError" in r.reason and r.reason.startswith("exit code 1")
    assert "Traceback" in r.stderr


def test_stdin_is_passed_and_missing_stdin_reads_eof(box: Sandbox) -> None:
    r = run(box, "import sys\nprint(sys.stdin.read().upper())\n", stdin=b"abc")
    assert (r.status, r.stdout) == ("ok", "ABC\n")
    assert run(box, "import sys\nassert sys.stdin.read() == ''\n").status == "ok"


def test_program_sees_a_private_writable_directory(box: Sandbox) -> None:
    code = "import os\nopen('scratch.txt', 'w').write('x')\nprint(os.listdir('.'))\n"
    r = run(box, code)
    assert r.status == "ok" and "scratch.txt" in r.stdout


def test_infinite_loop_times_out_within_wall_time(box: Sandbox) -> None:
    limits = Limits(cpu_s=30, wall_s=1, memory_mb=512, max_procs=32)
    t0 = time.monotonic()
    r = run(box, "while True:\n    pass\n", limits=limits)
    assert r.status == "timeout" and "wall time 1 s" in r.reason
    assert time.monotonic() - t0 < limits.wall_s + 1.5


def test_cpu_limit_is_timeout(box: Sandbox) -> None:
    r = run(box, "while True:\n    pass\n", limits=Limits(cpu_s=1, wall_s=10, memory_mb=512, max_procs=32))
    assert r.status == "timeout" and "CPU time 1 s" in r.reason


def test_program_ignoring_sigterm_is_still_killed(box: Sandbox) -> None:
    code = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('armed', flush=True)\n"
    code += "while True:\n    time.sleep(0.01)\n"
    t0 = time.monotonic()
    r = run(box, code, limits=dataclasses.replace(FAST, wall_s=1))
    assert r.status == "timeout" and r.stdout == "armed\n"
    assert time.monotonic() - t0 < 1 + 1.5


def test_memory_hog_is_memory(box: Sandbox) -> None:
    r = run(box, "x = bytearray(4 * 1024 ** 3)\nprint(len(x))\n")
    assert r.status == "memory", r
    assert "MemoryError" in r.stderr and "512 MB" in r.reason


def test_output_flood_is_output_limit_and_bounded(box: Sandbox) -> None:
    t0 = time.monotonic()
    r = run(box, "while True:\n    print('spam' * 100)\n")
    assert r.status == "output_limit" and "100000 bytes" in r.reason
    assert len(r.stdout.encode()) + len(r.stderr.encode()) <= FAST.max_output_bytes
    assert len(r.stdout) > FAST.max_output_bytes // 2  # what came before the limit is kept
    assert time.monotonic() - t0 < FAST.wall_s


def test_output_on_both_streams_shares_one_budget(box: Sandbox) -> None:
    code = "import sys\nwhile True:\n    sys.stdout.write('o' * 1000)\n    sys.stderr.write('e' * 1000)\n"
    r = run(box, code)
    assert r.status == "output_limit"
    assert len(r.stdout) + len(r.stderr) <= FAST.max_output_bytes


def test_output_exactly_at_the_limit_is_fine(box: Sandbox) -> None:
    limits = Limits(cpu_s=1, wall_s=2, memory_mb=512, max_procs=32, max_output_bytes=1000)
    r = run(box, "import sys\nsys.stdout.write('x' * 1000)\n", limits=limits)
    assert r.status == "ok" and len(r.stdout) == 1000


def test_invalid_utf8_output_is_replaced(box: Sandbox) -> None:
    r = run(box, "import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe end')\nsys.stderr.buffer.write(b'\\xc3')\n")
    assert r.status == "ok"
    assert r.stdout == "ok \ufffd\ufffd end" and r.stderr == "\ufffd"


def test_interpreter_crash_is_a_result_not_an_exception(box: Sandbox) -> None:
    r = run(box, "import ctypes\nctypes.string_at(0)\n")
    assert r.status in ("killed", "error")
    assert r.returncode == -11 and "SIGSEGV" in r.reason


def test_nonzero_exit_without_output(box: Sandbox) -> None:
    r = run(box, "import sys\nsys.exit(3)\n")
    assert (r.status, r.returncode, r.reason) == ("error", 3, "exit code 3")


def test_syntax_error_is_error(box: Sandbox) -> None:
    r = run(box, "def f(:\n")
    assert r.status == "error" and "SyntaxError" in r.reason


def test_temp_dir_is_removed(box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sb.tempfile, "tempdir", str(tmp_path))
    locked = "import os\nos.mkdir('d')\nopen('d/f', 'w').write('x')\nos.chmod('d', 0)\n"
    for code in (locked, "import time\ntime.sleep(9)\n"):
        run(box, code, limits=Limits(wall_s=0.5))
    assert list(tmp_path.iterdir()) == []


def test_parallel_runs_respect_max_parallel() -> None:
    # every program prints when it started and ended (the sandbox shares the host's clock)
    code = "import time\nprint('s', time.time(), flush=True)\ntime.sleep(0.3)\nprint('e', time.time())\n"

    def peak_and_wall(max_parallel: int) -> tuple[int, float]:
        box = Sandbox(FAST, allow_unsafe=True, max_parallel=max_parallel)

        async def main() -> list[ExecResult]:
            return await asyncio.gather(*(box.run_python(code) for _ in range(4)))

        t0 = time.monotonic()
        results = asyncio.run(main())
        wall = time.monotonic() - t0
        assert all(r.status == "ok" for r in results), results
        events = sorted(
            (float(t), kind) for r in results for kind, t in (line.split() for line in r.stdout.splitlines())
        )
        running = peak = 0
        for _, kind in events:
            running += 1 if kind == "s" else -1
            peak = max(peak, running)
        return peak, wall

    peak, wall = peak_and_wall(2)
    assert peak <= 2 and wall >= 2 * 0.3
    peak, wall = peak_and_wall(4)
    assert peak >= 2  # and they do run concurrently


def test_cancelled_run_kills_the_program(box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sb.tempfile, "tempdir", str(tmp_path))

    async def main() -> None:
        task = asyncio.ensure_future(box.run_python("import time\ntime.sleep(60)\n"))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert list(tmp_path.iterdir()) == []


def test_limits_validate() -> None:
    with pytest.raises(ValueError):
        Limits(wall_s=0)
    with pytest.raises(ValueError):
        Limits(max_procs=-1)


# --------------------------------------------------------------------------------------------------
# Refusal without isolation, and the explicitly allowed unsafe mode


def test_refuses_without_isolation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sb, "isolation_mechanism", lambda: None)
    with pytest.raises(SandboxUnavailable) as info:
        Sandbox()
    message = str(info.value)
    assert "--unsafe-exec" in message and "bubblewrap" in message


def test_unsafe_mode_runs_code_with_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sb, "isolation_mechanism", lambda: None)
    box = Sandbox(FAST, allow_unsafe=True)
    assert box.mechanism == "unsafe"
    assert run(box, "print(6 * 7)\n").stdout == "42\n"
    assert run(box, "assert False\n").status == "error"
    t0 = time.monotonic()
    code = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.01)\n"
    assert run(box, code, limits=Limits(cpu_s=1, wall_s=1, memory_mb=512)).status == "timeout"
    assert time.monotonic() - t0 < 3
    assert run(box, "x = bytearray(4 * 1024 ** 3)\n").status == "memory"
    assert run(box, "while True:\n    print('x' * 1000)\n").status == "output_limit"


def test_unsafe_mode_kills_the_whole_process_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sb, "isolation_mechanism", lambda: None)
    box = Sandbox(FAST, allow_unsafe=True)
    code = (
        "import os, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n    time.sleep(30)\n    os._exit(0)\n"
        "print(pid, flush=True)\n"
        "time.sleep(30)\n"
    )
    r = run(box, code, limits=Limits(cpu_s=1, wall_s=1, memory_mb=512))
    assert r.status == "timeout"
    child = int(r.stdout)
    deadline = time.monotonic() + 2
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_util_linux_fallback_wrapper(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without prlimit/setpriv the limits are set by a few lines of Python before the program starts."""
    box = Sandbox(FAST, allow_unsafe=True)
    monkeypatch.setattr(box, "_plan", dataclasses.replace(box._plan, prlimit=None))
    assert run(box, "print('hi')\n").stdout == "hi\n"
    assert run(box, "x = bytearray(4 * 1024 ** 3)\n").status == "memory"
    assert run(box, "while True:\n    pass\n", limits=Limits(cpu_s=1, wall_s=10, memory_mb=512)).status == "timeout"


# --------------------------------------------------------------------------------------------------
# Isolation (bubblewrap)


@needs_isolation
def test_mechanism_is_bwrap() -> None:
    assert isolation_mechanism() == "bwrap"
    assert Sandbox().mechanism == "bwrap"


@needs_isolation
def test_writes_outside_its_directory_fail(box: Sandbox) -> None:
    repo = Path(__file__).resolve().parent.parent
    targets = [repo / "PWNED", Path("/etc/pwned"), Path.home() / "pwned", Path("/tmp/pwned-by-sandbox")]
    for t in targets:
        assert not t.exists()
    code = "import sys\nfailed = []\n"
    code += f"for path in {[str(t) for t in targets]!r}:\n"
    code += "    try:\n        open(path, 'w').write('x')\n    except OSError as e:\n        failed.append(path)\n"
    code += "print(len(failed))\n"
    r = run(box, code)
    assert r.status == "ok"
    # /tmp inside is the sandbox's own (empty, discarded) tmpfs: the write there succeeds but stays inside
    assert int(r.stdout) >= 3
    for t in targets:
        assert not t.exists()


@needs_isolation
def test_host_root_files_are_unreadable_when_run_as_root(box: Sandbox) -> None:
    if os.geteuid() != 0:
        pytest.skip("only when tianping runs as root: the program gets an unprivileged uid")
    r = run(box, "import os\nprint(os.getuid())\nopen('/etc/shadow').read()\n")
    assert r.status == "error" and "PermissionError" in r.reason
    assert int(r.stdout) >= sb.SANDBOX_UID_BASE


@needs_isolation
def test_network_is_unreachable(box: Sandbox) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    got: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                got.append(server.accept())
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    code = (
        "import socket\n"
        "results = []\n"
        f"for addr in [('127.0.0.1', {port}), ('1.1.1.1', 80), ('1.1.1.1', 53)]:\n"
        "    s = socket.socket()\n"
        "    s.settimeout(1)\n"
        "    try:\n"
        "        s.connect(addr)\n"
        "        s.sendall(b'hello')\n"
        "        results.append('connected')\n"
        "    except OSError as e:\n"
        "        results.append(type(e).__name__)\n"
        "try:\n"
        "    socket.getaddrinfo('example.com', 80)\n"
        "    results.append('resolved')\n"
        "except OSError as e:\n"
        "    results.append(type(e).__name__)\n"
        "print(results)\n"
    )
    try:
        r = run(box, code)
    finally:
        time.sleep(0.2)
        stop.set()
        thread.join()
        server.close()
    assert r.status == "ok", r
    assert "connected" not in r.stdout and "resolved" not in r.stdout
    assert got == []


@needs_isolation
def test_fork_bomb_is_contained_and_the_host_recovers() -> None:
    box = Sandbox(Limits(cpu_s=1, wall_s=1.5, memory_mb=256, max_procs=16))
    before = _sandbox_processes()
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    t0 = time.monotonic()
    r = box.run_python_sync(code)
    assert r.status in ("timeout", "killed")
    assert time.monotonic() - t0 < 1.5 + 2.5
    slack = 0 if os.geteuid() == 0 else 10  # not root: other processes of the host are counted too
    assert _settles_to(before, slack, within_s=5)
    # the host (and the sandbox) still work
    assert box.run_python_sync("print('alive')\n").stdout == "alive\n"


@needs_isolation
def test_max_procs_stops_forking() -> None:
    box = Sandbox(Limits(cpu_s=2, wall_s=5, memory_mb=256, max_procs=8))
    code = (
        "import os, time\n"
        "children = 0\n"
        "try:\n"
        "    for _ in range(100):\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(3)\n"
        "            os._exit(0)\n"
        "        children += 1\n"
        "except OSError as e:\n"
        "    print(children, type(e).__name__)\n"
    )
    r = box.run_python_sync(code)
    assert r.status == "ok", r
    children, error = r.stdout.split()
    assert int(children) < 8 and error == "BlockingIOError"


@needs_isolation
def test_background_children_die_with_the_program(box: Sandbox) -> None:
    # a daemonised grandchild that holds no pipe and left the session still dies with the PID namespace
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        for fd in (0, 1, 2):\n"
        "            os.close(fd)\n"
        "        time.sleep(30)\n"
        "    os._exit(0)\n"
        "time.sleep(0.2)\n"
        "print('parent done')\n"
    )
    before = _sandbox_processes()
    t0 = time.monotonic()
    r = run(box, code)
    assert r.status == "ok" and r.stdout == "parent done\n"
    assert time.monotonic() - t0 < FAST.wall_s
    assert _settles_to(before, 0 if os.geteuid() == 0 else 10, within_s=3)


@needs_isolation
def test_environment_is_clean(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIANPING_SECRET_TOKEN", "s3cr3t")
    r = run(box, "import os\nprint(sorted(os.environ))\nprint(os.getcwd() == os.environ['HOME'])\n")
    assert r.status == "ok" and "TIANPING_SECRET_TOKEN" not in r.stdout
    assert r.stdout.splitlines()[-1] == "True"


@needs_isolation
def test_bwrap_without_tmpfs_size_binds_the_private_directory(
    box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bubblewrap before 0.8 cannot limit a tmpfs: the private host directory is bound instead."""
    monkeypatch.setattr(sb.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(box, "_plan", dataclasses.replace(box._plan, bwrap_size=False))
    r = run(box, "import os\nopen('out.txt', 'w').write('x')\nprint(sorted(os.listdir('.')))\n")
    assert r.status == "ok" and r.stdout == "['main.py', 'out.txt']\n"
    assert list(tmp_path.iterdir()) == []
