"""The sandbox that runs model-written programs (HumanEval, MBPP).

Every program runs as its own Python process in a fresh private directory, started as
``python -I -S -c BOOTSTRAP main.py``: that is ``python -I main.py`` except that the ``.pth`` start-up
hooks of site-packages are not run (they are host code and cost most of a short check; installed
packages stay importable, see :data:`_BOOTSTRAP`).  With bubblewrap (``bwrap``, Debian package
``bubblewrap``) the process also gets

* its own network namespace (``--unshare-net``: only a loopback interface of its own, so neither
  the host's ``127.0.0.1`` nor the internet can be reached), and its own PID, IPC and UTS namespaces;
* a read-only view of the host (``--ro-bind / /``), a fresh ``/dev`` and ``/proc``, empty ``/run``
  and ``/tmp`` (hiding the host's unix sockets); its private directory, the working directory and
  ``$HOME``, is ``/tmp/sandbox``: a size-limited tmpfs (at most 256 MiB, or ``memory_mb``) holding the
  program, so writes can fill neither the host's disk nor its memory (a bubblewrap without ``--size``
  binds the private host directory there instead);
* when tianping runs as root: an unprivileged user id of its own (one per concurrent run, from
  :data:`SANDBOX_UID_BASE`), with no capabilities and ``no_new_privs``.  Root is exempt from
  ``RLIMIT_NPROC``, so without this a fork bomb could not be stopped; as a side effect root-only host
  files (``/root``, ``/etc/shadow``) are unreadable to the program.  Directories on the way to the
  Python installation that are closed to other users (pyenv under ``/root``) are replaced by empty
  ones holding only that installation.

Resource limits (:class:`Limits`) are set inside the sandbox with ``prlimit``/``setpriv``
(util-linux) or, where those are missing, a few lines of Python that then ``exec`` the program:
``RLIMIT_CPU`` (SIGXCPU -> status ``timeout``), ``RLIMIT_AS`` (``MemoryError`` -> ``memory``),
``RLIMIT_NPROC`` (fork bombs), ``RLIMIT_FSIZE`` and ``RLIMIT_CORE=0``.  Wall time is enforced here:
the whole process group gets SIGKILL (a program that ignores SIGTERM dies all the same), and under
bubblewrap killing ``bwrap`` tears down the PID namespace, i.e. every process the program started,
even ones that left the process group.  Output is read while the program runs and at most
``max_output_bytes`` are kept; one byte more and the program is killed (``output_limit``).

Where bubblewrap is missing or does not work here, :class:`Sandbox` refuses to run model code unless
``allow_unsafe=True`` (``tianping run --unsafe-exec``): the program then runs as a plain child
process in its own session and private directory with the same limits and timeouts, but with the
host's network and file system.  Run as root without isolation, it also keeps root's exemption from
``RLIMIT_NPROC`` unless the interpreter is reachable for an unprivileged user.

Caveats: ``RLIMIT_AS`` and ``RLIMIT_CPU`` apply per process, so a program with ``max_procs``
processes may use up to ``max_procs`` times as much memory and CPU before the wall clock stops it.
Under bubblewrap a program killed by signal N and one that calls ``sys.exit(128 + N)`` look alike
(bwrap reports both as exit status ``128 + N``); both are reported as killed by signal N.  Not run as
root, the program keeps the caller's uid: ``RLIMIT_NPROC`` then counts per user namespace under
bubblewrap (bubblewrap's own init process included) and, unsafe, over all of the caller's processes,
so there it is set to the number the caller has now plus ``max_procs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "SANDBOX_UID_BASE",
    "ExecResult",
    "Limits",
    "Sandbox",
    "SandboxUnavailable",
    "isolation_mechanism",
]

Status = Literal["ok", "error", "timeout", "memory", "output_limit", "killed"]

#: First user id given to sandboxed programs when tianping runs as root (one id per concurrent run,
#: so that ``RLIMIT_NPROC``, which counts per user, is each program's own).  Far above the ranges
#: used for real and /etc/subuid users.
SANDBOX_UID_BASE = 1_999_900_000

_WORKDIR = "/tmp/sandbox"  # the private directory as the program sees it under bubblewrap
_PROGRAM = "main.py"
_MIB = 1024 * 1024
_READ_CHUNK = 65536
_KILL_GRACE_S = 2.0  # after SIGKILL: how long to wait for the pipes to close
_TMPFS_MAX_BYTES = 256 * _MIB  # the sandbox's own /tmp lives in RAM
_PROBE_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Limits:
    """Per-program limits.  CPU and memory are per process; ``max_procs`` bounds the processes."""

    cpu_s: float = 10.0  # RLIMIT_CPU (rounded up to whole seconds): SIGXCPU -> "timeout"
    wall_s: float = 15.0  # the whole process group / PID namespace is SIGKILLed after this
    memory_mb: int = 1024  # RLIMIT_AS (address space): MemoryError -> "memory"
    max_procs: int = 64  # RLIMIT_NPROC for the program's own user id
    max_output_bytes: int = 1_000_000  # stdout+stderr kept; one byte more -> killed, "output_limit"

    def __post_init__(self) -> None:
        for name in ("cpu_s", "wall_s", "memory_mb", "max_procs", "max_output_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
                raise ValueError(f"Limits.{name} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class ExecResult:
    """How a program run ended.  ``returncode`` is negative (-N) when it was ended by signal N."""

    status: Status
    returncode: int | None
    stdout: str  # decoded UTF-8, errors="replace"
    stderr: str
    wall_s: float
    reason: str  # e.g. "exit code 1: AssertionError", "wall time 15 s exceeded"


class SandboxUnavailable(RuntimeError):
    """No working isolation here (and unsafe execution was not allowed), or the sandbox cannot start."""


# --------------------------------------------------------------------------------------------------
# How to launch a program: probed once per interpreter
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    mechanism: str  # "bwrap" or "unsafe"
    python: str
    bwrap: str | None = None
    bwrap_mounts: tuple[str, ...] = ()  # extra mount arguments (hidden directories, the interpreter)
    bwrap_size: bool = False  # bwrap knows --size (tmpfs size)
    root: bool = False  # bwrap runs as root: --cap-add for the user switch inside
    drop_uid: bool = False  # run the program under its own unprivileged uid (we are root)
    prlimit: str | None = None
    setpriv: str | None = None
    relative_nproc: bool = False  # unsafe and not root: RLIMIT_NPROC counts all our user's tasks
    site_dirs: tuple[str, ...] = ()  # the interpreter's site-packages, put on the program's sys.path


_probe_lock = threading.Lock()
_plans: dict[tuple[str, str], _Plan | None] = {}
_probe_errors: dict[tuple[str, str], str] = {}


def isolation_mechanism() -> str | None:
    """``'bwrap'`` when bubblewrap is installed and actually works here (probed once, cached), else None."""
    plan = _get_plan("bwrap", sys.executable)
    return plan.mechanism if plan is not None else None


def _get_plan(kind: str, python: str) -> _Plan | None:
    key = (kind, python)
    with _probe_lock:
        if key not in _plans:
            try:
                _plans[key] = _make_bwrap_plan(python) if kind == "bwrap" else _make_unsafe_plan(python)
            except _ProbeFailed as exc:
                _plans[key] = None
                _probe_errors[key] = str(exc)
        return _plans[key]


class _ProbeFailed(Exception):
    pass


def _python_paths(python: str) -> list[str]:
    """Directories the interpreter needs: its own, and its (base) prefixes."""
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        prefixes = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    else:
        code = "import sys; print(sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, sep='\\n')"
        try:
            out = subprocess.run(
                [python, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S, check=True
            ).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            raise _ProbeFailed(f"cannot run {python}: {exc}") from None
        prefixes = out.split("\n")[:4]
    paths = [os.path.dirname(os.path.abspath(python)), os.path.dirname(os.path.realpath(python))]
    for p in prefixes:
        if p:
            paths += [os.path.abspath(p), os.path.realpath(p)]
    return paths


def _site_dirs(python: str) -> tuple[str, ...]:
    """The interpreter's site-packages directories (what ``site`` would put on ``sys.path`` under -I)."""
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        import site

        dirs = site.getsitepackages()
    else:
        code = "import site; print('\\n'.join(site.getsitepackages()))"
        try:
            out = subprocess.run(
                [python, "-I", "-c", code], capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S, check=True
            ).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            raise _ProbeFailed(f"cannot run {python}: {exc}") from None
        dirs = out.splitlines()
    return tuple(d for d in dirs if d and os.pathsep not in d and os.path.isdir(d))


