"""The worker processes behind :func:`tianping.scoring.math_equiv.math_equal`.

SymPy work can run away (``10^{10^{10^{10}}}``) inside C code that no signal in the caller can stop, and
math-verify's own timeout needs the main thread's SIGALRM. So each comparison runs in a small pool of
worker processes started with this file as a script: a soft deadline inside the worker answers False and
keeps it alive; a hard deadline in the caller kills a stuck worker and starts a replacement.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from decimal import Decimal, InvalidOperation
from importlib.util import find_spec
from typing import Any

from tianping.scoring.math_equiv import REQUIREMENT, _looks_like_prose

# ==================================================================================================
# Worker-process pool (caller side)
# ==================================================================================================

_STARTUP_TIMEOUT_S = 120.0
_MEMORY_LIMIT_BYTES = 2 * 1024**3


def _pool_size() -> int:
    try:
        size = int(os.environ.get("TIANPING_MATH_WORKERS", ""))
    except ValueError:
        size = min(4, os.cpu_count() or 1)
    return max(1, size)


def _soft_deadline(timeout_s: float) -> float:
    """A little before the caller's deadline, so that the worker answers False itself and survives."""
    return max(0.05, timeout_s - min(0.5, 0.2 * timeout_s))


_GONE = object()  # Worker.request: the worker was dead before the request reached it


class _Worker:
    """One worker process speaking line-delimited JSON over its stdin/stdout."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONHASHSEED"] = "0"
        # -P: do not put this file's directory (tianping/scoring) on sys.path.
        self.proc = subprocess.Popen(
            [sys.executable, "-P", os.path.abspath(__file__), "--math-equiv-worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._ready = False
        self._seq = 0
        threading.Thread(target=self._read, name="math-equiv-reader", daemon=True).start()

    def _read(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        try:
            for line in stdout:
                self._lines.put(line)
        except (OSError, ValueError):
            pass
        self._lines.put(None)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def ensure_ready(self) -> None:
        if self._ready:
            return
        try:
            line = self._lines.get(timeout=_STARTUP_TIMEOUT_S)
        except queue.Empty:
            raise RuntimeError(f"math-equivalence worker did not start within {_STARTUP_TIMEOUT_S:.0f} s") from None
        if line is None:
            raise RuntimeError("math-equivalence worker exited during start-up")
        msg = json.loads(line)
        if "fatal" in msg:
            raise RuntimeError(f"math-equivalence worker failed to start: {msg['fatal']}")
        self._ready = True

    def request(self, pred: tuple[str, bool], gold: tuple[str, bool], timeout_s: float) -> bool | object:
        """The worker's verdict; None if it did not answer within ``timeout_s`` or died on this request;
        ``_GONE`` if it was already dead and never got the request."""
        self._seq += 1
        data = (
            json.dumps(
                {"id": self._seq, "pred": list(pred), "gold": list(gold), "soft_timeout": _soft_deadline(timeout_s)}
            )
            + "\n"
        )
        deadline = time.monotonic() + timeout_s
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(data.encode("ascii"))
            self.proc.stdin.flush()
        except (OSError, ValueError):
            return _GONE
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                return None
            if line is None:
                return None
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("id") == self._seq:
                return bool(msg.get("equal"))

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


class _Pool:
    def __init__(self, size: int) -> None:
        self.size = size
        self.pid = os.getpid()
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._closed = False

    def _acquire(self) -> _Worker:
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError("math-equivalence workers have been shut down")
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive():
                        break
                    self._all.discard(worker)
                    worker.kill()
                else:
                    worker = None
                if worker is not None:
                    break
                if len(self._all) < self.size:
                    worker = _Worker()
                    self._all.add(worker)
                    break
                self._cond.wait()
        try:
            worker.ensure_ready()  # start-up time is not part of the comparison's budget
        except BaseException:
            self._discard(worker, respawn=False)
            raise
        return worker

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            if self._closed:
                worker.kill()
                self._all.discard(worker)
            else:
                self._idle.append(worker)
            self._cond.notify()

    def _discard(self, worker: _Worker, *, respawn: bool) -> None:
        worker.kill()
        with self._cond:
            self._all.discard(worker)
            if respawn and not self._closed and len(self._all) < self.size:
                # Start the replacement now so that it has imported SymPy by the time it is needed.
                replacement = _Worker()
                self._all.add(replacement)
                self._idle.append(replacement)
            self._cond.notify()

    def compare(self, pred: tuple[str, bool], gold: tuple[str, bool], timeout_s: float) -> bool:
        for _attempt in range(2):  # a second try only if the first worker had died before it got the request
            worker = self._acquire()
            verdict: bool | object = None
            try:
                verdict = worker.request(pred, gold, timeout_s)
            finally:
                if isinstance(verdict, bool):
                    self._release(worker)
                else:  # overran, died, or we were interrupted: its state is unknown
                    self._discard(worker, respawn=True)
            if verdict is not _GONE:
                return verdict is True
        return False

    def close(self) -> None:
        with self._cond:
            self._closed = True
            workers = list(self._all)
            self._all.clear()
            self._idle.clear()
            self._cond.notify_all()
        for worker in workers:
            worker.kill()


_POOL: _Pool | None = None
_POOL_LOCK = threading.Lock()


def _get_pool() -> _Pool:
    global _POOL
    pool = _POOL
    if pool is not None and pool.pid == os.getpid():
        return pool
    with _POOL_LOCK:
        if _POOL is None or _POOL.pid != os.getpid():  # first use, or we are a fork: do not share pipes
            if find_spec("math_verify") is None:
                raise ImportError(f"math_equal needs math-verify: pip install '{REQUIREMENT}'")
            _POOL = _Pool(_pool_size())
        return _POOL


def shutdown_math_workers() -> None:
    """End the worker processes (they are started again on the next :func:`math_equal`)."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None and pool.pid == os.getpid():
        pool.close()


