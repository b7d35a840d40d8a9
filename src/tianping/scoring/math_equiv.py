"""Mathematical answer equivalence for benchmarks whose answers are expressions (MATH, AIME, OlympiadBench, ...).

Two functions:

* :func:`extract_math_answer` pulls the final answer expression out of a response: the last ``\\boxed{...}``
  (or ``\\fbox{...}``, ``\\boxed 5``), else the last "The (final) answer is ..." / "Answer: ..." / "答案是 ..."
  statement, else the last ``$...$`` / ``$$...$$`` / ``\\(...\\)`` / ``\\[...\\]`` span.  Pure regex, stdlib only.
* :func:`math_equal` decides whether a prediction (a whole response or an extracted expression) equals a gold
  answer mathematically.  The heavy lifting is done by Hugging Face's `math-verify
  <https://github.com/huggingface/math-verify>`_ (LaTeX parsing via latex2sympy2-extended + SymPy comparison:
  fractions vs decimals, ``\\left(\\right)``, units, ``x \\in [2, 5)``, sets, intervals, matrices, relations,
  symbolic simplification).  This module adds only what it lacks, see "Semantics" below.

Installing
    ``math-verify[antlr4_13_2]>=0.9,<0.10`` (the extra pins the ANTLR runtime, ``antlr4-python3-runtime==4.13.2``,
    whose generated parser latex2sympy2-extended ships; without a matching runtime LaTeX cannot be parsed).
    Neither math-verify nor SymPy is imported by this module at import time (they take ~1 s to import): the
    comparison runs in worker processes that import them.

Reading the two strings (both sides alike)
    An explicit answer wins: the last boxed one, else the last answer statement (as in
    :func:`extract_math_answer`).  Without one, a string that reads as an expression (``x \\in [2, 5)``,
    ``$1,234$``, ``5 cm``) is parsed whole; running prose ("We compute $2+3$ and get $5$.") is left to
    math-verify's own extraction, which takes the last math span or number and also joins "$x=2$ or $x=3$".
    Before parsing we normalise what math-verify does not: ``\\text{5 cm}``, ``1\\,234``, trailing full
    stops, "percent", unit words after a number ("5 dollars"), ``a \\approx b`` (keeps ``b``), ``1e3``,
    plain-text mixed numbers ("2 1/2"), and a few Unicode symbols (π, √, °, ∞, ≤ ...).

Semantics (decisions on top of math-verify, all covered by ``tests/test_math_equiv.py``)
    * Percentages: ``p\\%`` equals both ``p`` and ``p/100`` (``10\\%`` = ``10`` = ``0.1``; ``12.5\\%`` = ``12.5``
      = ``1/8``).  Datasets write percentage answers both ways and a model that says "10%" for gold "10" (or
      "0.1") has the right answer.  Two percentages are compared as they are: ``10\\%`` != ``0.1\\%``.
      (math-verify alone accepts ``10\\%`` = ``10`` but not ``12.5\\%`` = ``12.5``; we make it consistent.)
    * Decimals are compared by value, relative to their size (math-verify rounds both sides to 6 decimal
      places, an absolute tolerance under which ``.00006721`` = ``.0000672`` and ``0.0000001`` = ``0``; we
      replace that rule in the workers).  Two decimals must be equal, up to the noise of binary floating point
      (relative 1e-12): ``.0000672`` = ``6.72\\times 10^{-5}`` = ``0.00006720``, ``.00006721`` != ``.0000672``,
      ``2.43`` != ``2.4``.  A decimal against an exact value must equal it, or be its correct rounding at the
      precision it is written when the exact value has no finite decimal expansion (irrational, or a rational
      such as 1/3) and the decimal has at least 4 significant digits: ``6.2832`` = ``2\\pi``, ``3.1416`` =
      ``3.142`` = ``\\pi``, ``0.3333`` = ``0.333333`` = ``1/3``; but ``3.14`` != ``\\pi``, ``6.28`` !=
      ``2\\pi`` and ``0.13`` != ``1/8`` (1/8 = 0.125 exactly, so no rounding is allowed).  The rule holds
      inside tuples, sets, intervals and matrices too.
    * Numerals in a base (``52_8``, ``52_{8}``, ``(52)_8``, ``\\text{152A}_{11}``, ``0.0011_{2}``; upper-case
      letters are digits) are decided here, because math-verify drops the subscript (``52`` = ``52_8`` for it).
      Two numerals in the same base are equal when their values are (``052_8`` = ``52_8``).  A numeral in base
      b != 10 never equals a plain number, an expression or a numeral in another base, except where both
      readings of the digits agree (``5_8`` = ``5``): ``52_8`` != ``52``, and also ``52_8`` != ``42`` although
      52 in base 8 is 42.  Accepting the decimal value is not safe: models often write base-b digits without
      the subscript, so a bare ``42`` may mean ``42_8`` (= 34), a wrong answer that would be scored right, and
      the question asked for base 8 anyway.
    * Mixed numbers: a whole number right before a fraction of whole numbers is one number, in LaTeX
      (``3\\frac{1}{2}`` = ``3 \\dfrac12`` = 3.5, ``-2\\frac14`` = -2.25, as math-verify reads them) and in
      plain text (``2 1/2``); ``2\\cdot\\frac12`` and ``2\\times\\frac12`` are products.
    * Units and decorations are ignored: ``5 \\text{ cm}``, ``\\text{5 cm}``, ``\\$5``, ``30^\\circ`` = ``30``
      (degrees are not converted: ``30^\\circ`` != ``\\pi/6``), a unit box that ends an expression
      (``8\\sqrt{3} \\text{ square inches}``), thousands separators ``1,234`` / ``1\\,234`` / ``1{,}234`` /
      ``11,\\! 111`` (also inside a fraction), a trailing full stop (``18.``), ``\\dfrac``/``\\tfrac``.
    * Order matters for tuples, points and matrices (``(1, 2)`` != ``(2, 1)``), not for sets
      (``\\{1,2\\}`` = ``\\{2,1\\}``); an interval equals the same interval written as a relation
      (``x \\ge 3`` = ``[3, \\infty)``), endpoints must match in openness (``[2,5)`` != ``[2,5]``).
    * Strings that are identical after normalisation are equal without parsing; anything that cannot be
      parsed on either side (gibberish, empty) is not equal.  No input raises.

Timeout mechanism (why not math-verify's own)
    math-verify bounds its work with ``signal.alarm``: that only works in the main thread (elsewhere it raises
    ``ValueError``), it would replace the caller's ``SIGALRM`` handler (and an event loop's), it has
    whole-second resolution, and a signal cannot interrupt a long C-level operation -- nor can a thread with a
    deadline, which would moreover keep burning CPU (and holding the GIL) after we gave up on it.  So we call
    math-verify with its timeouts disabled and run every comparison in a small pool of worker *processes*
    (started with ``subprocess``, not ``multiprocessing``, so nothing is re-imported from the caller's
    ``__main__``), with two deadlines:

    * soft, inside the worker (``timeout_s`` less 20 %, at most 0.5 s less): in its own main thread the worker
      sets an interval timer whose signal aborts the comparison, which then counts as not equal.  This catches
      the usual runaway cases (``10^{10^{10^{10}}}``, ``(10^{10})!``) and keeps the worker alive;
    * hard, in the caller: it waits at most ``timeout_s`` for the answer; a worker that has not answered by
      then (stuck in C code) is killed, the answer is False, and a replacement is started in the background.

    ``math_equal`` therefore behaves the same in the main thread, in any worker thread and inside a running
    asyncio loop (it blocks the calling thread for up to ``timeout_s``; in a coroutine prefer ``await
    asyncio.to_thread(math_equal, ...)``), and never touches the calling process's signals.  Workers also get
    a 2 GiB address-space limit (where the OS has one), so a runaway expression fails fast with
    ``MemoryError`` instead of eating the machine.  ``timeout_s`` covers the comparison itself, not waiting for
    a free worker (when more threads call than there are workers) nor a worker's one-off start-up (importing
    SymPy, ~1 s), which is bounded separately (``_STARTUP_TIMEOUT_S``).  The pool has ``min(4, CPU count)``
    workers (environment variable ``TIANPING_MATH_WORKERS`` overrides), started on first use and ended at
    interpreter exit or by :func:`shutdown_math_workers`.

Determinism
    The result depends only on the two strings (workers run with ``PYTHONHASHSEED=0``, so SymPy's set ordering
    is the same in every run) -- except for inputs whose comparison takes close to ``timeout_s``, which may come
    out False on a slow or busy machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from fractions import Fraction

from tianping.scoring.keyword_scan import matches_at_words

__all__ = ["extract_math_answer", "math_equal", "shutdown_math_workers"]

REQUIREMENT = "math-verify[antlr4_13_2]>=0.9,<0.10"

# ==================================================================================================
# Extraction (stdlib only)
# ==================================================================================================

_BOXED_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_STATEMENT_RE = re.compile(
    r"(?:"
    r"(?i:\bfinal\s+answer\b(?:\s+is\b)?)"
    r"|(?i:\bthe\s+answer\s+(?:is|should\s+be|would\s+be)\b)"
    r"|(?i:\banswer\s*(?:\*\*)?\s*[:：])"
    r"|(?:最终)?答案\s*(?:应该是|应为|就是|是|为|為|[:：])"
    r")"
)
# Display and bracketed spans are paired by scanning (a regex with a lazy ``.+?`` is quadratic on many
# unclosed openers); inline $...$ cannot cross a line or another $, so its regex is linear.
_DELIMITED = (
    (re.compile(r"(?<!\\)\$\$"), re.compile(r"(?<!\\)\$\$")),
    (re.compile(r"\\\["), re.compile(r"\\\]")),
    (re.compile(r"\\\("), re.compile(r"\\\)")),
)
# Inline $...$ as pandoc reads it: no space just inside the dollars and no digit right after the closing one,
# so that "costs $5 and $10" is not a math span.
_INLINE_MATH_RE = re.compile(r"(?<![\\$])\$(?!\$)(?=\S)((?:\\.|[^$\\\n])+?)(?<=\S)(?<!\\)\$(?![\d$])")
_BRACE_TOKEN_RE = re.compile(r"\\.|[{}]", re.DOTALL)
_SENTENCE_END_RE = re.compile(r"[.?](?=\s|$)|[。！？；\n]")  # not "!": "the answer is 5!" may be 120
_STATEMENT_WORDS = ("final", "the", "answer")
_STATEMENT_WINDOW = 2000  # characters after "the answer is" that can hold the answer
_MAX_STATEMENTS = 20  # statements tried, from the last one back


def _brace_pairs(text: str) -> dict[int, int]:
    """Index of every ``{`` -> index of its matching ``}`` (escaped ``\\{``/``\\}`` skipped), in one pass."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACE_TOKEN_RE.finditer(text):
        token = m.group()
        if token == "{":
            stack.append(m.start())
        elif token == "}" and stack:
            pairs[stack.pop()] = m.start()
    return pairs