def _others_can_enter(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & stat.S_IXOTH)
    except OSError:
        return False


def _closed_ancestor(path: str) -> str | None:
    """The top-most directory on the way to ``path`` (itself included) that other users cannot enter."""
    parts = Path(path).parts
    for i in range(2, len(parts) + 1):
        candidate = os.path.join(*parts[:i])
        if not _others_can_enter(candidate):
            return candidate
    return None


def _reachable_by_others(path: str) -> bool:
    return _closed_ancestor(path) is None


def _is_under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def _interpreter_mounts(python: str) -> tuple[str, ...]:
    """bwrap arguments that make the interpreter reachable for an unprivileged uid.

    A directory on the way that other users cannot enter (e.g. ``/root`` holding pyenv) is replaced by
    an empty tmpfs in which only the interpreter's directories are bound (read-only), at the same paths.
    """
    needed = sorted(set(_python_paths(python)))
    needed = [p for p in needed if not any(q != p and _is_under(p, q) for q in needed)]
    hidden: list[str] = []
    binds: list[str] = []
    for path in needed:
        top = "/tmp" if _is_under(path, "/tmp") else _closed_ancestor(path)
        if top is None:
            continue
        if path == top or not _others_can_enter(path):
            raise _ProbeFailed(f"{path} cannot be entered by an unprivileged user")
        if not any(_is_under(top, h) for h in hidden):
            hidden = [h for h in hidden if not _is_under(h, top)] + [top]
        binds.append(path)
    args: list[str] = []
    for top in hidden:
        if top != "/tmp":  # /tmp already is a fresh tmpfs
            args += ["--tmpfs", top]
    made: set[str] = set()
    for path in binds:
        top = next(h for h in hidden if _is_under(path, h))
        parts = Path(path).parts
        for i in range(len(Path(top).parts) + 1, len(parts)):
            d = os.path.join(*parts[:i])
            if d not in made:
                made.add(d)
                args += ["--perms", "0755", "--dir", d]
        args += ["--ro-bind", path, path]
    return tuple(args)