atexit.register(shutdown_math_workers)


# ==================================================================================================
# Worker side (runs in the worker process; imports math-verify / SymPy)
# ==================================================================================================

_DECIMAL_RE = re.compile(r"[-+]?(?:\d+\.\d+|\.\d+)")


def _split_percent(s: str) -> str | None:
    """The number of a percentage ``p\\%`` (normalised form), else None."""
    if not s.endswith("%"):
        return None
    return s[:-1].removesuffix("\\").rstrip()


def _has_sympy(parsed: list[Any]) -> bool:
    return any(not isinstance(item, str) for item in parsed)


def _parse(expr: str, is_text: bool = False) -> list[Any]:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    if not is_text and not _looks_like_prose(expr):
        as_latex = parse(f"${expr}$", [LatexExtractionConfig(boxed_match_priority=0)], parsing_timeout=None)
        if _has_sympy(as_latex):
            return as_latex
    else:
        as_latex = []
    # Plain-text expressions ("sqrt(2)", "1/2") and prose: math-verify's own extraction.
    as_text = parse(expr, [LatexExtractionConfig(), ExprExtractionConfig()], parsing_timeout=None)
    if _has_sympy(as_text):
        return as_text
    return as_latex or as_text


def _verify(gold: list[Any], pred: list[Any]) -> bool:
    from math_verify import verify

    _use_decimal_rule()
    return bool(verify(gold, pred, timeout_seconds=None, allow_set_relation_comp=True))


# --------------------------------------------------------------------------------------------------
# Decimals.  math-verify compares a number with a decimal after rounding both to 6 decimal places, an
# absolute tolerance: .00006721 = .0000672 = .0000001 = 0 for it.  We compare decimals by value instead:
# two decimals must be equal (up to the noise of binary floating point, relative 1e-12), and a decimal
# against an exact value must be equal to it or its correct rounding at the precision it is written
# (see _correct_rounding).  The rule replaces math-verify's in every place it compares numbers (scalars,
# tuple, set and interval elements, matrix entries, sides of relations), in this worker process only.
# --------------------------------------------------------------------------------------------------

_FLOAT_NOISE = Decimal("1e-12")
_original_numeric_eq: Any = None


def _use_decimal_rule() -> None:
    global _original_numeric_eq
    from math_verify import grader

    if _original_numeric_eq is None:
        _original_numeric_eq = grader.sympy_numeric_eq
        grader.sympy_numeric_eq = _numeric_eq  # looked up by name at each call, recursion included


def _numeric_eq(a: Any, b: Any, float_rounding: int, numeric_precision: int) -> bool:
    from math_verify.grader import is_atomic_or_pct_atomic
    from sympy import Float

    if is_atomic_or_pct_atomic(a, Float) or is_atomic_or_pct_atomic(b, Float):
        return _decimal_equal(a, b)
    return bool(_original_numeric_eq(a, b, float_rounding, numeric_precision))


def _written(value: Any) -> str:
    """A Float as it was written: its own digits without the zeros that pad them to its precision."""
    return format(Decimal(str(value)).normalize(), "f")


def _decimal_equal(a: Any, b: Any) -> bool:
    """``a`` or ``b`` is a decimal (a SymPy Float, or a Float percentage): equal by the rule above."""
    import sympy

    try:
        a, b = a.doit(), b.doit()
        if a == b:
            return True
        if not all(isinstance(x, sympy.Expr) and not x.free_symbols for x in (a, b)):
            return False
        va, vb = sympy.N(a, 30), sympy.N(b, 30)
        if not (va.is_Float or va.is_Integer) or not (vb.is_Float or vb.is_Integer):
            return False  # complex, infinite or not a number
        da, db = Decimal(str(va)), Decimal(str(vb))
    except (TypeError, ValueError, ArithmeticError, AttributeError):
        return False
    if abs(da - db) <= _FLOAT_NOISE * max(abs(da), abs(db)):
        return True
    return any(
        isinstance(decimal, sympy.Float) and not other.has(sympy.Float) and _correct_rounding(_written(decimal), other)
        for decimal, other in ((a, b), (b, a))
    )