def _balanced(text: str, open_idx: int) -> str | None:
    """Content of the brace group opening at ``text[open_idx] == '{'``, or None if it is never closed."""
    close = _brace_pairs(text[open_idx:]).get(0)
    return None if close is None else text[open_idx + 1 : open_idx + close]


def _last_boxed(text: str) -> str | None:
    boxes = list(_BOXED_RE.finditer(text))
    if not boxes:
        return None
    pairs = _brace_pairs(text)
    for m in reversed(boxes):
        i = m.end()
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "{":
            close = pairs.get(i)
            content = None if close is None else text[i + 1 : close]
        else:  # \boxed 5
            token = re.match(r"[^\s$]+", text[i : i + 200])
            content = token.group().rstrip(".,;") if token else None
        if content is not None and content.strip():
            return content.strip()
    return None


def _math_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of every math span, ordered by where it ends."""
    spans = [(m.start(), m.end(), m.group(1)) for m in _INLINE_MATH_RE.finditer(text)]
    for opener, closer in _DELIMITED:
        pos = 0
        while (o := opener.search(text, pos)) is not None:
            c = closer.search(text, o.end() + 1)  # content of at least one character
            if c is None:
                break
            spans.append((o.start(), c.end(), text[o.end() : c.start()]))
            pos = c.end()
    return sorted(spans, key=lambda s: (s[1], -s[0]))


def _strip_decoration(s: str) -> str:
    """Drop markdown bold and the ":"/"=" that lead into an answer, and trailing bold (all in linear time)."""
    s = re.sub(r"^(?:\*\*|__|[:：=\s])+", "", s)
    while True:
        stripped = s.rstrip()
        if stripped.endswith(("**", "__")):
            stripped = stripped[:-2]
        if stripped == s:
            return s
        s = stripped


def _statements(text: str) -> Iterator[re.Match[str]]:
    """The matches of ``_STATEMENT_RE``: each begins at "final", "the", "answer", 答案 or 最终 and has "answer"
    or 答案 in it."""
    return matches_at_words(_STATEMENT_RE, text, _STATEMENT_WORDS, exact=("答案", "最终"), needs=("answer", "答案"))


def _statement_answer(text: str) -> str | None:
    matches = list(_statements(text))[-_MAX_STATEMENTS:]
    for m in reversed(matches):
        rest = _strip_decoration(text[m.end() : m.end() + _STATEMENT_WINDOW])
        if not rest:
            continue
        # The answer is a math span that starts the statement ("The answer is $\frac12$ because ...").
        spans = [s for s in _math_spans(rest) if s[0] <= 3]
        if spans:
            first = min(spans, key=lambda s: s[0])
            content = first[2].strip()
            if content:
                return content
        end = _SENTENCE_END_RE.search(rest)
        sentence = _strip_decoration(rest[: end.start()] if end else rest)
        if sentence:
            return sentence
    return None


def extract_math_answer(text: str) -> str | None:
    """The final answer expression of a response, or None.

    In order of preference: the content of the last non-empty ``\\boxed{...}`` / ``\\fbox{...}`` (nested and
    escaped braces handled; ``\\boxed 5`` too); else the answer of the last statement "The final answer is",
    "The answer is", "Answer:", "答案是/为/：" (a math span that starts it, or the rest of its sentence); else
    the content of the last ``$...$``, ``$$...$$``, ``\\(...\\)`` or ``\\[...\\]`` span.  The result is
    stripped but otherwise verbatim LaTeX.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    boxed = _last_boxed(text)
    if boxed is not None:
        return boxed
    stated = _statement_answer(text)
    if stated is not None:
        return stated
    for _start, _end, content in reversed(_math_spans(text)):
        if content.strip():
            return content.strip()
    return None


