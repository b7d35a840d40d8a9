"""Multiple-choice answer extraction: the option label a response chose, in English or Chinese.

Pure and stdlib-only like :mod:`tianping.scoring.extract`, whose text preparation it shares, so a
stored response can be re-scored at any time with the same result.

Option labels
-------------
A sample's options are its ``choices`` (texts, in order).  The labels they are shown with are the
sample's ``letters`` field when the loader sets one (a string such as ``"ABCDE"`` or a list such as
``["1", "2", "3"]``, in the order of ``choices``), else ``A``, ``B``, ``C``, ... by position: see
:func:`option_labels`.  A label set is either single upper-case letters ``A``-``Z`` or numbers
(``1``, ``2``, ... ``10``); the extractor returns the label as written there, so a numbered
benchmark's target is the number (``"3"``), a lettered one's the letter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from string import ascii_uppercase
from typing import Any

from tianping.scoring.extract import prepare_text as _prep

__all__ = ["LETTERS", "check_labels", "extract_choice", "option_labels"]

LETTERS = ascii_uppercase
"""Option letters by position: the labels of a sample that names none."""

# --------------------------------------------------------------------------------------------------
# Multiple choice
# --------------------------------------------------------------------------------------------------

_ADVERB = r"(?:(?:therefore|thus|clearly|definitely|probably|likely|most\s+likely|indeed|actually)(?:\s*,)?\s+)?"
_QUALIFIED = r"(?:correct|right|best|final|proper|most\s+appropriate|appropriate|true)"
# (regex, kind, may be followed by an option's text instead of its letter)
_LEAD_PHRASES: list[tuple[re.Pattern[str], str, bool]] = [
    (re.compile(rf"(?i:\b(?:{_QUALIFIED}\s+(?:answer|option|choice)|answer)s?[\s*_]*"
                rf"(?:is|would\s+be|should\s+be|must\s+be|will\s+be|=)(?:\s*:)?[\s*_]*{_ADVERB}"
                rf"(?:(?:option|choice|letter)\b\s*)?)"), "is", True),
    (re.compile(rf"(?i:\b(?:{_QUALIFIED}\s+)?answer(?:\s+(?:choice|option))?[\s*_]*[:=][\s*_]*"
                rf"(?:(?:option|choice)\b\s*)?)"), "colon", True),
    (re.compile(r"(?i:\b(?:i(?:'d|\s+would|\s+will|\s+should)?\s+)?(?:choose|pick|select|go\s+with)\s+"
                r"(?:(?:option|choice|answer)\b\s*)?)"), "choose", True),
    (re.compile(r"(?i:\b(?:it'?s|it\s+is|that'?s|that\s+is|so|thus|therefore|hence)(?:\s*,)?\s+"
                r"(?:(?:option|choice)\b\s*)?)"), "weak", False),
    (re.compile(r"(?:最终)?答案(?:\s*[】\]])?(?:\s*(?:应该|应当|应|可能|只能|就|才))?(?:\s*(?:是|为|為|选|選))?"
                r"(?:\s*[:=])?(?:\s*选项)?"),
     "zh", True),
    (re.compile(r"(?<!不)(?<!不应)(?<!不能)(?:选择|选|選)(?!项)(?:\s*(?:答案|选项))?"), "zh", False),
    (re.compile(r"正确的?(?:选项|答案)?(?:\s*(?:应该|应))?\s*(?:是|为|為|:)(?:\s*:)?(?:\s*选项)?"),
     "zh", True),
    (re.compile(r"(?:应该|应|所以|因此|故|即)\s*(?:是|为|為)(?:\s*选项)?"), "zh", False),
]  # fmt: skip
# Letter followed by a verdict: "B is correct", "(B) is the right answer", "B is the answer", "B项正确".
_TRAIL_VERDICT = re.compile(
    r"(?i:\s*(?:is|would\s+be|seems)\s+(?:the\s+)?(?:correct|right|best|most\s+appropriate|answer)\b)"
    r"|(?:\s*(?:选项|项))?(?:\s*(?:是|为))?\s*(?:正确|对(?![于应比待])|符合题意)(?!吗|与否)"
)
# After a letter: words that make "so B ..." a remark about B rather than a choice of it.
_WEAK_REJECT_WORDS = (
    r"(?i:\s*(?:is|was|are|were|and|or|has|had|would|could|can|cannot|can't|seems|looks|does|doesn't|"
    r"isn't|wasn't|not|nor|vs\.?|versus)\b)|\s*(?:和|与|或|都|也|不|错)"
)
_WORD_AFTER = re.compile(r"\s+[a-z]")
# A bare option *number* is only an answer when the sentence stops or explains there: numbers are
# everywhere in reasoning ("the answer is 3 apples", "so 2 + 2 = 4").
_NUMBER_END = re.compile(r"[ \t]*(?:$|[\n.。!！?？,，;；:：)）\]】]|[-–—][ \t]|(?i:because|since|as|which)\b)")
# "The answer is not A." / "It could be A or B." end in a letter that is not a choice.
_NEGATED_TAIL = re.compile(
    r"(?i:(?:\bnot|n't|\bnever|\bexcept|\bexcluding|\bor|\band|\bnor|\bvs\.?|\bversus)(?:\s*[(\[])?\s*$)"
    r"|(?:不是|不选|除了|排除|或|和|还是|与)(?:\s*[(\[])?\s*$"
)
_NUMBER_LABEL = re.compile(r"0|[1-9][0-9]?")


def check_labels(labels: Sequence[str]) -> tuple[str, ...]:
    """``labels`` as a tuple, or ValueError unless they are distinct single upper-case letters ``A``-``Z``
    or distinct numbers ``0``-``99`` (one kind, not a mix)."""
    out = tuple(labels)
    letters = all(isinstance(x, str) and len(x) == 1 and x in LETTERS for x in out)
    numbers = all(isinstance(x, str) and _NUMBER_LABEL.fullmatch(x) for x in out)
    if not (letters or numbers):
        raise ValueError(f"option labels must be letters A-Z or numbers 1, 2, ..., got {list(out)}")
    if len(set(out)) != len(out):
        raise ValueError(f"option labels repeat: {list(out)}")
    return out


def _checked_labels(labels: tuple[str, ...]) -> tuple[str, ...]:
    """``check_labels``, remembered for the label sets already seen (one or two per benchmark, asked per answer)."""
    try:
        return _checked_once(labels)
    except TypeError:  # an unhashable label: check_labels refuses it, with its own message
        return check_labels(labels)


_checked_once = lru_cache(maxsize=256)(check_labels)


def option_labels(fields: Mapping[str, Any]) -> tuple[str, ...]:
    """The labels a sample's options are shown with: its ``letters`` field (a string of letters or a list
    of labels, in the order of ``choices``) when the loader set one, else ``A``, ``B``, ... by position
    for as many options as ``choices`` has (at most 26).  ValueError for labels :func:`check_labels`
    refuses."""
    given = fields.get("letters")
    if given is None:
        return tuple(LETTERS[: len(fields.get("choices") or ())])
    return check_labels(tuple(given))


class _Regexes:
    """The label-dependent regexes of one label set (built once per set, see ``_letter_regexes``)."""

    def __init__(self, labels: tuple[str, ...]):
        self.numbered = labels[0].isdigit()
        if self.numbered:
            # longest first so that "10" is not read as "1"; a label is never part of a longer number
            # ("3.5", "3,000", "3/4", "3:30")
            alts = "|".join(sorted(labels, key=lambda x: (-len(x), x)))
            lab = rf"(?:{alts})(?![0-9]|[.,/:][0-9])"
            before = r"(?<![.,/:][0-9])(?<![=+*/×÷^-])(?<![=+*/×÷^-]\s)"  # "0.3", "x = 3" are not labels
            list_item = "[0-9]"
            boxed_end = r"(?=\s*(?:\)\s*)?\})"  # \boxed{3} but not \boxed{3+4}
        else:
            lab = "[" + "".join(re.escape(c) for c in labels) + "]"
            before, list_item, boxed_end = "", "[A-Z]", ""
        # Written so that no two ``\s*`` can share a run of spaces: that keeps them linear on long
        # whitespace or markup runs instead of cubic.  Every pattern reads one label at a fixed
        # place, so the number of labels (a class of 26 letters, an alternation of numbers) only
        # changes a constant factor.
        self.wrapped = re.compile(
            rf"\s*(?:(?P<open>[(\[【{{<「『])\s*)?(?:(?P<b1>\*\*|__|\*)\s*)?(?P<L>{lab})(?![A-Za-z0-9])"
            rf"(?:\s*(?P<b2>\*\*|__|\*))?(?:\s*(?P<close>[)\]】}}>」』]))?"
        )
        self.standalone = re.compile(
            rf"(?<![A-Za-z0-9]){before}(?P<L>{lab})(?![A-Za-z0-9])(?:\s*(?:\*\*|__|\*))?(?:\s*[)\]】}}>」』])?"
        )
        self.bold = re.compile(
            rf"\*\*\s*(?:[(\[]\s*)?(?P<L>{lab})(?![A-Za-z0-9])(?:\s*[)\]])?(?:\s*[.:、。)][^*\n]*|\s*)\*\*"
        )
        self.boxed = re.compile(
            rf"\\boxed\s*\{{\s*(?:\\text(?:bf)?\s*\{{\s*)?(?:\(\s*)?(?P<L>{lab})(?![A-Za-z0-9]){boxed_end}"
        )
        self.marker = re.compile(
            rf"^\s*(?:(?:\*\*|__)\s*)?(?:[(\[【]\s*(?P<L1>{lab})\s*[)\]】]"
            rf"|(?P<L2>{lab})(?=\s*(?:(?:\*\*|__)\s*)?(?:[.:、。)]|$)))"
        )
        # the whole response is one label; only here may a letter be lower case ("b", "(d)")
        one = r"[0-9]+" if self.numbered else "[A-Za-z]"
        self.lone = re.compile(rf"[\s*_\"'`(\[【<]*({one})[\s*_\"'`)\]】>.:。!]*")
        self.last_lone = re.compile(rf"[\s*_\"'`(\[【]*({lab})[\s*_\"'`)\]】.:。!]*")
        self.weak_reject = re.compile(rf"{_WEAK_REJECT_WORDS}|\s*[,，、]\s*{list_item}(?![A-Za-z0-9])")


@lru_cache(maxsize=64)
def _letter_regexes(labels: tuple[str, ...]) -> _Regexes:
    """The regexes of one label set (cached: the set rarely changes within a benchmark)."""
    return _Regexes(labels)


def _norm_text(s: str) -> str:
    return " ".join(_prep(s).casefold().split()).strip(" .。")


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


_ZH_NEGATIONS = frozenset("不非没未无别勿")
"""Characters that turn a Chinese word into its opposite when written before it: 不是, 不对, 没错, 不可能."""


def _negated(haystack: str, i: int, needle: str) -> bool:
    """Chinese has no spaces to mark a word's start, so "是" occurs inside "不是": a negation just before an
    option's Chinese text makes that occurrence the opposite answer, not a mention of the option."""
    return i > 0 and haystack[i - 1] in _ZH_NEGATIONS and "\u4e00" <= needle[0] <= "\u9fff"