def _correct_rounding(literal: str, value: Any) -> bool:
    """``literal`` (a decimal as written, 4 or more significant digits) is the correct rounding, at the number
    of decimal places it is written with, of ``value``: an exact real number without a finite decimal
    expansion (irrational, or a rational such as 1/3).  A value with a finite expansion (1/8 = 0.125) must
    be written exactly, so no rounding is allowed for it."""
    import sympy

    literal = literal.replace(",", "")
    if not _DECIMAL_RE.fullmatch(literal):
        return False
    places = len(literal.split(".")[1])
    significant = literal.lstrip("+-").replace(".", "").lstrip("0")
    if len(significant) < 4:
        return False
    if not isinstance(value, sympy.Expr) or value.free_symbols or value.has(sympy.Float):
        return False
    value = value.doit()
    if not isinstance(value, sympy.Expr) or value.free_symbols or value.is_extended_real is not True:
        return False
    if value.is_infinite:
        return False
    if value.is_Rational:
        q = int(value.q)
        for p in (2, 5):
            while q % p == 0:
                q //= p
        if q == 1:
            return False  # has an exact finite decimal expansion: no rounding allowed
    approx = sympy.N(value, places + 25)
    if not approx.is_Float:
        return False
    try:
        error = abs(Decimal(literal) - Decimal(str(approx)))
    except InvalidOperation:
        return False
    return error <= Decimal(5) * Decimal(10) ** -(places + 1)


def _rounds_to(decimal_str: str, parsed: list[Any]) -> bool:
    """``decimal_str`` is the correct rounding of the exact, non-terminating value in ``parsed``."""
    return any(_correct_rounding(decimal_str, item) for item in parsed)


def _compare(pred: str, gold: str, *, pred_is_text: bool = False, gold_is_text: bool = False) -> bool:
    gold_parsed = _parse(gold, gold_is_text)
    pred_parsed = _parse(pred, pred_is_text)
    if not gold_parsed or not pred_parsed:
        return False
    if _verify(gold_parsed, pred_parsed):
        return True
    # Exactly one side is a percentage: its bare number counts too (10\% = 10 as well as 0.1).
    gold_pct = None if gold_is_text else _split_percent(gold)
    pred_pct = None if pred_is_text else _split_percent(pred)
    if (gold_pct is None) != (pred_pct is None):
        if gold_pct:
            bare = _parse(gold_pct)
            if bare and _verify(bare, pred_parsed):
                return True
        if pred_pct:
            bare = _parse(pred_pct)
            if bare and _verify(gold_parsed, bare):
                return True
    # A decimal written to its own precision against an exact irrational / non-terminating value.
    return (not pred_is_text and _rounds_to(pred, gold_parsed)) or (not gold_is_text and _rounds_to(gold, pred_parsed))


def _limit_memory() -> None:
    try:
        import resource
    except ImportError:  # not on Windows
        return
    try:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = _MEMORY_LIMIT_BYTES if hard == resource.RLIM_INFINITY else min(hard, _MEMORY_LIMIT_BYTES)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):
        pass


class _SoftDeadline(BaseException):
    """Raised by SIGALRM inside a worker; a BaseException so that math-verify's ``except Exception`` lets it by."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _SoftDeadline


def _worker_main() -> None:
    import logging
    import signal

    with contextlib.suppress(ValueError, OSError, AttributeError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's business; we end on stdin EOF
    # In the worker we own the main thread, so a timer signal can interrupt pure-Python SymPy work (most
    # runaway cases).  A long C-level operation (a giant integer power) cannot be interrupted: the caller kills
    # the worker when its own deadline passes.
    has_timer = hasattr(signal, "setitimer")
    if has_timer:
        signal.signal(signal.SIGALRM, _on_alarm)
    # The protocol gets a private copy of stdout; anything a library prints goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="ascii", newline="\n")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    def send(msg: dict[str, Any]) -> None:
        out.write(json.dumps(msg) + "\n")
        out.flush()

    _limit_memory()
    try:
        logging.getLogger("math_verify").setLevel(logging.CRITICAL)
        logging.getLogger("latex2sympy2_extended").setLevel(logging.CRITICAL)
        import math_verify  # noqa: F401
        import sympy  # noqa: F401

        _compare(r"\frac{1}{2}", "0.5")  # warm-up: first parse builds the ANTLR parser
    except BaseException as exc:  # noqa: BLE001 - reported to the caller
        send({"fatal": f"{type(exc).__name__}: {exc}"})
        return
    send({"ready": True})
    for line in sys.stdin:
        try:
            request = json.loads(line)
        except ValueError:
            continue
        try:
            try:
                if has_timer:
                    signal.setitimer(signal.ITIMER_REAL, float(request.get("soft_timeout") or 5.0))
                pred, pred_is_text = request["pred"]
                gold, gold_is_text = request["gold"]
                equal = _compare(str(pred), str(gold), pred_is_text=bool(pred_is_text), gold_is_text=bool(gold_is_text))
            finally:
                if has_timer:
                    signal.setitimer(signal.ITIMER_REAL, 0)
        except (_SoftDeadline, Exception):  # MemoryError and RecursionError included
            equal = False
        send({"id": request.get("id"), "equal": bool(equal)})


if __name__ == "__main__" and "--math-equiv-worker" in sys.argv[1:]:
    _worker_main()
