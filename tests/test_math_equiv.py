"""math_equal / extract_math_answer: mathematical answer equivalence built on math-verify.

Each EQUAL_CASES entry is (prediction, gold, expected) and pins one semantic decision documented in
``tianping.scoring.math_equiv`` (percentages, rounding tolerance, units, intervals, order of tuples, ...).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tianping.scoring import math_equiv, math_workers
from tianping.scoring.math_equiv import extract_math_answer, math_equal, shutdown_math_workers

PMATRIX = r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}"

EQUAL_CASES: list[tuple[str, str, bool]] = [
    # Fractions, decimals, LaTeX spellings of the same number.
    (r"\frac{1}{2}", "0.5", True),
    (r"\frac{1}{2}", "1/2", True),
    (r"\dfrac12", r"\frac{1}{2}", True),
    ("0.5", r"\dfrac12", True),
    (r"\tfrac{3}{2}", "1.50", True),
    (r"-\frac{1}{2}", "-0.5", True),
    (r"\frac{-1}{2}", r"-\frac12", True),
    (r"\frac{1}{3}", "0.5", False),
    # Points and tuples: \left/\right and \frac inside, order matters.
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3, \pi/2)", True),
    ("(1, 3, 2)", "(1, 2, 3)", False),
    ("(2, 1)", "(1, 2)", False),
    # Percentages: p% equals p and p/100; two percentages compare as they are.
    (r"10\%", "10", True),
    (r"10\%", "0.1", True),
    ("0.1", r"10\%", True),
    ("12.5%", "12.5", True),
    (r"12.5\%", r"\frac{1}{8}", True),
    ("50 percent", r"\frac12", True),
    (r"0.1\%", r"10\%", False),
    ("0.5", "50", False),
    # Intervals: membership notation, openness of endpoints, relations.
    (r"x \in [2, 5)", "[2,5)", True),
    (r"x \in [2, 5)", "[2,5]", False),
    (r"\left[2,5\right)", "[2, 5)", True),
    (r"x \geq 3", r"[3, \infty)", True),
    (r"[-1, 1]", r"-1 \le x \le 1", True),
    (r"(-\infty, 2) \cup (3, \infty)", r"(-\infty,2)\cup(3,\infty)", True),
    # Radicals and symbolic equivalence.
    (r"\boxed{\sqrt{2}}", "2^{1/2}", True),
    (r"\frac{\sqrt{3}}{2}", r"\sqrt{3}/2", True),
    (r"\sqrt{3}", r"\sqrt{2}", False),
    ("x^2+2x+1", "(x+1)^2", True),
    ("x^2+1", "(x+1)^2", False),
    (r"\sin^2 x + \cos^2 x", "1", True),
    (r"\frac{x^2-1}{x-1}", "x+1", True),
    ("2x+3y", "3y+2x", True),
    ("a+b", "a-b", False),
    ("x", "y", False),
    # Units, currency, thousands separators, trailing full stop.
    (r"\text{5 cm}", "5", True),
    (r"5 \text{ cm}^2", "5", True),
    (r"\text{5 meters}", "5", True),
    ("$1,234$", "1234", True),
    (r"1\,234", "1234", True),
    (r"1{,}000", "1000", True),
    (r"\$1,234.50", "1234.5", True),
    ("1,000,000", "10^6", True),
    ("18.", "18", True),
    ("$18.$", "18", True),
    # Decimal approximations: correct rounding at the written precision, >= 4 significant digits,
    # only against values without a finite decimal expansion.
    (r"2\pi", "6.2832", True),
    ("6.2832", r"2\pi", True),
    ("6.28", r"2\pi", False),
    ("3.142", r"\pi", True),
    ("3.14", r"\pi", False),
    ("1.414", r"\sqrt{2}", True),
    ("1.41", r"\sqrt{2}", False),
    ("0.3333", r"\frac13", True),
    ("0.333333", r"\frac13", True),
    ("0.13", r"\frac18", False),
    ("1.5708", r"\frac{\pi}{2}", True),
    # Matrices: element order matters, bracket style does not.
    (PMATRIX, r"\begin{bmatrix} 1 & 2 \\ 3 & 4 \end{bmatrix}", True),
    (PMATRIX, r"\begin{pmatrix} 1 & 3 \\ 2 & 4 \end{pmatrix}", False),
    # Sets: order does not matter, size does.
    (r"\{1,2\}", r"\{2,1\}", True),
    (r"\{1, 2, 3\}", r"\{3, 2, 1\}", True),
    (r"\{1, 2\}", r"\{1, 2, 3\}", False),
    ("2, 3", r"\{3, 2\}", True),
    # Inequalities.
    ("x > 3", "3 < x", True),
    ("x > 3", r"x \geq 3", False),
    (r"x \le 5", r"(-\infty, 5]", True),
    # Negative numbers and infinity.
    ("-5", "-5", True),
    ("-5", "5", False),
    ("-0.0", "0", True),
    (r"\infty", r"+\infty", True),
    (r"-\infty", r"\infty", False),
    (r"\infty", "1000000", False),
    # Degrees are not converted to radians.
    (r"30^\circ", "30", True),
    ("30°", "30", True),
    (r"30^{\circ}", r"\frac{\pi}{6}", False),
    # Mixed numbers.
    (r"2\frac{1}{2}", r"\frac52", True),
    (r"3\frac14", "3.25", True),
    ("2 1/2", "5/2", True),
    # Equations against their value, factorials, multiple-choice letters.
    ("x = 5", "5", True),
    ("(100!)", "100!", True),
    (r"\text{(C)}", "C", True),
    # Whole responses as predictions.
    (r"So the answer is $\boxed{\frac{\sqrt3}{2}}$.", r"\frac{\sqrt{3}}{2}", True),
    ("The answer is 42.", "42", True),
    ("The answer is 5 cm.", "5", True),
    (r"答案是 $\frac{1}{2}$。", "0.5", True),
    ("The final answer is $(3, \\frac{\\pi}{2})$. I hope it is correct.", r"\left(3,\frac{\pi}{2}\right)", True),
    (r"First $\boxed{2}$, no wait: $\boxed{3}$", "3", True),
    (r"First $\boxed{2}$, no wait: $\boxed{3}$", "2", False),
    ("It is 5 cm long", "5", True),
    ("We compute $2+3$ and get $5$ as the result", "5", True),
    ("Answer: 16 - 3 - 4 = 9 eggs.", "9", True),
    ("$x=2$ or $x=3$", "2, 3", True),
    ("5 dollars", "5", True),
    (r"x \approx 6.2832", r"2\pi", True),
    ("1e3", "1000", True),
    # Numerals in a base: same base and value; a bare number is never a numeral in another base.
    ("52_8", "52_8", True),
    ("52_{8}", "52_8", True),
    (r"\text{52}_8", "52_8", True),
    ("(52)_8", "52_{8}", True),
    ("052_8", "52_8", True),
    ("52", "52_8", False),
    ("42", "52_8", False),
    ("52_8", "42", False),
    ("42_{10}", "52_8", False),
    ("101010_2", "52_8", False),
    ("53_8", "52_8", False),
    ("5_8", "5", True),
    (r"\text{152A}_{11}", "152A_{11}", True),
    ("152B_{11}", "152A_{11}", False),
    ("0.0011_{2}", "0.0011_2", True),
    ("0.0011_{2}", "0.0011", False),
    ("-101_2", "-101_2", True),
    ("52_8", r"5\cdot 8+2", False),
    ("a_{12}", "a_{12}", True),  # lower case: a variable, left to math-verify
    # Decimals by value (relative), not rounded to 6 places.
    (".00006721", ".0000672", False),
    ("-.00006721", "-.0000672", False),
    (".0000672", "0.00006720", True),
    ("6.72\\times 10^{-5}", ".0000672", True),
    ("0.0000001", "0", False),
    ("1.0000001", "1", False),
    ("2.43", "2.4", False),
    ("1.5e10", "15000000000", True),
    ("1.50000001e10", "15000000000", False),
    ("(0.00006721, 1)", "(0.0000672, 1)", False),
    ("(0.333333, 1)", r"(\frac13, 1)", True),
    ("[0.5, 2.26)", r"[\frac12, \frac94)", False),
    (r"\begin{pmatrix} 0.5 \\ 0.2500001 \end{pmatrix}", r"\begin{pmatrix} 1/2 \\ 1/4 \end{pmatrix}", False),
    (r"\begin{pmatrix} 0.5 \\ 0.25 \end{pmatrix}", r"\begin{pmatrix} 1/2 \\ 1/4 \end{pmatrix}", True),
    ("3.14159", r"\pi", True),
    ("3.14158", r"\pi", False),
    ("33.33%", r"\frac13", True),
    # Gold spellings of MATH: thousands with \!, a unit box after an expression.
    (r"11,\! 111,\! 111,\! 100", "11111111100", True),
    ("11111111100", r"11,\!111,\!111,\!100", True),
    ("11111111000", r"11,\! 111,\! 111,\! 100", False),
    (r"\frac{12}{5525}", r"\frac{12}{5,\!525}", True),
    (r"8\sqrt{3}", r"8\sqrt{3} \text { square inches}", True),
    (r"\frac{68}{3}", r"\frac{68}{3}\text{ pounds}", True),
    ("0.25", r"0.25\,\text{ cm}", True),
    (r"\text{even}", r"\text{odd}", False),
    # Mixed numbers, LaTeX: a whole number right before \frac, \dfrac, \tfrac (a space allowed).
    (r"3\frac{1}{2}", "3.5", True),
    (r"3\frac{1}{2}", "15.5", False),
    (r"1\frac{1}{2}", "5.5", False),
    (r"-2\frac{1}{4}", "-2.25", True),
    (r"3 \dfrac{1}{2}", "3.5", True),
    (r"3\tfrac12", "3.5", True),
    (r"1\frac{12}{13}", r"\frac{25}{13}", True),
    (r"2\cdot\frac{1}{2}", "1", True),
    (r"2\times\frac12", "1", True),
    (r"2\cdot\frac{1}{2}", "2.5", False),
    # Gibberish or nothing on either side: False, never an exception.
    ("asdf qwer", "5", False),
    ("5", "}{}{", False),
    (r"}{\frac", "5", False),
    ("5", "\\\\\\", False),
    ("", "5", False),
    ("5", "", False),
    ("   ", "   ", False),
    (r"\boxed{}", "5", False),
    (r"\frac{1}{0}", "5", False),
]


@pytest.mark.parametrize(("pred", "gold", "expected"), EQUAL_CASES)
def test_math_equal(pred: str, gold: str, expected: bool) -> None:
    assert math_equal(pred, gold) is expected


def test_non_string_input_is_false() -> None:
    assert math_equal(None, "5") is False  # type: ignore[arg-type]
    assert math_equal("5", 5) is False  # type: ignore[arg-type]


@pytest.mark.parametrize("pathological", [r"10^{10^{10^{10}}}", r"(10^{10})!", r"99999999999^{99999999999}"])
def test_pathological_input_times_out_false(pathological: str) -> None:
    assert math_equal("1", "1") is True  # a warm worker: start-up is not part of the budget
    start = time.monotonic()
    assert math_equal(pathological, "5", timeout_s=1.0) is False
    assert time.monotonic() - start < 2.0
    assert math_equal(r"\frac{1}{2}", "0.5", timeout_s=30) is True


def test_worker_stuck_past_the_deadline_is_killed_and_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hard deadline: a worker that does not interrupt itself (C-level work) is killed by the caller."""
    assert math_equal("1", "1") is True
    pool = math_workers._get_pool()
    pids_before = {worker.proc.pid for worker in pool._all}
    monkeypatch.setattr(math_workers, "_soft_deadline", lambda timeout_s: 600.0)  # disable the worker's own timer
    start = time.monotonic()
    assert math_equal(r"10^{10^{10^{10}}}", "5", timeout_s=1.0) is False
    assert time.monotonic() - start < 2.5
    assert pids_before - {worker.proc.pid for worker in pool._all}, "the stuck worker was not replaced"
    monkeypatch.undo()
    assert math_equal(r"\frac{1}{2}", "0.5", timeout_s=30) is True


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="no SIGALRM on this platform")
def test_callers_signal_handlers_are_untouched() -> None:
    def handler(signum: int, frame: object) -> None:
        raise AssertionError("SIGALRM reached the caller")

    previous = signal.signal(signal.SIGALRM, handler)
    try:
        assert math_equal(r"10^{10^{10^{10}}}", "5", timeout_s=1.0) is False
        assert math_equal(r"\frac{1}{2}", "0.5") is True
        assert signal.getsignal(signal.SIGALRM) is handler
    finally:
        signal.signal(signal.SIGALRM, previous)