def _find_text(haystack: str, needle: str) -> list[tuple[int, int]]:
    """Occurrences of an option's text, not inside a longer word ("4" not in "14", "cat" not in "catch") and
    not negated ("是" not in "不是")."""
    spans, i = [], haystack.find(needle)
    while i >= 0:
        j = i + len(needle)
        before_ok = not (_is_word_char(needle[0]) and i > 0 and _is_word_char(haystack[i - 1]))
        before_ok = before_ok and not _negated(haystack, i, needle)
        after_ok = not (_is_word_char(needle[-1]) and j < len(haystack) and _is_word_char(haystack[j]))
        if before_ok and after_ok:
            spans.append((i, j))
        i = haystack.find(needle, i + 1)
    return spans


def _choice_at(text: str, pos: int, norm_choices: list[str], firsts: frozenset[str]) -> int | None:
    """Index of the option whose text starts at ``pos`` ("The answer is London."), longest first;
    ``firsts``: the first characters of the options."""
    window = text[pos : pos + 200].lstrip(" *_:\"'“‘([【")
    # most statements are followed by a letter or by prose: skip the normalising unless some option
    # can start here (a long response may hold many thousands of statements)
    head = window.lstrip()[:1].casefold()
    if not head or head[0] not in firsts:
        return None
    rest = " ".join(window.casefold().split())  # text is prepped
    best, best_len = None, 0
    for i, c in enumerate(norm_choices):
        if c and rest.startswith(c) and len(c) > best_len:
            j = len(c)
            if j < len(rest) and _is_word_char(c[-1]) and _is_word_char(rest[j]):
                continue
            best, best_len = i, len(c)
    return best