# ==================================================================================================
# String normalisation (stdlib only, runs in the caller)
# ==================================================================================================

_UNICODE_MAP = str.maketrans(
    {
        "\u2212": "-",
        "\u2013": "-",
        "π": r"\pi ",
        "∞": r"\infty ",
        "√": r"\sqrt",
        "°": r"^\circ ",
        "×": r"\times ",
        "÷": r"\div ",
        "≤": r"\le ",
        "≥": r"\ge ",
        "≠": r"\ne ",
        "∪": r"\cup ",
        "∈": r"\in ",
        "，": ",",
        "½": r"\frac{1}{2}",
        "⅓": r"\frac{1}{3}",
        "¼": r"\frac{1}{4}",
        "¾": r"\frac{3}{4}",
    }
)
_NUMBER = r"[-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)"
# \text{5 cm} -> 5: a number with its unit written inside one text box.
_TEXT_NUMBER_RE = re.compile(
    r"\\(?:text|textrm|textnormal|textbf|mathrm|mbox)\s*\{\s*(" + _NUMBER + r")\s*(?:[A-Za-z][A-Za-z .]*)?\}"
)
# 8\sqrt{3} \text { square inches}, \frac{68}{3}\text{ pounds}, 5\text{ cm}^2 -> the expression: a unit box that ends
# an answer (words only, after something else) is a unit.
_TRAILING_UNIT_BOX_RE = re.compile(
    r"(?<=\S)(?:\s|\\[,;: !])*\\(?:text|textrm|textnormal|mathrm|mbox)\s*\{\s*[A-Za-z][A-Za-z .]*\}(?:\^\{?\d\}?)?\s*$"
)
# 1\,234 / 1\ 234 / 1~234 / 1{,}234 / 1,\!234 (MATH's own spelling, also inside \frac{12}{5,\!525}) -> 1234
_THOUSANDS_RE = re.compile(r"(?<=\d)(?:\\[,;: !]|~|\{,\}|,\s*\\!\s*)(?=\d{3}(?!\d))")
_PERCENT_SUFFIX_RE = re.compile(r"(?:\\?%|(?<=\s)(?:percent|per\s?cent)|百分之?)$", re.IGNORECASE)
_SCIENTIFIC_RE = re.compile(r"^([-+]?\d+(?:\.\d+)?)[eE]([-+]?\d+)$")
_TRAILING_WORDS_RE = re.compile(r"(?<=[\d}])\s+([A-Za-z]{2,}(?:\s+[A-Za-z]{2,})*)\s*$")
_MIXED_NUMBER_RE = re.compile(r"^([-+]?\d+)\s+(\d+)\s*/\s*(\d+)$")
_TRAILING_PUNCT = ".,;:?。，；：！？"  # not "!": 5! is a factorial
_WRAPPERS = (("$$", "$$"), ("$", "$"), (r"\(", r"\)"), (r"\[", r"\]"))


