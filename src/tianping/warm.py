"""A warm process for ``tianping run`` and ``tianping resume`` (opt-in: ``TIANPING_WARM=1``).

Most of a short run's time before its first request is Python importing typer, pydantic, aiohttp, Jinja2 and
tianping's own modules (0.3-0.5 s). With ``TIANPING_WARM=1`` the command line hands the command to a
background process that has imported them once, and which forks a child per command: the child takes over the
caller's stdin, stdout and stderr (passed over a Unix socket), working directory, environment and arguments,
runs the command, and its exit status becomes the caller's. Signals the caller gets (Ctrl-C, SIGTERM) are passed
on to the child, so an interrupted run stops and resumes as it does without the warm process; a caller that is
killed outright stops its command the same way.

The first command starts the warm process in the background and runs as usual; later commands use it. One warm
process serves one environment: its socket is named by a digest of the Python executable, tianping's files and
the installed packages (modification times) and the whole environment, so another virtualenv, an edited checkout or a
changed variable (an API key, ``HF_HUB_OFFLINE``, a CA bundle) gets its own warm process instead of a stale one,
and a warm process that finds its code changed refuses and exits. It exits ``TIANPING_WARM_IDLE`` seconds
(default 600) after its last command ended. Sockets live in a private directory of the user (``$XDG_RUNTIME_DIR`` or the
temporary directory, mode 0700, checked), and a connecting process must be of the same user.

This module is imported by the command line before anything else, so it uses the standard library only.
"""

from __future__ import annotations

import array
import contextlib
import hashlib
import json
import os
import select
import signal
import socket
import stat
import sys
import threading
from typing import Any

COMMANDS = frozenset({"run", "resume"})
IDLE_S = 600.0

# Imported once by the warm process. Nothing here may capture the terminal at import time (tianping.cli.output
# makes its rich consoles at import, so the command line's own modules are imported in each child).
_PRELOAD = (
    "asyncio",
    "sqlite3",
    "typer",
    "typer.main",
    "typer._adapters",
    "click",
    "pydantic",
    "yaml",
    "jinja2",
    "aiohttp",
    "uvloop",
    "rich.console",
    "rich.progress",
    "rich.table",
    "tianping.spec",
    "tianping.engine.tasks",
    "tianping.engine.runner",
    "tianping.engine.backends",
    "tianping.store.store",
    "tianping.models.openai_api",
    "tianping.benchmarks.benchmark",
    "tianping.scoring.extract",
    "tianping.scoring.math_equiv",
    "tianping.data.catalog",
    "tianping.data.ensure",
)
_MUST_NOT_PRELOAD = ("tianping.cli.output",)


def wanted(argv: list[str]) -> bool:
    """Whether this command goes to the warm process."""
    flag = os.environ.get("TIANPING_WARM", "").strip().lower()
    # fork, descriptor passing and peer credentials: Linux (and other POSIX systems with SO_PEERCRED)
    usable = hasattr(os, "fork") and hasattr(socket, "AF_UNIX") and hasattr(socket, "SO_PEERCRED")
    return usable and flag in {"1", "true", "yes", "on"} and bool(argv) and argv[0] in COMMANDS


# --------------------------------------------------------------------------------------------------
# Naming: one warm process per Python, code and environment
# --------------------------------------------------------------------------------------------------


def _package_dir() -> str:
    return os.path.dirname(os.path.abspath(__file__))


