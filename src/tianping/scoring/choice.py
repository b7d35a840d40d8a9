"""Multiple-choice answer extraction: the option letter a response chose, in English or Chinese.

Pure and stdlib-only like :mod:`tianping.scoring.extract`, whose text preparation it shares, so a
stored response can be re-scored at any time with the same result.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from tianping.scoring.extract import prepare_text as _prep

__all__ = ["extract_choice"]

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
_WEAK_REJECT = re.compile(
    r"(?i:\s*(?:is|was|are|were|and|or|has|had|would|could|can|cannot|can't|seems|looks|does|doesn't|"
    r"isn't|wasn't|not|nor|vs\.?|versus)\b)|\s*[,，、]\s*[A-Z](?![A-Za-z0-9])|\s*(?:和|与|或|都|也|不|错)"
)
_WORD_AFTER = re.compile(r"\s+[a-z]")
# "The answer is not A." / "It could be A or B." end in a letter that is not a choice.
_NEGATED_TAIL = re.compile(
    r"(?i:(?:\bnot|n't|\bnever|\bexcept|\bexcluding|\bor|\band|\bnor|\bvs\.?|\bversus)(?:\s*[(\[])?\s*$)"
    r"|(?:不是|不选|除了|排除|或|和|还是|与)(?:\s*[(\[])?\s*$"
)


@lru_cache(maxsize=64)
def _letter_regexes(letters: str) -> tuple[re.Pattern[str], ...]:
    """Regexes for one set of option letters (cached: the set rarely changes within a benchmark).

    Written so that no two ``\\s*`` can share a run of spaces: that keeps them linear on long
    whitespace or markup runs instead of cubic.
    """
    cls = "[" + "".join(re.escape(c) for c in letters) + "]"
    wrapped = re.compile(
        rf"\s*(?:(?P<open>[(\[【{{<「『])\s*)?(?:(?P<b1>\*\*|__|\*)\s*)?(?P<L>{cls})(?![A-Za-z0-9])"
        rf"(?:\s*(?P<b2>\*\*|__|\*))?(?:\s*(?P<close>[)\]】}}>」』]))?"
    )
    standalone = re.compile(rf"(?<![A-Za-z0-9])(?P<L>{cls})(?![A-Za-z0-9])(?:\s*(?:\*\*|__|\*))?(?:\s*[)\]】}}>」』])?")
    bold = re.compile(rf"\*\*\s*(?:[(\[]\s*)?(?P<L>{cls})(?![A-Za-z0-9])(?:\s*[)\]])?(?:\s*[.:、。)][^*\n]*|\s*)\*\*")
    boxed = re.compile(rf"\\boxed\s*\{{\s*(?:\\text(?:bf)?\s*\{{\s*)?(?:\(\s*)?(?P<L>{cls})(?![A-Za-z0-9])")
    marker = re.compile(
        rf"^\s*(?:(?:\*\*|__)\s*)?(?:[(\[【]\s*(?P<L1>{cls})\s*[)\]】]"
        rf"|(?P<L2>{cls})(?=\s*(?:(?:\*\*|__)\s*)?(?:[.:、。)]|$)))"
    )
    return wrapped, standalone, bold, boxed, marker


def _norm_text(s: str) -> str:
    return " ".join(_prep(s).casefold().split()).strip(" .。")


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _find_text(haystack: str, needle: str) -> list[tuple[int, int]]:
    """Occurrences of an option's text, not inside a longer word ("4" not in "14", "cat" not in "catch")."""
    spans, i = [], haystack.find(needle)
    while i >= 0:
        j = i + len(needle)
        before_ok = not (_is_word_char(needle[0]) and i > 0 and _is_word_char(haystack[i - 1]))
        after_ok = not (_is_word_char(needle[-1]) and j < len(haystack) and _is_word_char(haystack[j]))
        if before_ok and after_ok:
            spans.append((i, j))
        i = haystack.find(needle, i + 1)
    return spans


def _choice_at(text: str, pos: int, norm_choices: list[str]) -> int | None:
    """Index of the option whose text starts at ``pos`` ("The answer is London."), longest first."""
    rest = " ".join(text[pos : pos + 200].lstrip(" *_:\"'“‘([【").casefold().split())  # text is prepped
    best, best_len = None, 0
    for i, c in enumerate(norm_choices):
        if c and rest.startswith(c) and len(c) > best_len:
            j = len(c)
            if j < len(rest) and _is_word_char(c[-1]) and _is_word_char(rest[j]):
                continue
            best, best_len = i, len(c)
    return best


def _unique_choice_text(text: str, norm_choices: list[str]) -> int | None:
    """The one option whose text the response mentions; None when none or several do."""
    hay = _norm_text(text)
    found: dict[int, list[tuple[int, int]]] = {}
    for i, c in enumerate(norm_choices):
        if c:
            spans = _find_text(hay, c)
            if spans:
                found[i] = spans
    # An option mentioned only inside a longer option's mention ("London" in "London, UK") is not
    # a separate mention.
    keep = [
        i
        for i, spans in found.items()
        if any(
            not any(j != i and a <= s and e <= b and (b - a) > (e - s) for j, o in found.items() for a, b in o)
            for s, e in spans
        )
    ]
    return keep[0] if len(keep) == 1 else None