def test_identical_pathological_strings_are_equal_without_evaluation() -> None:
    start = time.monotonic()
    assert math_equal(r"10^{10^{10^{10}}}", r"$10^{10^{10^{10}}}$", timeout_s=1.0) is True
    assert time.monotonic() - start < 0.5


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError):
        math_equal("1", "1", timeout_s=0)


def test_safe_from_worker_threads_and_deterministic() -> None:
    cases = [c for c in EQUAL_CASES if c[0] and c[1]][:16] * 2
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda c: math_equal(c[0], c[1], timeout_s=30), cases))
    assert results == [c[2] for c in cases]


def test_safe_inside_an_event_loop() -> None:
    async def main() -> tuple[bool, bool, bool]:
        direct = math_equal(r"\frac{1}{2}", "0.5", timeout_s=30)  # blocks the loop briefly, but works
        via_thread = await asyncio.to_thread(math_equal, r"x \in [2,5)", "[2,5]", timeout_s=30)
        timed_out = await asyncio.to_thread(math_equal, r"10^{10^{10^{10}}}", "5", timeout_s=1.0)
        return direct, via_thread, timed_out

    assert asyncio.run(main()) == (True, False, False)


def test_import_does_not_load_sympy_or_math_verify() -> None:
    code = (
        "import sys, tianping.scoring.math_equiv as m\n"
        "assert m.extract_math_answer(r'\\boxed{1}') == '1'\n"
        "bad = [n for n in ('sympy', 'math_verify', 'latex2sympy2_extended') if n in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --------------------------------------------------------------------------------------------------
# extract_math_answer
# --------------------------------------------------------------------------------------------------

EXTRACT_CASES: list[tuple[str, str | None]] = [
    (r"The value is $\boxed{\frac{1}{\sqrt{2}}}$.", r"\frac{1}{\sqrt{2}}"),
    (r"\boxed{\left( 3, \frac{\pi}{2} \right)}", r"\left( 3, \frac{\pi}{2} \right)"),
    (r"so $\boxed{\{1,2\}}$", r"\{1,2\}"),
    (r"Hence \boxed 5.", "5"),
    (r"Therefore \fbox{7}", "7"),
    (r"Try \boxed{2}. Actually it is \boxed{3}.", "3"),
    (r"We have \boxed{3}, then \boxed{4", "3"),
    (r"\boxed{} so \boxed{ 8 }", "8"),
    ("The answer is $\\frac{1}{2}$ because half of it is gone.", r"\frac{1}{2}"),
    ("So the final answer is 3.5. Let me know if you need more.", "3.5"),
    ("Answer: 42", "42"),
    ("**Final Answer:** $x = 7$", "x = 7"),
    ("First the answer is 3.\nOn reflection, the answer is 4.", "4"),
    ("因此，答案是 12。", "12"),
    ("最终答案：$\\sqrt{3}$", r"\sqrt{3}"),
    ("We get $x=1$ and then $y = 2$ at the end", "y = 2"),
    ("Display: \\[ \\frac{3}{4} \\]", r"\frac{3}{4}"),
    ("Inline \\(2^{10}\\) here", "2^{10}"),
    ("$$a+b$$", "a+b"),
    ("It costs $5 and $10 in total", None),
    ("No math here at all", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), EXTRACT_CASES)
def test_extract_math_answer(text: str, expected: str | None) -> None:
    assert extract_math_answer(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "\\boxed{" * 50_000,
        "\\[" * 50_000,
        "$$ a " * 50_000,
        "The answer is . " * 20_000,
        "5" + " " * 50_000 + "x",
        "Answer: 5" + " **" * 50_000,
    ],
    ids=["unclosed-boxes", "unclosed-display", "many-display-dollars", "many-statements", "spaces", "bold"],
)
def test_extraction_is_linear_on_adversarial_text(text: str) -> None:
    # CPU time, not wall time: a loaded machine stretched a 1.5 s wall time past the bound once (a quadratic
    # scan of these texts takes minutes)
    start = time.process_time()
    extract_math_answer(text)
    math_equiv._prepare(text)
    assert time.process_time() - start < 2.0


def test_shutdown_ends_the_workers() -> None:
    """Last in the file, so that no later test pays for starting the pool again (first use is tested above)."""
    assert math_equal("2x", "x+x", timeout_s=30) is True
    processes = [worker.proc for worker in math_workers._get_pool()._all]
    assert processes
    shutdown_math_workers()
    assert all(proc.poll() is not None for proc in processes)
    assert math_workers._POOL is None