def _code_stamp(root: str) -> str:
    """The newest modification time and the number of tianping's files (modules, bundled definitions, catalog,
    templates): an edit or a new file changes it."""
    newest, count, stack = 0, 0, [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        stack.append(entry.path)
                elif not entry.name.endswith(".pyc"):
                    newest = max(newest, entry.stat().st_mtime_ns)
                    count += 1
    return f"{newest}:{count}"


def _installed_stamp() -> str:
    """Modification times of the site-packages folders: installing, removing or upgrading a package (a plugin
    with new task kinds, a new aiohttp) changes them."""
    import site

    folders = [*site.getsitepackages(), site.getusersitepackages()]
    stamps = []
    for folder in folders:
        with contextlib.suppress(OSError):
            stamps.append(f"{folder}={os.stat(folder).st_mtime_ns}")
    return ";".join(stamps)


def server_key(env: dict[str, str]) -> str:
    digest = hashlib.sha256()
    code = (_package_dir(), _code_stamp(_package_dir()), _installed_stamp())
    parts = (sys.executable, sys.version, *code, json.dumps(sorted(env.items())))
    for part in parts:
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()


def socket_dir() -> str:
    """This user's private directory for warm sockets; OSError when it exists but is not private."""
    base = os.environ.get("XDG_RUNTIME_DIR") or os.environ.get("TMPDIR") or "/tmp"
    path = os.path.join(base, f"tianping-warm-{os.getuid()}")
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise OSError(f"{path} is not a private directory of this user")
    return path


def socket_path(env: dict[str, str]) -> str:
    """The socket of the warm process for ``env``; OSError when the directory is not private or the path too
    long for a Unix socket (108 bytes on Linux)."""
    path = os.path.join(socket_dir(), server_key(env)[:32] + ".sock")
    if len(os.fsencode(path)) > 100:
        raise OSError(f"{path}: too long for a Unix socket")
    return path


# --------------------------------------------------------------------------------------------------
# Caller side
# --------------------------------------------------------------------------------------------------


def run_warm(argv: list[str]) -> int | None:
    """Run ``argv`` in the warm process and return its exit status; None when there is none to use (one is
    started in the background for the next command) or it refused, and the caller runs the command itself."""
    env = dict(os.environ)
    try:
        path = socket_path(env)
        cwd = os.getcwd()
    except OSError:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        _start_server(path, env)
        return None
    with sock:
        import resource

        mask = os.umask(0o022)
        os.umask(mask)
        files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        request = {"argv": argv, "cwd": cwd, "env": env, "umask": mask, "nofile": files}
        header = json.dumps(request).encode("ascii") + b"\n"
        try:
            sock.sendmsg([header], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))])
        except OSError:
            return None
        reader = sock.makefile("rb")
        started = _read_message(reader)
        if started is None or not isinstance(started.get("pid"), int):
            return None  # refused (a stale warm process) before anything ran: run it here
        child = started["pid"]

        def forward(signum: int, frame: Any) -> None:
            with contextlib.suppress(OSError):
                os.kill(child, signum)

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(signum, forward)
        while True:
            try:
                ended = _read_message(reader)
                break
            except InterruptedError:  # a forwarded signal; keep waiting for the child's status
                continue
        if ended is None or not isinstance(ended.get("exit"), int):
            print("tianping: the warm process's command ended without an exit status", file=sys.stderr)
            return 1
        return int(ended["exit"])


def _read_message(reader: Any) -> dict[str, Any] | None:
    line = reader.readline(1 << 20)
    if not line:
        return None
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def _start_server(path: str, env: dict[str, str]) -> None:
    """Start a warm process for ``path`` in the background unless one is already starting."""
    import subprocess
    import time

    marker = path + ".starting"
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        try:
            if time.time() - os.stat(marker).st_mtime < 60:
                return  # another command is starting it
            os.unlink(marker)
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except OSError:
            return
    except OSError:
        return
    os.close(fd)
    try:
        with open(path[: -len(".sock")] + ".log", "wb") as log:  # why a warm process did not start or stopped
            subprocess.Popen(
                [sys.executable, "-P", "-m", "tianping.warm", path],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=os.path.dirname(path),
                env=env,
                start_new_session=True,
                close_fds=True,
            )
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(marker)


# --------------------------------------------------------------------------------------------------
# Warm process
# --------------------------------------------------------------------------------------------------


def serve(path: str, idle_s: float) -> None:
    """Import once, then fork a child per command until ``idle_s`` pass without one, the socket file is removed or
    taken over by another warm process, or tianping's code changes."""
    import importlib
    import time

    for name in _PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    if any(name in sys.modules for name in _MUST_NOT_PRELOAD):
        raise SystemExit(f"warm process: {_MUST_NOT_PRELOAD} was imported while preloading; not serving")
    key = server_key(dict(os.environ))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    staging = f"{path}.{os.getpid()}"
    listener.bind(staging)
    os.chmod(staging, 0o600)
    listener.listen(64)
    os.replace(staging, path)  # published whole; a warm process that loses a race idles out
    inode = os.stat(path).st_ino
    with contextlib.suppress(OSError):
        os.unlink(path + ".starting")
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel; each child resets it
    listener.settimeout(min(idle_s, 2.0))
    last = time.monotonic()
    children: list[int] = []  # pidfds of the commands still running: while one runs, the process is not idle
    try:
        while _still_ours(path, inode):
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                if _running(children):
                    last = time.monotonic()
                elif time.monotonic() - last >= idle_s:
                    return
                continue
            last = time.monotonic()
            with conn:
                conn.settimeout(10)
                if not _serve_one(conn, listener, key, children):
                    return
    finally:
        listener.close()
        for fd in children:
            os.close(fd)
        if _still_ours(path, inode):
            with contextlib.suppress(OSError):
                os.unlink(path)