def _inside(short: str, long: str) -> bool:
    return len(long) > len(short) and short in long


def _unique_choice_text(text: str, norm_choices: list[str]) -> int | None:
    """The one option whose text the response mentions; None when none or several do."""
    hay = _norm_text(text)
    found = {i: spans for i, c in enumerate(norm_choices) if c and (spans := _find_text(hay, c))}
    # An option mentioned only inside a longer option's mention ("London" in "London, UK") is not a
    # separate mention.  Only an option whose text lies inside another's can be hidden that way.
    inner = {i for i in found if any(_inside(norm_choices[i], norm_choices[j]) for j in found)}
    free = set(found) - inner
    if len(free) > 1 or not inner:
        return free.pop() if len(free) == 1 else None
    # One sweep over the mentions, by start and longest first, keeps this linear in their number:
    # ``reach[j]`` is how far the mentions of option j that start earlier extend, and a mention is
    # covered when another option's reach is at least as far (or, starting at the same place, further).
    spans = sorted((s, -e, i) for i, sp in found.items() for s, e in sp)
    reach: dict[int, int] = {}
    k = 0
    while k < len(spans):
        start = spans[k][0]
        group = []
        while k < len(spans) and spans[k][0] == start:
            group.append((-spans[k][1], spans[k][2]))
            k += 1
        for end, i in group:
            if i in free:
                continue
            if not (any(j != i and r >= end for j, r in reach.items()) or any(j != i and e > end for e, j in group)):
                free.add(i)
                if len(free) > 1:
                    return None
        for end, i in group:
            reach[i] = max(reach.get(i, 0), end)
    return free.pop() if len(free) == 1 else None