def _uid_range_mapped(uid: int, count: int = 4096) -> bool:
    try:
        lines = Path("/proc/self/uid_map").read_text().split("\n")
    except OSError:
        return True
    for line in lines:
        fields = line.split()
        if len(fields) == 3:
            inside, _outside, length = (int(f) for f in fields)
            if inside <= uid and uid + count <= inside + length:
                return True
    return False


def _make_bwrap_plan(python: str) -> _Plan:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise _ProbeFailed("bwrap (bubblewrap) is not installed")
    try:
        help_text = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise _ProbeFailed(f"bwrap --help failed: {exc}") from None
    root = os.geteuid() == 0
    # Real root is exempt from RLIMIT_NPROC, so the program gets a uid of its own.  Root of a container
    # whose user namespace does not map that uid is not the host's root, and the limit applies to it.
    drop_uid = root and _uid_range_mapped(SANDBOX_UID_BASE)
    mounts = _interpreter_mounts(python) if drop_uid else ()
    prlimit, setpriv = shutil.which("prlimit"), shutil.which("setpriv")
    plan = _Plan(
        mechanism="bwrap",
        python=python,
        bwrap=bwrap,
        bwrap_mounts=mounts,
        bwrap_size="--size" in help_text,
        root=root,
        drop_uid=drop_uid,
        prlimit=prlimit,
        setpriv=setpriv if drop_uid else None,
        site_dirs=_site_dirs(python),
    )
    # The probe: the real launch path, checking the user switch, the network namespace and a read-only /.
    probe = (
        "import os, socket, sys\n"
        "s = socket.socket(); s.settimeout(2)\n"
        "try:\n    s.connect(('1.1.1.1', 53)); sys.exit('network reachable')\n"
        "except OSError: pass\n"
        "try:\n    open('/.tianping-sandbox-probe', 'w'); sys.exit('/ writable')\n"
        "except OSError: pass\n"
        "print('uid', os.getuid())\n"
    )
    with tempfile.TemporaryDirectory(prefix="tianping-sandbox-probe-") as tmp:
        uid = SANDBOX_UID_BASE if drop_uid else None
        Path(tmp, _PROGRAM).touch(mode=0o644)
        if uid is not None:
            os.chown(tmp, uid, uid)
        argv = _command(plan, Limits(wall_s=_PROBE_TIMEOUT_S), tmp, uid, nproc_base=0, program=["-S", "-c", probe])
        try:
            done = subprocess.run(
                argv, capture_output=True, timeout=_PROBE_TIMEOUT_S, env=_environment(plan, tmp), cwd=tmp
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise _ProbeFailed(f"bwrap does not start: {exc}") from None
    expected = f"uid {uid if uid is not None else os.getuid()}"
    if done.returncode != 0 or done.stdout.decode(errors="replace").strip() != expected:
        detail = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
        raise _ProbeFailed(f"bwrap does not work here: {detail[-1] if detail else f'exit code {done.returncode}'}")
    return plan


def _make_unsafe_plan(python: str) -> _Plan:
    root = os.geteuid() == 0
    # As root the program can only get its own uid if the interpreter and the temp dir are reachable.
    drop_uid = (
        root
        and _uid_range_mapped(SANDBOX_UID_BASE)
        and shutil.which("setpriv") is not None
        and _reachable_by_others(tempfile.gettempdir())
        and all(_reachable_by_others(p) for p in _python_paths(python))
    )
    return _Plan(
        mechanism="unsafe",
        python=python,
        drop_uid=drop_uid,
        prlimit=shutil.which("prlimit"),
        setpriv=shutil.which("setpriv") if drop_uid else None,
        relative_nproc=not root,
        site_dirs=_site_dirs(python),
    )


# --------------------------------------------------------------------------------------------------
# Command line of one run
# --------------------------------------------------------------------------------------------------

# How the program is started: ``python -I -S -c _BOOTSTRAP SITE_DIRS main.py``.  This is ``python -I main.py``
# minus one thing: the .pth files in site-packages are not executed.  Those are host start-up hooks
# (editable installs, CA-bundle patches, ...) that cost tens of ms per start, most of a HumanEval check;
# installed packages stay importable, and exit()/quit()/help() exist as usual.  The program runs as
# __main__ with sys.argv == [path]; tracebacks are printed without the bootstrap's frames.
_BOOTSTRAP = """\
import sys, site
site.setquit(); site.setcopyright(); site.sethelper()
sys.path.extend(d for d in sys.argv[1].split(site.os.pathsep) if d)
del sys.argv[:2]
def _run(path, g, hook=sys.excepthook, exit=sys.exit):
    with open(path, 'rb') as f:
        source = f.read()
    builtins = g['__builtins__']
    g.clear()
    g.update(__name__='__main__', __doc__=None, __package__=None, __spec__=None, __loader__=None,
             __file__=path, __cached__=None, __builtins__=builtins)
    try:
        exec(compile(source, path, 'exec', dont_inherit=True), g)
    except SystemExit:
        raise
    except BaseException as e:
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == '<string>':
            tb = tb.tb_next
        hook(type(e), e.with_traceback(tb), tb)
        exit(1)
_run(sys.argv[0], globals())
"""

# Fallback when prlimit/setpriv are missing: set the limits, switch user, exec the program.
_WRAPPER = """\
import os, resource, sys
cpu_soft, cpu_hard, mem, nproc, fsize, uid = (int(x) for x in sys.argv[1].split(','))
for res, soft, hard in ((resource.RLIMIT_CPU, cpu_soft, cpu_hard), (resource.RLIMIT_AS, mem, mem),
                        (resource.RLIMIT_NPROC, nproc, nproc), (resource.RLIMIT_FSIZE, fsize, fsize),
                        (resource.RLIMIT_CORE, 0, 0)):
    resource.setrlimit(res, (soft, hard))
if uid >= 0:
    os.setgroups([]); os.setgid(uid); os.setuid(uid)
try:
    import ctypes
    ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
except Exception:
    pass
os.execv(sys.argv[2], sys.argv[2:])
"""


def _rlimits(limits: Limits, nproc_base: int) -> tuple[int, int, int, int, int]:
    cpu = max(1, math.ceil(limits.cpu_s))
    mem = int(limits.memory_mb * _MIB)
    return cpu, cpu + 1, mem, nproc_base + int(limits.max_procs), mem


def _command(
    plan: _Plan, limits: Limits, workdir: str, uid: int | None, nproc_base: int, program: list[str] | None = None
) -> list[str]:
    inside = _WORKDIR if plan.mechanism == "bwrap" else workdir
    cpu_soft, cpu_hard, mem, nproc, fsize = _rlimits(limits, nproc_base)
    if program is None:
        program = ["-S", "-c", _BOOTSTRAP, os.pathsep.join(plan.site_dirs), os.path.join(inside, _PROGRAM)]
    final = [plan.python, "-I", *program]
    if plan.prlimit is not None and (uid is None or plan.setpriv is not None):
        inner = [
            plan.prlimit,
            f"--cpu={cpu_soft}:{cpu_hard}",
            f"--as={mem}",
            f"--nproc={nproc}",
            f"--fsize={fsize}",
            "--core=0",
            "--",
        ]
        if uid is not None:
            inner += [plan.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all"]
            if plan.mechanism == "unsafe" or plan.root:
                inner.append("--bounding-set=-all")
            inner += ["--no-new-privs", "--"]
    else:
        params = f"{cpu_soft},{cpu_hard},{mem},{nproc},{fsize},{uid if uid is not None else -1}"
        inner = [plan.python, "-I", "-S", "-c", _WRAPPER, params]
    inner += final
    if plan.mechanism != "bwrap":
        return inner
    assert plan.bwrap is not None
    args = [plan.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    # /run and /tmp hold the host's unix sockets, which a read-only mount does not stop connect() to
    if plan.bwrap_size:
        # The program's directory lives in a size-limited tmpfs (RAM, gone with the sandbox), so that its
        # writes can fill neither the host's disk nor its memory; only the program file comes from the host.
        size = str(min(_TMPFS_MAX_BYTES, mem))
        args += ["--perms", "1777", "--size", size, "--tmpfs", "/tmp", "--tmpfs", "/run", *plan.bwrap_mounts]
        args += ["--perms", "0777", "--dir", _WORKDIR]
        args += ["--ro-bind", os.path.join(workdir, _PROGRAM), f"{_WORKDIR}/{_PROGRAM}"]
    else:
        args += ["--tmpfs", "/tmp", "--tmpfs", "/run", *plan.bwrap_mounts, "--bind", workdir, _WORKDIR]
    args += ["--chdir", _WORKDIR]
    args += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session"]
    if plan.root and uid is not None:
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    return [*args, "--", *inner]


def _environment(plan: _Plan, workdir: str) -> dict[str, str]:
    home = _WORKDIR if plan.mechanism == "bwrap" else workdir
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }


def _user_task_count(uid: int) -> int:
    """Tasks (threads included) of ``uid`` now: RLIMIT_NPROC counts them all, not just ours."""
    count = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                continue
    return count


# user ids handed to concurrent runs (process-wide, so that two Sandbox objects never share one)
_uid_lock = threading.Lock()
_uids_in_use: set[int] = set()


def _take_uid() -> int:
    with _uid_lock:
        uid = SANDBOX_UID_BASE
        while uid in _uids_in_use:
            uid += 1
        _uids_in_use.add(uid)
        return uid


def _give_uid(uid: int) -> None:
    with _uid_lock:
        _uids_in_use.discard(uid)


def _remove_tree(path: str) -> None:
    def retry(func, p, _exc):  # a program may have taken its own permissions away
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
        with contextlib.suppress(OSError):
            func(p)

    shutil.rmtree(path, onerror=retry)
    if os.path.exists(path):
        shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------------------

_MEMORY_MARKERS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")


def _last_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        if line.strip():
            line = line.strip()
            return line if len(line) <= 200 else line[:197] + "..."
    return ""


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _classify(
    returncode: int | None, stderr: str, limits: Limits, *, timed_out: bool, overflow: bool
) -> tuple[Status, str]:
    if overflow:
        return "output_limit", f"output exceeded {limits.max_output_bytes} bytes"
    if timed_out:
        return "timeout", f"wall time {limits.wall_s:g} s exceeded"
    if returncode == 0:
        return "ok", "exit code 0"
    last = _last_line(stderr)
    memory = any(m in last for m in _MEMORY_MARKERS) or (
        returncode is not None and returncode < 0 and any(m in stderr[-2000:] for m in _MEMORY_MARKERS)
    )
    if memory:
        return "memory", f"memory limit {limits.memory_mb} MB exceeded" + (f": {last}" if last else "")
    if returncode is not None and returncode < 0:
        sig = -returncode
        if sig == signal.SIGXCPU:
            return "timeout", f"CPU time {max(1, math.ceil(limits.cpu_s))} s exceeded"
        if sig == signal.SIGKILL:
            return "killed", "killed by SIGKILL (CPU hard limit or the kernel's out-of-memory killer)"
        return "killed", f"killed by {_signal_name(sig)}" + (f": {last}" if last else "")
    return "error", f"exit code {returncode}" + (f": {last}" if last else "")


# --------------------------------------------------------------------------------------------------
# The sandbox
# --------------------------------------------------------------------------------------------------


class Sandbox:
    """Runs Python programs isolated (bubblewrap) or, if explicitly allowed, merely limited ("unsafe")."""

    def __init__(
        self,
        limits: Limits = Limits(),
        *,
        allow_unsafe: bool = False,
        python: str | None = None,
        max_parallel: int | None = None,
    ) -> None:
        self._limits = limits
        self._python = python or sys.executable
        self._max_parallel = max_parallel if max_parallel is not None else (os.cpu_count() or 1)
        if self._max_parallel < 1:
            raise ValueError(f"max_parallel must be at least 1, got {self._max_parallel}")
        plan: _Plan | None = None
        why = ""
        if isolation_mechanism() is not None:
            plan = _get_plan("bwrap", self._python)
            why = _probe_errors.get(("bwrap", self._python), "")
        else:
            why = _probe_errors.get(("bwrap", sys.executable), "")
        if plan is None:
            if not allow_unsafe:
                raise SandboxUnavailable(
                    "refusing to run model-written code: no sandbox isolation is available here"
                    + (f" ({why})" if why else "")
                    + ". Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install "
                    "bubblewrap) and make sure it can create namespaces, or pass --unsafe-exec "
                    "(allow_unsafe=True) to run it without isolation, with resource limits only."
                )
            plan = _get_plan("unsafe", self._python)
            assert plan is not None
        self._plan = plan
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def mechanism(self) -> str:
        """``"bwrap"`` (isolated) or ``"unsafe"`` (limits only)."""
        return self._plan.mechanism

    @property
    def limits(self) -> Limits:
        """The default limits of this sandbox."""
        return self._limits

    @property
    def max_parallel(self) -> int:
        return self._max_parallel

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._semaphores.get(loop)
        if sem is None:
            sem = self._semaphores[loop] = asyncio.Semaphore(self._max_parallel)
        return sem

    def run_python_sync(self, code: str, **kw) -> ExecResult:
        """:meth:`run_python` for scripts and tests (not from inside a running event loop)."""
        return asyncio.run(self.run_python(code, **kw))

    async def run_python(self, code: str, *, stdin: bytes | None = None, limits: Limits | None = None) -> ExecResult:
        """Run ``code`` as a program; never raises for anything the program does."""
        limits = limits or self._limits
        async with self._semaphore():
            uid = _take_uid() if self._plan.drop_uid else None
            try:
                return await self._run(code, stdin, limits, uid)
            finally:
                if uid is not None:
                    _give_uid(uid)

    async def _run(self, code: str, stdin: bytes | None, limits: Limits, uid: int | None) -> ExecResult:
        plan = self._plan
        loop = asyncio.get_running_loop()
        workdir = tempfile.mkdtemp(prefix="tianping-sandbox-")
        proc: asyncio.subprocess.Process | None = None
        transport: asyncio.SubprocessTransport | None = None
        tasks: list[asyncio.Future] = []
        try:
            program = os.path.join(workdir, _PROGRAM)
            with open(program, "wb") as f:
                f.write(code.encode("utf-8", errors="surrogatepass"))
            os.chmod(program, 0o644)
            if uid is not None and plan.mechanism == "unsafe" and not _reachable_by_others(os.path.dirname(workdir)):
                uid = None  # (unsafe) the program could not enter its directory under a uid of its own
            if uid is not None:
                os.chown(workdir, uid, uid)
            nproc_base = _user_task_count(os.getuid()) if plan.relative_nproc else 0
            argv = _command(plan, limits, workdir, uid, nproc_base)
            exited: asyncio.Future[None] = loop.create_future()
            start = time.monotonic()
            try:
                transport, protocol = await loop.subprocess_exec(
                    lambda: _Protocol(exited, loop),
                    *argv,
                    stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=_environment(plan, workdir),
                    cwd=workdir,
                    start_new_session=True,  # its own process group, killed as a whole
                )
            except OSError as exc:
                raise SandboxUnavailable(f"cannot start the sandbox ({argv[0]}): {exc}") from exc
            proc = asyncio.subprocess.Process(transport, protocol, loop)

            out, err = bytearray(), bytearray()
            budget = [int(limits.max_output_bytes)]
            overflow = asyncio.Event()

            async def pump(stream: asyncio.StreamReader, buf: bytearray) -> None:
                while True:
                    chunk = await stream.read(_READ_CHUNK)
                    if not chunk:
                        return
                    if len(chunk) > budget[0]:
                        buf += chunk[: budget[0]]
                        budget[0] = 0
                        overflow.set()
                        return  # the program is killed; the other stream's pump runs into EOF
                    buf += chunk
                    budget[0] -= len(chunk)

            async def feed(writer: asyncio.StreamWriter, data: bytes) -> None:
                with contextlib.suppress(OSError):  # the program need not read its input
                    writer.write(data)
                    await writer.drain()
                with contextlib.suppress(OSError):
                    writer.close()

            assert proc.stdout is not None and proc.stderr is not None
            pumps = [asyncio.ensure_future(pump(proc.stdout, out)), asyncio.ensure_future(pump(proc.stderr, err))]
            tasks += pumps
            if stdin is not None and proc.stdin is not None:
                tasks.append(asyncio.ensure_future(feed(proc.stdin, stdin)))
            over = asyncio.ensure_future(overflow.wait())
            tasks.append(over)
            await asyncio.wait({exited, over}, timeout=limits.wall_s, return_when=asyncio.FIRST_COMPLETED)
            timed_out = not exited.done() and not overflow.is_set()
            # Kill what is left: everything on timeout or overflow; after a normal exit, stragglers in the
            # process group (under bwrap they died with the PID namespace when the program's init exited).
            if not exited.done() or plan.mechanism != "bwrap":
                _kill_group(transport)
            if not exited.done():
                await asyncio.wait({exited}, timeout=_KILL_GRACE_S)
            await asyncio.wait(pumps, timeout=_KILL_GRACE_S)  # EOF follows at once unless a stray child holds it
            wall = time.monotonic() - start
            returncode = transport.get_returncode()
            if plan.mechanism == "bwrap" and returncode is not None and 128 < returncode <= 128 + 64:
                returncode = -(returncode - 128)  # bwrap reports "killed by signal N" as 128 + N
            stderr_text = err.decode("utf-8", errors="replace")
            status, reason = _classify(returncode, stderr_text, limits, timed_out=timed_out, overflow=overflow.is_set())
            return ExecResult(
                status=status,
                returncode=returncode,
                stdout=out.decode("utf-8", errors="replace"),
                stderr=stderr_text,
                wall_s=round(wall, 4),
                reason=reason,
            )
        finally:
            for task in tasks:
                task.cancel()
            if transport is not None:
                if transport.get_returncode() is None:
                    _kill_group(transport)
                transport.close()  # closes our ends of the pipes (and kills the process if still there)
            await asyncio.to_thread(_remove_tree, workdir)


class _Protocol(asyncio.subprocess.SubprocessStreamProtocol):
    """The standard stream protocol, plus a future that is set as soon as the process has exited.

    ``Process.wait()`` returns only once the pipes are closed too, which a child of the program
    holding them open would delay; the program's own exit is what the wall clock cares about.
    """

    def __init__(self, exited: asyncio.Future[None], loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=2 * _READ_CHUNK, loop=loop)
        self._exited = exited

    def process_exited(self) -> None:
        super().process_exited()
        if not self._exited.done():
            self._exited.set_result(None)


def _kill_group(transport: asyncio.SubprocessTransport) -> None:
    """SIGKILL the process group the sandbox leads (bwrap's death takes its PID namespace along)."""
    pid = transport.get_pid()
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)
    if transport.get_returncode() is None:
        with contextlib.suppress(OSError, ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