def _running(children: list[int]) -> bool:
    """Whether a command is still running; the pidfds of those that ended are closed and dropped."""
    if children:
        poller = select.poll()  # (poll, not select: any descriptor number)
        for fd in children:
            poller.register(fd, select.POLLIN)
        for fd, _ in poller.poll(0):  # a pidfd reads ready once its process has exited
            children.remove(fd)
            os.close(fd)
    return bool(children)


def _still_ours(path: str, inode: int) -> bool:
    """False once the socket file is gone (removing it stops the warm process) or another one took the name."""
    try:
        return os.stat(path).st_ino == inode
    except OSError:
        return False


def _serve_one(conn: socket.socket, listener: socket.socket, key: str, children: list[int]) -> bool:
    """Fork a child for the command on ``conn`` (its pidfd added to ``children``); False when this warm process
    must stop (its code or the caller's environment no longer matches: it is stale)."""
    fds: list[int] = []
    try:
        uid = int.from_bytes(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)[4:8], sys.byteorder)
        data = _receive(conn, fds)
        request = json.loads(data)
        if uid != os.getuid() or len(fds) != 3 or not isinstance(request, dict):
            return True
        if server_key(request["env"]) != key:
            conn.sendall(b'{"refused": "stale"}\n')
            return False
        pid = os.fork()
        if pid == 0:
            try:
                for fd in children:  # the other commands' pidfds are the warm process's, not this command's
                    os.close(fd)
                _child(conn, listener, request, fds)
            finally:
                os._exit(70)
        with contextlib.suppress(OSError):  # (a kernel without pidfds: the idle time counts from the start)
            children.append(os.pidfd_open(pid))
        return True
    except (OSError, ValueError, KeyError, TypeError):
        return True
    finally:
        for fd in fds:
            os.close(fd)


def _receive(conn: socket.socket, fds: list[int]) -> bytes:
    """One request line; the descriptors sent with it are added to ``fds`` as they arrive (the caller closes
    them, also when the request turns out bad)."""
    chunks: list[bytes] = []
    size = 0
    while not chunks or not chunks[-1].endswith(b"\n"):
        data, ancillary, _, _ = conn.recvmsg(1 << 16, socket.CMSG_SPACE(3 * 4))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                usable = len(payload) - len(payload) % 4
                fds.extend(array.array("i", payload[:usable]))
        if not data:
            break
        chunks.append(data)
        size += len(data)
        if size > 1 << 24:
            raise ValueError("request too large")
    return b"".join(chunks)


def _stop_when_caller_goes(conn: socket.socket, me: int) -> None:
    """The caller sends nothing after its request: end of stream means it is gone (killed, its terminal closed).
    Then the command stops as on Ctrl-C (answers so far are stored; ``resume`` finishes the run) instead of going
    on unseen."""
    with contextlib.suppress(OSError):
        while conn.recv(1):
            pass
    with contextlib.suppress(OSError):
        os.kill(me, signal.SIGINT)


def _child(conn: socket.socket, listener: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
    """Become the caller's command: its descriptors, directory, environment and arguments."""
    import random

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    listener.close()
    for target, fd in zip((0, 1, 2), fds, strict=True):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.chdir(request["cwd"])
    os.umask(int(request["umask"]))
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    with contextlib.suppress(ValueError, OSError):  # the caller's open-file limit (high concurrency raises it)
        resource.setrlimit(resource.RLIMIT_NOFILE, (int(request["nofile"]), hard))
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["tianping", *request["argv"]]
    random.seed()  # the fork copied the warm process's generator; every child must draw its own numbers
    for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=os.isatty(fd))
    me = os.getpid()
    conn.settimeout(None)
    conn.sendall(json.dumps({"pid": me}).encode("ascii") + b"\n")
    threading.Thread(target=_stop_when_caller_goes, args=(conn, me), name="warm-caller", daemon=True).start()
    exit_now = os._exit

    def report_and_exit(code: int) -> None:
        if os.getpid() == me:  # not a process this command forked
            with contextlib.suppress(ValueError):  # (not the main thread: signal dispositions are the main's)
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller leaves once it has the status (above)
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps({"exit": int(code)}).encode("ascii") + b"\n")
        exit_now(code)

    os._exit = report_and_exit  # type: ignore[assignment]  # the command line ends with os._exit
    code = 1
    try:
        from tianping.cli import main

        main()  # ends in os._exit, which reports the status
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    report_and_exit(code)


def main() -> None:
    """The ``tianping`` command: through the warm process when it is wanted and there, else in this process."""
    argv = sys.argv[1:]
    if wanted(argv):
        code = run_warm(argv)
        if code is not None:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    from tianping.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    try:
        idle = float(os.environ.get("TIANPING_WARM_IDLE", IDLE_S))
    except ValueError:
        idle = IDLE_S
    serve(sys.argv[1], idle)
