"""Answer extraction: the final number of a math response (multiple-choice letters: :mod:`.choice`).

A benchmark score is only as good as the extractor behind it: a model that computed 18 but wrote
"She makes **$18.00** a day." must not be marked wrong because it did not end with ``#### 18``.
These functions are pure (stdlib only, no state) so that a stored response can be re-scored at any
time and give the same result.

Relation to lm-evaluation-harness (``lm_eval/tasks/gsm8k/gsm8k.yaml``), whose two GSM8K filters are

* ``strict-match``: regex ``#### (\\-?[0-9\\.\\,]+)``, first match, then ``,`` ``$`` and a trailing
  ``.`` are ignored when compared with the gold string;
* ``flexible-extract``: the *last* match of ``(-?[$0-9.,]{2,})|(-?[0-9]+)`` anywhere in the text.

Where we deliberately differ, and why (we want a more robust, still predictable extractor):

* ``####`` is honoured first and, like strict-match, its *first* occurrence wins (what follows it is
  usually a hallucinated next few-shot question).  We also accept ``####42``, ``#### $42`` and
  ``#### **42**``, which strict-match rejects, and skip markdown headings such as ``#### Step 1``
  or ``#### 1. Eggs``, which strict-match would wrongly take as the answer.
* Numbers are compared by value, not as strings: ``18.00`` == ``18``, ``1,234`` == ``1234``,
  ``0.50`` == ``.5``.  lm-eval would count ``18.00`` against gold ``18`` as wrong.
* Before falling back to "the last number" we look for explicit answer statements (``The answer
  is``, ``Answer:``, ``答案是``, ``\\boxed{}``, a bold number in the final line); flexible-extract
  has no notion of them and so returns e.g. a verification step written after the answer.
* Our fallback tokeniser knows decimals, thousands separators, fractions, percentages and
  currency, strips calculator annotations ``<<a*b=c>>``, ``(step 3)``-style references and list
  numbering, and prefers the result after ``=`` in the last sentence.  flexible-extract's regex
  happily returns ``3.`` from "see step 3." or a punctuation-only fragment such as ``..``.

Numeric conventions the caller must know (see :func:`normalize_number`): percent signs, currency and
units are dropped (``50%`` -> ``50``); fractions are exact: a value with a terminating decimal
expansion is written as a decimal (``3/4`` -> ``0.75``), any other as a reduced ``p/q``
(``2/6`` -> ``1/3``).  Every rational number therefore has exactly one canonical string, so string
equality of normalised answers equals numeric equality.  A whole number right before a LaTeX fraction is
a mixed number (``3\\frac{1}{2}`` -> ``3.5``, ``-2\\dfrac14`` -> ``-2.25``), as math-verify reads it;
``2\\cdot\\frac12`` is a product.  Number words ("eighteen", "十八"),
spaces as thousands separators (``1 234``) and a decimal comma (``3,5``) are not understood.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from itertools import islice

from tianping.scoring.keyword_scan import matches_at_words

__all__ = ["extract_choice", "extract_final_number", "normalize_number", "numbers_equal", "prepare_text"]

# --------------------------------------------------------------------------------------------------
# Text preparation shared by both extractors
# --------------------------------------------------------------------------------------------------

# Characters that NFKC would turn into something misleading, mapped first: "3½" must become the
# mixed number "3 1/2" (NFKC gives "31⁄2"), "10²" must not become "102", and a full-width comma
# between digits is a Chinese list separator, not a thousands separator.
_VULGAR = {
    "½": "1/2", "⅓": "1/3", "⅔": "2/3", "¼": "1/4", "¾": "3/4", "⅕": "1/5", "⅖": "2/5",
    "⅗": "3/5", "⅘": "4/5", "⅙": "1/6", "⅚": "5/6", "⅛": "1/8", "⅜": "3/8", "⅝": "5/8", "⅞": "7/8",
}  # fmt: skip
_PRE_NFKC = str.maketrans(
    {
        **{k: " " + v for k, v in _VULGAR.items()},
        **{sup: "^" + str(i) for i, sup in enumerate("⁰¹²³⁴⁵⁶⁷⁸⁹")},
        "，": ", ",
        "\u2212": "-",  # MINUS SIGN
        "\u2044": "/",  # FRACTION SLASH
    }
)


_PRE_NFKC_MAP = {chr(k): v for k, v in _PRE_NFKC.items()}
_PRE_NFKC_CHARS = re.compile("[" + re.escape("".join(_PRE_NFKC_MAP)) + "]")


def _prep(text: str) -> str:
    """NFKC-normalise so full-width digits, letters and punctuation (４２, Ｂ, ：, （）) look ASCII."""
    if text.isascii():  # _PRE_NFKC maps only non-ASCII characters and NFKC leaves ASCII as it is
        return text
    # str.translate looks up every character in the table (tens of microseconds for a short answer); a
    # character-class scan finds the few that are mapped at C speed
    return unicodedata.normalize("NFKC", _PRE_NFKC_CHARS.sub(_pre_nfkc, text))


def _pre_nfkc(m: re.Match[str]) -> str:
    return _PRE_NFKC_MAP[m.group()]


_BOX_OPEN = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BRACE = re.compile(r"[{}]")


def _boxed_spans(text: str) -> list[tuple[int, str]]:
    """(start, content) of every ``\\boxed{...}`` / ``\\fbox{...}``, braces balanced (``\\frac{1}{2}``)."""
    if "box" not in text:  # both markers contain it: the common answer needs no scan
        return []
    opens = [(m.start(), m.end()) for m in _BOX_OPEN.finditer(text)]
    if not opens:
        return []
    # Match all braces in one pass (a stack), so unclosed boxes cannot make this quadratic.
    closing: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACE.finditer(text):
        if m.group() == "{":
            stack.append(m.start())
        elif stack:
            closing[stack.pop()] = m.start()
    return [(start, text[end : closing[end - 1]]) for start, end in opens if end - 1 in closing]


# A whole number written right before a fraction of whole numbers is a mixed number, as in MATH's answers and
# as math-verify reads it: 3\frac{1}{2} = 3.5 (without this rule the digits run together: "31/2").  It must
# start a number (not "x^2\frac12", "0.5\frac12"); "2\cdot\frac12" and "2\times\frac12" are products.
_MIXED_LATEX = re.compile(
    r"(?<![0-9A-Za-z_.^/])([0-9]{1,30})(?:\s|\\[,;: ]|~)*\\[dt]?frac\s*"
    r"(?:\{\s*([0-9]{1,30})\s*\}|([0-9]))\s*(?:\{\s*([0-9]{1,30})\s*\}|([0-9]))"
)


def _mixed_number(m: re.Match[str]) -> str:
    whole, num, den = int(m.group(1)), int(m.group(2) or m.group(3)), int(m.group(4) or m.group(5))
    if den == 0:
        return m.group()
    return _canonical(whole + Fraction(num, den))  # the sign before it, if any, applies to the whole


_LATEX_SUBS: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (_MIXED_LATEX, _mixed_number),
    (re.compile(r"\\[dt]?frac\s*\{\s*(-?[0-9.,]+)\s*\}\s*\{\s*(-?[0-9.,]+)\s*\}"), r"\1/\2"),
    (re.compile(r"\\[dt]?frac\s*([0-9])\s*([0-9])"), r"\1/\2"),
    (re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}"), r" \1 "),
    (re.compile(r"\\(?:boxed|fbox)\b"), " "),
    (re.compile(r"\\(?:left|right|displaystyle)\b"), ""),
    (re.compile(r"\\(?:times|cdot|ast)\b"), " × "),
    (re.compile(r"\\div\b"), " ÷ "),
    (re.compile(r"\\(?:approx|sim)\b"), " ≈ "),
    (re.compile(r"\\%"), "%"),
    (re.compile(r"\{,\}"), ","),
    (re.compile(r"(?<=[0-9])\\,(?=[0-9]{3}(?![0-9]))"), ","),
    (re.compile(r"\\[,;:! ]|\\q?quad\b"), " "),
    (re.compile(r"\^\{([^{}]*)\}"), r"^\1"),
    (re.compile(r"\\[()\[\]]"), " "),
    (re.compile(r"\\\$"), "$"),
    (re.compile(r"<<[^<>]*>>"), ""),  # GSM8K calculator annotations: 9*2=<<9*2=18>>18
]


# What each rewrite above cannot match without: a pass is skipped when the text, as it stands at that step,
# lacks it (so the result is the same, in the same order). No rewrite puts a backslash into the text, so plain
# text skips every LaTeX pass.
_LATEX_NEEDS = ["frac", "frac", "frac", *["\\"] * 7, "{,}", "\\", "\\", "^{", "\\", "\\", "<<"]
assert len(_LATEX_NEEDS) == len(_LATEX_SUBS)
_LATEX_STEPS = list(zip(_LATEX_NEEDS, _LATEX_SUBS, strict=True))


def _delatex(text: str) -> str:
    """Reduce the LaTeX and markup that models wrap around numbers to plain text."""
    for needed, (pattern, repl) in _LATEX_STEPS:
        if needed in text:
            text = pattern.sub(repl, text)
    return text


# --------------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------------

# One number token in running text.  The sign is only a sign when it is not subtraction ("16-3"),
# digits glued to letters ("x2", "H2O", "m^2") are not quantities, and ordinals ("3rd") are marked
# so that the fallback can pass over labels like "in the 3rd round" (but still read "7-1=6th place").
_TOKEN = re.compile(
    r"""
    (?P<neg>(?<![A-Za-z0-9_)\]}])-)?
    (?:(?P<cur>[$¥£€]\s?)(?P<neg2>-)?)?
    (?<![A-Za-z0-9_.^/])
    (?P<body>
        [0-9]+(?:\.[0-9]+)?/[0-9]+(?:\.[0-9]+)?(?![0-9/])     # fraction 3/4 (a date 3/4/2023 is not)
      | [0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?              # 1,234,567.89
      | [0-9]+(?:\.[0-9]+)?                                 # 42, 3.50
      | \.[0-9]+                                            # .5
    )(?![0-9])
    (?P<ord>(?:st|nd|rd|th)\b)?
    (?P<pct>\s?%)?
    """,
    re.VERBOSE,
)


class _Tok:
    """A number found in text: where it is and its exact value."""

    __slots__ = ("start", "end", "value", "ordinal")

    def __init__(self, start: int, end: int, value: Fraction, ordinal: bool = False) -> None:
        self.start, self.end, self.value, self.ordinal = start, end, value, ordinal


def _body_value(body: str) -> Fraction | None:
    try:
        if "/" in body:
            num, den = body.split("/")
            den_v = Fraction(den)
            return None if den_v == 0 else Fraction(num) / den_v
        digits = body.replace(",", "")
        if digits.isdigit():  # ASCII digits only (the token patterns admit no others): the common case
            return Fraction(int(digits))
        return Fraction(digits)
    except (ValueError, ZeroDivisionError):
        return None


def _tokens(text: str) -> list[_Tok]:
    """All numbers of ``text`` in order; "2 1/2" (whole number + proper fraction) is merged into 2.5."""
    toks: list[_Tok] = []
    for m in _TOKEN.finditer(text):
        value = _body_value(m.group("body"))
        if value is None:
            continue
        if m.group("neg") or m.group("neg2"):
            value = -value
        prev = toks[-1] if toks else None
        if (
            prev is not None
            and "/" in m.group("body")
            and not (m.group("neg") or m.group("cur"))
            and text[prev.end : m.start()] == " "
            and prev.value.denominator == 1
            and 0 < value < 1
            and not text[prev.start : prev.end].endswith("%")
        ):
            sign = -1 if prev.value < 0 else 1
            toks[-1] = _Tok(prev.start, m.end(), prev.value + sign * value)
            continue
        toks.append(_Tok(m.start(), m.end(), value, bool(m.group("ord"))))
    return toks


def _canonical(value: Fraction) -> str:
    """The one string for a rational: a plain decimal when it terminates, else reduced ``p/q``."""
    den = value.denominator
    rest, twos, fives = den, 0, 0
    while rest % 2 == 0:
        rest, twos = rest // 2, twos + 1
    while rest % 5 == 0:
        rest, fives = rest // 5, fives + 1
    if rest != 1:
        return f"{value.numerator}/{den}"
    places = max(twos, fives)
    sign = "-" if value < 0 else ""
    scaled = str(abs(value.numerator) * 10**places // den)
    if places == 0:
        return sign + scaled
    scaled = scaled.rjust(places + 1, "0")
    whole, frac = scaled[:-places], scaled[-places:].rstrip("0")
    return f"{sign}{whole}.{frac}" if frac else sign + whole


_FULL_NUMBER = re.compile(
    r"""
    ^(?:(?P<sign>[-+])\s*)?
    (?:(?:US\$|USD|RMB|CNY|[$¥£€])\s*)?
    (?:(?P<sign2>[-+])\s*)?
    (?:
        (?P<mixed>[0-9]+)\s+(?P<mnum>[0-9]+)/(?P<mden>[0-9]+)
      | (?P<sci>[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]{1,4})
      | (?P<body>
            [0-9]+(?:\.[0-9]+)?/[0-9]+(?:\.[0-9]+)?
          | [0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?
          | [0-9]+\.?[0-9]*
          | \.[0-9]+
        )
    )
    (?P<rest>[^0-9]*)$
    """,
    re.VERBOSE,
)
_WRAPPERS = [("**", "**"), ("__", "__"), ("*", "*"), ("`", "`"), ("$", "$"), ("(", ")"), ("[", "]"),
             ("{", "}"), ('"', '"'), ("“", "”"), ("'", "'")]  # fmt: skip


def _number_value(text: str) -> Fraction | None:
    """The value of a string that *is* one number (with currency, units, markup around it)."""
    boxed = _boxed_spans(text)
    if boxed:
        text = boxed[-1][1]
    s = text.strip()
    changed = True
    while changed and s:
        changed = False
        for left, right in _WRAPPERS:
            if len(s) > len(left) + len(right) - 1 and s.startswith(left) and s.endswith(right):
                s, changed = s[len(left) : len(s) - len(right)].strip(), True
        s2 = s.rstrip(".,;:!?。、 ")
        if s2 != s:
            s, changed = s2, True
    s = _delatex(s).strip()
    m = _FULL_NUMBER.match(s)
    if not m:
        return None
    # ``rest`` (units, punctuation: "dollars", "元", "%") holds no digit, so "1,23", "3.5.1" and
    # "3 and 5" are not single numbers.
    try:
        if m.group("mixed") is not None:
            num, den = int(m.group("mnum")), int(m.group("mden"))
            if den == 0 or num >= den:
                return None
            value = int(m.group("mixed")) + Fraction(num, den)
        elif m.group("sci") is not None:
            value = Fraction(m.group("sci"))
        else:
            body = m.group("body").rstrip(".")
            parsed = _body_value(body)
            if parsed is None:
                return None
            value = parsed
    except (ValueError, ZeroDivisionError):
        return None
    if "-" in (m.group("sign"), m.group("sign2")):
        value = -value
    return value


def normalize_number(text: str) -> str | None:
    """Canonical string of a number, so that answers written differently compare equal as strings.

    Accepts one number with the decoration models put around it: ``$``/``¥``/``€``/``£``, thousands
    commas (``1,234,567``), a trailing period or unit (``42.``, ``42 dollars``, ``18元``), ``%``,
    markdown/LaTeX wrappers (``**42**``, ``$42$``, ``\\boxed{42}``, ``\\frac{3}{4}``), ``.5``,
    fractions ``a/b``, mixed numbers ``2 1/2`` and scientific notation ``1.5e3``.  Returns None for
    anything else, including text with two numbers or leading words ("about 5", "x = 5").

    Output: ``'1,234'`` -> ``'1234'``, ``'18.00'`` -> ``'18'``, ``'-0.50'`` -> ``'-0.5'``,
    ``'$42'`` -> ``'42'``, ``'50%'`` -> ``'50'``, ``'3/4'`` -> ``'0.75'``, ``'2/6'`` -> ``'1/3'``,
    ``'-0'`` -> ``'0'``.  Fractions stay exact: decimal when the expansion terminates, reduced
    ``p/q`` otherwise, so each value has exactly one canonical string.
    """
    if not isinstance(text, str):
        return None
    value = _number_value(_prep(text))
    return None if value is None else _canonical(value)


def numbers_equal(a: str, b: str) -> bool:
    """Numeric equality of two answers, exact (Fraction based): no float rounding to hide errors.

    Inputs are normalised first, so raw strings work too (``'1,234.0'`` equals ``'1234'``,
    ``'0.75'`` equals ``'3/4'``); ``'1/3'`` does not equal ``'0.333'``.  None or a non-number on
    either side is never equal to anything.
    """
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    va, vb = _number_value(_prep(a)), _number_value(_prep(b))
    return va is not None and vb is not None and va == vb


# Decoration that may stand between an answer marker and its number ("Answer: **$ 18**").
_LEAD_DECOR = re.compile(r"(?:[\s*_`:=(\[{\"'“”‘’~≈#$]|approximately|approx\.?|about|roughly|around|约|大约)*", re.I)
# A sentence ends at a newline, CJK/!?/; punctuation, or a period that is not a decimal point.
_SENTENCE_END = re.compile(r"[\n。！？!?;；]|\.(?![0-9])")


def _strict_value(fragment: str) -> Fraction | None:
    """The number a fragment *starts* with (after decoration), or None when words come first."""
    fragment = _delatex(fragment)
    toks = _tokens(fragment)
    if not toks or not _LEAD_DECOR.fullmatch(fragment[: toks[0].start]):
        return None
    return toks[0].value


_WINDOW_LEAD = re.compile(r"[\s*_:#>]*")


def _window_end(text: str, start: int) -> tuple[int, int]:
    """Bounds of the rest of the sentence that begins at ``start`` (skipping blank lines and markup)."""
    lead = _WINDOW_LEAD.match(text, start)
    begin = lead.end() if lead else start
    m = _SENTENCE_END.search(text, begin, begin + 300)
    return begin, m.start() if m else min(len(text), begin + 300)


def _window(text: str, start: int) -> str:
    begin, end = _window_end(text, start)
    return text[begin:end]


def _strict_answer(text: str, start: int) -> Fraction | None:
    """The answer after "Answer:" / "答案：": a number right there.  "Answer: 16 - 3 - 4 = 9 eggs." is
    the first line of the working rather than the answer, unless nothing numeric follows it."""
    begin, end = _window_end(text, start)
    window = text[begin:end]
    value = _strict_value(window)
    if value is None or "=" not in window:
        return value
    if _HAS_DIGIT.search(text, end):
        return None
    return _lenient_value(window)


_NEGATED = re.compile(r"\s*(?:not\b|n't\b|不是)")


def _lenient_value(window: str) -> Fraction | None:
    """The answer in a sentence that follows "the answer is": the result after ``=`` if there is one,
    else its first number ("the answer is 18 dollars, 9 per trip" -> 18)."""
    if _NEGATED.match(window):
        return None
    window = _delatex(window)
    toks = _tokens(window)
    if not toks:
        return None
    eq = max(window.rfind("="), window.rfind("≈"))
    after = [t for t in toks if t.start > eq] if eq >= 0 else []
    return (after or toks)[0].value


def _lenient_boxed(content: str) -> Fraction | None:
    value = _number_value(content)
    if value is None and ("=" in content or ":" in content):
        value = _number_value(_EQ_OR_COLON.split(content)[-1])
    if value is None:
        value = _lenient_value(content)
    return value


# Explicit answer statements.  "strict" ones (a colon, a heading) need the number right after them,
# because "Answer: Janet's ducks lay 16 eggs..." opens a whole explanation; "lenient" ones ("the
# answer is ...") take the first number of their sentence.
_ANSWER_STRICT = re.compile(
    r"(?i:\b(?:final\s+)?answer\b[\s*_]*(?:\([^()\n]{0,30}\)[\s*_]*)?[:=])"
    r"|(?i:\bfinal\s+answer\b)"
    r"|答案\s*[:=]"
    r"|(?<![问題题解])答\s*[:=]"
)
_ANSWER_LENIENT = re.compile(
    r"(?i:\b(?:final\s+)?answer[\s*_]*(?:is|would\s+be|should\s+be|will\s+be|must\s+be)\b(?:\s*:)?)"
    r"|(?:最终)?答案\s*(?:应该是|应当是|应该为|应为|应是|就是|是|为|為)(?:\s*:)?"
)
_HAS_DIGIT = re.compile(r"[0-9]")


def _statements(pattern: re.Pattern[str], t: str) -> Iterator[re.Match[str]]:
    """The matches of ``_ANSWER_STRICT`` / ``_ANSWER_LENIENT``: each begins at "final", "answer", 答 or 最终."""
    return matches_at_words(pattern, t, ("answer", "final"), exact=("答", "最终"), needs=("answer", "答"))


_LAST_DIGIT = re.compile(r"[0-9](?=[^0-9]*\Z)")
_EQ_OR_COLON = re.compile(r"[=:]")
_BOLD = re.compile(r"\*\*([^*\n]+?)\*\*|__([^_\n]+?)__")

# Fallback noise: step labels and references, footnote markers, ordered-list numbering.
_NOISE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\([^()\n]*?\b(?:steps?|eqs?|eqn|equations?|lines?|notes?|footnotes?|parts?)\.?\s*[0-9]+[^()\n]*\)",
                re.I), " "),
    (re.compile(r"\b(?:steps?|eqs?\.?|eqn|equations?|lines?|footnotes?|parts?|cases?|questions?|problems?)"
                r"\s*#?[0-9]+(?:\.[0-9]+)?", re.I), " "),
    (re.compile(r"第\s*[0-9]+\s*[步题问]"), " "),
    (re.compile(r"\[\^?[0-9]+\]"), " "),
    (re.compile(r"(?m)^[ \t>#*-]*[0-9]{1,2}[.)、][ \t]+(?=\S)"), " "),
]  # fmt: skip
_CONCLUSION = re.compile(
    r"(?i:\b(?:so|thus|therefore|hence|total|totals|totaling|altogether|overall|finally|in\s+all)\b)"
    r"|所以|因此|总共|一共|共计|合计|总计|故"
)
_OPERATOR = re.compile(r"\s*[-+*/×÷xX]\s*")


_MAX_SENTENCE = 2000


def _last(toks: list[_Tok]) -> _Tok:
    """The last token that is not an ordinal label ("the 3rd round"), else the last one."""
    plain = [t for t in toks if not t.ordinal]
    return (plain or toks)[-1]


def _sentence_value(sentence: str) -> Fraction | None:
    """The answer of the last sentence that mentions numbers (see the module docstring)."""
    # an answer sentence is short; an unbroken flood of digits and commas must not cost a Fraction each
    toks = _tokens(sentence[-_MAX_SENTENCE:])
    if not toks:
        return None
    eq = max(sentence.rfind("="), sentence.rfind("≈"))
    after = [t for t in toks if t.start > eq] if eq >= 0 else []
    if not after:
        return _last(toks).value
    before = [t for t in toks if t.end <= eq]
    first = after[0]
    if len(after) > 1 and _OPERATOR.fullmatch(sentence[first.end : after[1].start]):
        # "18 = 9 * 2": the right side is an expression, so the result is what stands left of '='.
        return _last(before or toks).value
    later = after[1:]
    if later and _CONCLUSION.search(sentence, first.end, later[-1].start):
        # "9 * 2 = 18 and 3 * 2 = 6, so 24 in total" -> the concluded 24, not the 6.
        return _last(later).value
    # "So she makes 9 * 2 = 18 dollars per day for 7 days" -> 18: trailing numbers are qualifiers.
    return first.value


def _fallback_value(text: str) -> Fraction | None:
    text = _delatex(text)
    for pattern, repl in _NOISE:
        text = pattern.sub(repl, text)
    pieces = _SENTENCE_END.split(text)
    for piece in reversed(pieces):
        value = _sentence_value(piece)
        if value is not None:
            return value
    return None


_MARKER = re.compile("####")
_HEADING_NUMBER = re.compile(r"\s*[0-9]{1,2}[.)]\s+[^\s0-9]")


def _gsm8k_marker_value(text: str) -> Fraction | None:
    # At most 100 markers are tried, so that a pathological response cannot make this slow.
    if "####" not in text:
        return None
    for m in islice(_MARKER.finditer(text), 100):
        rest = text[m.end() : m.end() + 200].split("\n", 1)[0]
        # A markdown heading "#### 1. Eggs" or "#### Step 1" is not the GSM8K answer marker.
        if _HEADING_NUMBER.match(rest):
            continue
        value = _strict_value(rest)
        if value is not None:
            return value
    return None


def extract_final_number(text: str) -> str | None:
    """The final numeric answer of a math word-problem response (GSM8K), normalised, or None.

    Priority, highest first (the first rule that yields a number decides):

    1. the GSM8K marker ``#### 18`` (first occurrence; also how gold answers are read);
    2. the *last* explicit answer statement: ``\\boxed{...}`` (nested braces and ``\\frac`` ok),
       ``The (final) answer is ...``, ``Answer: ...``, ``答案是/为 ...``, ``答案：``, ``答：``, or a
       bold number in the last line that has digits (``So she makes **$18** a day.``).  After a
       colon the number must come first ("Answer: Janet has 16 eggs..." opens an explanation and
       is ignored), and "Answer: 16 - 3 - 4 = 9. ..." counts only when nothing numeric follows;
    3. the last sentence that contains a number: the result after its last ``=``, unless a
       conclusion word ("so", "in total", "所以"...) introduces a later number; without ``=``, the
       last number.  Step references ``(step 3)``, list numbering, ordinals and calculator
       annotations ``<<9*2=18>>`` are ignored.

    The result is in :func:`normalize_number` form (``'18'``, ``'0.5'``, ``'1/3'``).
    """
    if not isinstance(text, str) or not text.strip():
        return None
    t = _prep(text)

    value = _gsm8k_marker_value(t)
    if value is not None:
        return _canonical(value)

    candidates: list[tuple[int, Fraction]] = []
    for start, content in _boxed_spans(t):
        v = _lenient_boxed(content)
        if v is not None:
            candidates.append((start, v))
    for m in _statements(_ANSWER_STRICT, t):
        v = _strict_answer(t, m.end())
        if v is not None:
            candidates.append((m.start(), v))
    for m in _statements(_ANSWER_LENIENT, t):
        v = _lenient_value(_window(t, m.end()))
        if v is not None:
            candidates.append((m.start(), v))
    # the last line that has a digit is the line of the last digit
    offset, last_line = 0, ""
    digit = _LAST_DIGIT.search(t)
    if digit is not None:
        offset = t.rfind("\n", 0, digit.start()) + 1
        end = t.find("\n", digit.start())
        last_line = t[offset : end if end >= 0 else len(t)]
    if last_line:
        for m in _BOLD.finditer(last_line):
            content = m.group(1) or m.group(2)
            v = _number_value(content)
            if v is None and ("=" in content or ":" in content):
                v = _number_value(_EQ_OR_COLON.split(content)[-1])
            if v is not None:
                candidates.append((offset + m.start(), v))
    if candidates:
        return _canonical(max(candidates, key=lambda c: c[0])[1])

    value = _fallback_value(t)
    return None if value is None else _canonical(value)


prepare_text = _prep


def extract_choice(text: str, choices: Sequence[str], letters: str | Sequence[str] | None = None) -> str | None:
    """The chosen option label of a multiple-choice response (A, B, ... as many as ``choices``, unless ``letters``
    names the labels); see :mod:`tianping.scoring.choice`."""
    from tianping.scoring.choice import extract_choice as extract

    return extract(text, choices, letters)