def extract_choice(text: str, choices: Sequence[str], letters: str = "ABCD") -> str | None:
    """The chosen option letter in a multiple-choice response (English or Chinese), or None.

    Valid letters are ``letters[:len(choices)]`` (all of ``letters`` when ``choices`` is empty);
    ``letters`` must be upper case.  Tiers, highest first; within tier 1 the *last* statement wins
    ("The answer is A. Wait, no: the answer is C." -> C):

    1. explicit statements: ``The answer is (B)``, ``Answer: B``, ``the correct option is B``,
       ``I choose B``, ``B is correct``, ``So, B.``, ``\\boxed{B}``, ``答案是 B``, ``答案：B``,
       ``答案为B``, ``正确答案是（B）``, ``选B``, ``选择 B 项``, ``B项正确``, ``所以是B``; an answer
       statement may also name the option's text ("The answer is London.");
    2. a bold letter ``**B**`` / ``**B. London**``, if only one letter is bold;
    3. the whole response is one letter (``B``, ``(b)``: only here may it be lower case), the first
       line starts with a marker (``B.``, ``B)``, ``B：``, ``(B)``, ``（B）``) unless the response
       recites several options, or the last line is a lone letter;
    4. the last line ends with a standalone letter ("..., so I pick C." / "Therefore C");
    5. exactly one option's text appears ("The capital is London." -> B); several -> None;
    6. exactly one distinct parenthesised letter ``(C)`` appears anywhere.

    A letter is only a letter when it stands alone: "A" as an article ("A good answer would be C")
    and letters inside words never count, and a bare "A"/"I" followed by a lower-case word after
    "Answer:" is read as English.  Refusals and answers without a choice give None.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    valid = letters[: len(choices)] if choices else letters
    if not valid:
        return None
    t = _prep(text)
    wrapped, standalone, bold, boxed, marker = _letter_regexes(valid)
    norm_choices = [_norm_text(c) if isinstance(c, str) else "" for c in choices]

    # Tier 1: explicit statements, last one wins.
    found: list[tuple[int, str]] = []
    for phrase, kind, text_ok in _LEAD_PHRASES:
        for m in phrase.finditer(t):
            lm = wrapped.match(t, m.end())
            if lm:
                bare = not (lm.group("open") or lm.group("b1") or lm.group("b2") or lm.group("close"))
                letter = lm.group("L")
                after = t[lm.end() :]
                if kind == "colon" and bare and letter in "AI" and _WORD_AFTER.match(after):
                    pass  # "Answer: A careful look shows ..." - an article, not option A
                elif kind == "weak" and (
                    _WEAK_REJECT.match(after) or (bare and letter in "AI" and _WORD_AFTER.match(after))
                ):
                    pass  # "So B is wrong", "so A and B are out": not a choice of B
                else:
                    found.append((lm.start("L"), letter))
                    continue
            if text_ok and norm_choices:
                idx = _choice_at(t, m.end(), norm_choices)
                if idx is not None and idx < len(valid):
                    found.append((m.end(), valid[idx]))
    for lm in standalone.finditer(t):
        if _TRAIL_VERDICT.match(t, lm.end()):
            found.append((lm.start("L"), lm.group("L")))
    for bm in boxed.finditer(t):
        found.append((bm.start("L"), bm.group("L")))
    if found:
        return max(found)[1]

    # Tier 2: bold letters, if they agree.
    bolds = {bm.group("L") for bm in bold.finditer(t)}
    if len(bolds) == 1:
        return bolds.pop()

    # Tier 3: the response is just a letter, or opens / closes with one.
    lone = re.fullmatch(r"[\s*_\"'`(\[【<]*([A-Za-z])[\s*_\"'`)\]】>.:。!]*", t)
    if lone and lone.group(1).upper() in valid:
        return lone.group(1).upper()
    lines = [ln for ln in t.splitlines() if ln.strip()]
    openers = {m.group("L1") or m.group("L2") for ln in lines if (m := marker.match(ln))}
    if len(openers) == 1:
        mk = marker.match(lines[0])
        if mk:
            return mk.group("L1") or mk.group("L2")
    last_lone = re.fullmatch(r"[\s*_\"'`(\[【]*([A-Z])[\s*_\"'`)\]】.:。!]*", lines[-1])
    if last_lone and last_lone.group(1) in valid:
        return last_lone.group(1)

    # Tier 4: the last line ends in a standalone letter.
    tail = re.search(r"(?:^|[\s,，:：])[(\[]?([A-Z])[)\]]?(?:\s*[.。!])?\s*$", lines[-1])
    if tail and tail.group(1) in valid and not _NEGATED_TAIL.search(lines[-1][: tail.start(1)]):
        return tail.group(1)

    # Tier 5: the option's own text.
    if norm_choices:
        idx = _unique_choice_text(t, norm_choices)
        if idx is not None and idx < len(valid):
            return valid[idx]

    # Tier 6: a single distinct parenthesised letter.
    cls = "".join(re.escape(c) for c in valid)
    paren = {m.group(1) for m in re.finditer(rf"[(（]\s*([{cls}])\s*[)）]", t)}
    if len(paren) == 1:
        return paren.pop()
    return None