_FUNCTION_WORDS = frozenset(
    ["sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "log", "ln"]
    + ["lg", "exp", "sqrt", "max", "min", "gcd", "lcm", "mod", "det", "deg", "pi", "infty", "inf", "or", "and"]
)
_WORD_RE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
_TEXT_BOX_RE = re.compile(
    r"\\(?:text|textrm|textnormal|textbf|textit|mathrm|mbox|operatorname|begin|end)\s*\{[^{}]*\}|\\[A-Za-z]+"
)


def _looks_like_prose(s: str) -> bool:
    """Two or more words that are neither LaTeX commands, text boxes (units) nor function names."""
    words = [w for w in _WORD_RE.findall(_TEXT_BOX_RE.sub(" ", s)) if w.lower() not in _FUNCTION_WORDS]
    return len(words) >= 2


def _unwrap_math(s: str) -> str:
    changed = True
    while changed:
        changed = False
        s = s.strip()
        for left, right in _WRAPPERS:
            if len(s) > len(left) + len(right) and s.startswith(left) and s.endswith(right):
                inner = s[len(left) : -len(right)]
                if left == "$" and "$" in inner.replace(r"\$", ""):
                    continue  # "$a$ and $b$" is not one span
                s = inner
                changed = True
                break
        boxed = re.fullmatch(r"\\(?:boxed|fbox)\s*(\{.*\})", s, re.DOTALL)
        if boxed and _balanced(boxed.group(1), 0) == boxed.group(1)[1:-1]:
            s = boxed.group(1)[1:-1]
            changed = True
    return s


def _strip_trailing_punctuation(s: str) -> str:
    """ "18." -> "18"; LaTeX spacing such as "\\," is kept."""
    end = len(s.rstrip())
    while end and s[end - 1] in _TRAILING_PUNCT and not (end >= 2 and s[end - 2] == "\\"):
        end -= 1
        while end and s[end - 1].isspace():
            end -= 1
    return s[:end]


def _normalize_expr(s: str) -> str:
    """Clean an answer expression before it is parsed: what math-verify does not do itself."""
    s = s.translate(_UNICODE_MAP)
    s = _unwrap_math(s)
    s = _TEXT_NUMBER_RE.sub(r"\1", s)
    s = _TRAILING_UNIT_BOX_RE.sub("", s)
    s = _THOUSANDS_RE.sub("", s)
    # Stray unescaped dollars (currency, a half math span) would break the $...$ wrapping used for parsing.
    s = re.sub(r"(?<!\\)\$", " ", s)
    s = s.replace("\n", " ").strip()
    s = _strip_trailing_punctuation(s)
    s = re.sub(r"^(?:=|:)\s*", "", s)
    percent = _PERCENT_SUFFIX_RE.search(s)
    if percent:
        s = s[: percent.start()].rstrip() + r"\%"
    s = re.split(r"\\approx(?![A-Za-z])|\\simeq(?![A-Za-z])", s)[-1].strip()  # "2\pi \approx 6.2832"
    s = _SCIENTIFIC_RE.sub(r"\1\\times 10^{\2}", s)
    unit = _TRAILING_WORDS_RE.search(s)
    if unit and not any(w.lower() in _FUNCTION_WORDS for w in unit.group(1).split()):
        s = s[: unit.start(1)].strip()  # "5 dollars", "= 9 eggs": words after a number are a unit
    mixed = _MIXED_NUMBER_RE.match(s)
    if mixed:  # plain-text mixed number "2 1/2"
        sign = "-" if mixed.group(1).startswith("-") else ""
        s = f"{sign}({mixed.group(1).lstrip('+-')}+\\frac{{{mixed.group(2)}}}{{{mixed.group(3)}}})"
    return re.sub(r"\s+", " ", s).strip()


def _answer_of(text: str) -> tuple[str, bool]:
    """(the answer as written, whether it is running text): an explicit answer (boxed, "the answer is"), else
    the whole string, which is running text when it reads as prose."""
    explicit = _last_boxed(text)
    if explicit is None:
        explicit = _statement_answer(text)
    if explicit is not None:
        return explicit, False
    if _looks_like_prose(text):
        return text.strip(), True
    return text, False


def _prepare(text: str) -> tuple[str, bool]:
    """(what to parse, whether it is running text): an explicit answer (boxed, "the answer is") or a bare
    expression is normalised; prose without either goes to math-verify's own extraction untouched."""
    answer, is_text = _answer_of(text)
    return (answer.strip(), True) if is_text else (_normalize_expr(answer), False)


# ==================================================================================================
# Numerals in a base (52_8): decided here, because math-verify reads the subscript as an index and drops it
# ==================================================================================================

# 52_8, 52_{8}, (52)_8, \text{152A}_{11}, 0.0011_{2}, 52 (base 8).  Upper-case letters are digits (A = 10);
# a lower-case letter is a variable (a_{12} is not a numeral).
_BASED_RE = re.compile(
    r"(?P<sign>-?)\(?(?P<digits>[0-9A-Z]+(?:\.[0-9A-Z]+)?)\)?"
    r"(?:_\{?\(?(?P<base>\d{1,2})\)?\}?|\(?(?:in)?base-?(?P<word_base>\d{1,2})\)?)"
)
_PLAIN_NUMERAL_RE = re.compile(r"(?P<sign>-?)(?P<digits>\d+(?:\.\d+)?|\.\d+)")
_TEXT_WRAPPER_RE = re.compile(r"\\(?:text|textrm|textnormal|mathrm|mbox|textbf|mathbf)\s*\{([^{}]*)\}")


def _numeral(written: str, normalized: str) -> tuple[int, str, Fraction] | None:
    """(base, digits without leading/trailing zeros, value) of an answer that is one numeral: in a base when it
    has a subscript (or "base b"), decimal when it is a plain number; None for anything else."""
    compact = _TEXT_WRAPPER_RE.sub(r"\1", _unwrap_math(written.translate(_UNICODE_MAP)))
    compact = re.sub(r"\s+|\\[,;:! ]|~", "", _strip_trailing_punctuation(compact))
    m = _BASED_RE.fullmatch(compact)
    if m is not None:
        base = int(m.group("base") or m.group("word_base"))
    else:
        m = _PLAIN_NUMERAL_RE.fullmatch(normalized)
        base = 10
    if m is None or not 2 <= base <= 36:
        return None
    whole, _, frac = m.group("digits").partition(".")
    try:  # int() refuses a digit that the base does not have (9 in base 8)
        value = Fraction(int(whole or "0", base)) + Fraction(int(frac or "0", base), base ** len(frac))
    except ValueError:
        return None
    digits = (whole.lstrip("0") or "0") + ("." + frac.rstrip("0") if frac.rstrip("0") else "")
    return base, m.group("sign") + digits, -value if m.group("sign") else value


def _numerals_equal(pred: tuple[str, str], gold: tuple[str, str]) -> bool | None:
    """The verdict when either side is a numeral in a base other than 10; None when neither is.

    Two numerals in the same base are equal when their values are.  A numeral in base b (b != 10) never equals
    a decimal number, an expression, or a numeral in another base, unless both readings of the digits agree
    (``5_8`` = ``5``): a bare ``42`` for ``52_8`` (= 42 in decimal) may be base-8 digits written without
    their subscript (``42_8`` = 34), so accepting it would reward a wrong answer as often as a right one."""
    a, b = _numeral(*pred), _numeral(*gold)
    if (a is None or a[0] == 10) and (b is None or b[0] == 10):
        return None
    if a is None or b is None:
        return False
    if a[0] == b[0]:
        return a[2] == b[2]
    return a[1] == b[1] and a[2] == b[2]


_SIMPLE_NUMBER_RE = re.compile(r"[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:/\d+)?")


# Plain words and sentence punctuation only: no digit, operator, bracket, backslash or non-ASCII character.
_PLAIN_WORDS_RE = re.compile(r"[A-Za-z\s.,;:!?'\"]*")


def _has_no_value(s: str) -> bool:
    """True for an answer that no reading can turn into a number: ASCII words without a digit, an operator or a
    function or constant name ("I cannot answer", "N", a truncated echo of the question). Refusals and
    truncations are common answers, and a worker would only parse them to symbols and answer False."""
    if not _PLAIN_WORDS_RE.fullmatch(s):
        return False
    return not any(w.lower() in _FUNCTION_WORDS or w.lower() == "infinity" for w in re.findall(r"[A-Za-z]+", s))


def _simple_value(s: str) -> Fraction | None:
    if not _SIMPLE_NUMBER_RE.fullmatch(s):
        return None
    try:
        return Fraction(s)
    except (ValueError, ZeroDivisionError):
        return None


# ==================================================================================================
# Public entry point
# ==================================================================================================


def math_equal(prediction: str, gold: str, *, timeout_s: float = 5.0) -> bool:
    """True when the model's answer equals the gold answer mathematically.

    ``prediction`` may be a whole response (its last boxed answer or answer statement is used; prose without
    either is read by math-verify's own extraction) or an expression; it may contain ``\\boxed{}``,
    ``$...$``, units and ``%``.  ``gold`` is read the same way.  See the module docstring for the semantics.
    ``timeout_s`` bounds the comparison (see the module docstring): past it the answer is False.  Safe to call
    from any thread and from inside an event loop; never raises for bad input (raises ImportError if
    math-verify is not installed).
    """
    if not isinstance(prediction, str) or not isinstance(gold, str):
        return False
    if not timeout_s > 0:
        raise ValueError("timeout_s must be positive")
    pred_answer, pred_is_text = _answer_of(prediction)
    gold_answer, gold_is_text = _answer_of(gold)
    pred_expr = pred_answer.strip() if pred_is_text else _normalize_expr(pred_answer)
    gold_expr = gold_answer.strip() if gold_is_text else _normalize_expr(gold_answer)
    if not pred_expr or not gold_expr:
        return False
    if not pred_is_text and not gold_is_text:
        by_numeral = _numerals_equal((pred_answer, pred_expr), (gold_answer, gold_expr))
        if by_numeral is not None:
            return by_numeral
    if pred_expr == gold_expr:
        return True
    pred_value, gold_value = _simple_value(pred_expr), _simple_value(gold_expr)
    if pred_value is not None and pred_value == gold_value:
        return True
    if gold_value is not None and _has_no_value(pred_expr):
        return False  # decided here: starting a SymPy worker (~0.5 s of CPU) cannot change this verdict
    from tianping.scoring.math_workers import _get_pool

    return _get_pool().compare((pred_expr, pred_is_text), (gold_expr, gold_is_text), timeout_s)


def shutdown_math_workers() -> None:
    """Stop the worker processes (they start again on the next comparison)."""
    from tianping.scoring import math_workers

    math_workers.shutdown_math_workers()