def extract_choice(text: str, choices: Sequence[str], letters: str | Sequence[str] | None = None) -> str | None:
    """The chosen option label in a multiple-choice response (English or Chinese), or None.

    ``letters`` are the option labels in the order of ``choices``: a string of upper-case letters
    (``"ABCDE"``) or a sequence of labels (``["1", "2", "3"]``), letters ``A``-``Z`` or numbers, never
    mixed (ValueError otherwise; :func:`option_labels` reads them from a sample); None: ``A``-``Z``.
    Valid labels are the first ``len(choices)`` of them (all when ``choices`` is empty), so "F" is
    no answer to a five-option question.  Tiers, highest first; within tier 1 the *last* statement
    wins ("The answer is A. Wait, no: the answer is C." -> C):

    1. explicit statements: ``The answer is (B)``, ``Answer: B``, ``the correct option is B``,
       ``I choose B``, ``B is correct``, ``So, B.``, ``\\boxed{B}``, ``答案是 B``, ``答案：B``,
       ``答案为B``, ``正确答案是（B）``, ``选B``, ``选择 B 项``, ``B项正确``, ``所以是B``; an answer
       statement may also name the option's text ("The answer is London.");
    2. a bold label ``**B**`` / ``**B. London**``, if only one label is bold;
    3. the whole response is one label (``B``, ``(b)``: only here may a letter be lower case), the
       first line starts with a marker (``B.``, ``B)``, ``B：``, ``(B)``, ``（B）``) unless the response
       recites several options, or the last line is a lone label;
    4. letters only: the last line ends with a standalone letter ("..., so I pick C." / "Therefore C");
    5. exactly one option's text appears ("The capital is London." -> B); several -> None;
    6. letters only: exactly one distinct parenthesised letter ``(C)`` appears anywhere.

    A letter is only a letter when it stands alone: "A" as an article ("A good answer would be C")
    and letters inside words never count, and a bare "A"/"I" followed by a lower-case word after
    "Answer:" is read as English.  A number is only a label when it is not part of a longer number
    or a calculation, and a bare number in a statement must end the sentence or be followed by an
    explanation ("The answer is 3." / "3, because ..."; not "the answer is 3 apples"); tiers 4 and 6
    are skipped for numbers, which reasoning is full of.  Refusals and answers without a choice give
    None.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    labels = _checked_labels(tuple(LETTERS if letters is None else letters))
    valid = labels[: len(choices)] if choices else labels
    if not valid:
        return None
    t = _prep(text)
    rx = _letter_regexes(valid)
    norm_choices = [_norm_text(c) if isinstance(c, str) else "" for c in choices]
    firsts = frozenset(c[0] for c in norm_choices if c)

    # Tier 1: explicit statements, last one wins.
    found: list[tuple[int, str]] = []
    for phrase, kind, text_ok in _LEAD_PHRASES:
        for m in phrase.finditer(t):
            lm = rx.wrapped.match(t, m.end())
            if lm:
                bare = not (lm.group("open") or lm.group("b1") or lm.group("b2") or lm.group("close"))
                label = lm.group("L")
                after = t[lm.end() :]
                if kind == "colon" and bare and label in "AI" and _WORD_AFTER.match(after):
                    pass  # "Answer: A careful look shows ..." - an article, not option A
                elif kind == "weak" and (
                    rx.weak_reject.match(after) or (bare and label in "AI" and _WORD_AFTER.match(after))
                ):
                    pass  # "So B is wrong", "so A and B are out": not a choice of B
                elif rx.numbered and bare and not _NUMBER_END.match(after):
                    pass  # "the answer is 3 apples": a quantity, not option 3
                else:
                    found.append((lm.start("L"), label))
                    continue
            if text_ok and norm_choices:
                idx = _choice_at(t, m.end(), norm_choices, firsts)
                if idx is not None and idx < len(valid):
                    found.append((m.end(), valid[idx]))
    for lm in rx.standalone.finditer(t):
        if _TRAIL_VERDICT.match(t, lm.end()):
            found.append((lm.start("L"), lm.group("L")))
    for bm in rx.boxed.finditer(t):
        found.append((bm.start("L"), bm.group("L")))
    if found:
        return max(found)[1]

    # Tier 2: bold labels, if they agree.
    bolds = {bm.group("L") for bm in rx.bold.finditer(t)}
    if len(bolds) == 1:
        return bolds.pop()

    # Tier 3: the response is just a label, or opens / closes with one.
    lone = rx.lone.fullmatch(t)
    if lone and lone.group(1).upper() in valid:
        return lone.group(1).upper()
    lines = [ln for ln in t.splitlines() if ln.strip()]
    openers = {m.group("L1") or m.group("L2") for ln in lines if (m := rx.marker.match(ln))}
    if len(openers) == 1:
        mk = rx.marker.match(lines[0])
        if mk:
            return mk.group("L1") or mk.group("L2")
    last_lone = rx.last_lone.fullmatch(lines[-1])
    if last_lone:
        return last_lone.group(1)

    # Tier 4: the last line ends in a standalone letter.
    if not rx.numbered:
        tail = re.search(r"(?:^|[\s,，:：])[(\[]?([A-Z])[)\]]?(?:\s*[.。!])?\s*$", lines[-1])
        if tail and tail.group(1) in valid and not _NEGATED_TAIL.search(lines[-1][: tail.start(1)]):
            return tail.group(1)

    # Tier 5: the option's own text.
    if norm_choices:
        idx = _unique_choice_text(t, norm_choices)
        if idx is not None and idx < len(valid):
            return valid[idx]

    # Tier 6: a single distinct parenthesised letter.
    if not rx.numbered:
        cls = "".join(re.escape(c) for c in valid)
        paren = {m.group(1) for m in re.finditer(rf"[(（]\s*([{cls}])\s*[)）]", t)}
        if len(paren) == 1:
            return paren.pop()
    return None
