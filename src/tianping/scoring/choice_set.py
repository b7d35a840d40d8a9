"""Multi-select answers: the SET of option letters a response chose, and partial credit for it.

Multi-answer exam questions (JEC-QA, Gaokao physics, AGIEval multi-select) have several right options.
A sample carries them in its ``target`` as the canonical *letter set*: the distinct letters, sorted,
joined by commas without spaces (``"A,C"``; a single answer is just ``"B"``). The extractor returns the
same form, so a stored response compares as text and re-scores the same at any time.

Pure and stdlib-only like :mod:`tianping.scoring.choice`, whose single-letter extractor is the last
resort here (a response that names one option in any of the ways it knows).

Partial-credit rules are registered by name (``register_partial_credit``) and named by a definition's
``scoring.partial_credit``:

- ``exact``: 1 when the sets are equal, else 0 (the same as the ``choice_set_exact`` metric);
- ``gaokao``: 1 when equal; 0.5 for a non-empty proper subset of the right letters (nothing wrong chosen);
  0 as soon as one wrong letter is chosen (the rule of the Chinese Gaokao's multi-select questions).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from string import ascii_uppercase

from tianping.scoring.choice import extract_choice
from tianping.scoring.extract import prepare_text

__all__ = [
    "LETTERS",
    "PARTIAL_CREDIT",
    "PartialCredit",
    "extract_choice_set",
    "format_letter_set",
    "parse_letter_set",
    "partial_credit",
    "register_partial_credit",
    "set_accuracy",
]

LETTERS = ascii_uppercase

# --------------------------------------------------------------------------------------------------
# The canonical form
# --------------------------------------------------------------------------------------------------

_SET_TEXT = re.compile(r"[A-Z](?:\s*[,、;/]?\s*[A-Z])*")


def format_letter_set(letters: Iterable[str]) -> str:
    """The canonical text of a letter set: distinct, sorted, comma-joined (``{"C", "A"}`` -> ``"A,C"``)."""
    return ",".join(sorted(set(letters)))


def parse_letter_set(text: str | None, letters: str = LETTERS) -> frozenset[str] | None:
    """The letters of a canonical or loosely written set (``"A,C"``, ``"AC"``, ``"A, C"``, ``"A、C"``), or None
    when ``text`` is not a set of letters from ``letters`` (empty, lower case, another word)."""
    if not isinstance(text, str):
        return None
    stripped = text.strip()
    if not _SET_TEXT.fullmatch(stripped):
        return None
    found = frozenset(re.findall(r"[A-Z]", stripped))
    return found if found <= set(letters) else None


# --------------------------------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------------------------------

# Horizontal white space is squeezed to one space first, so that a pattern reads at most one space at a
# separator and no two repetitions can share a run of blanks (linear on hostile white space).
_BLANKS = re.compile(r"[^\S\n]+")
_MARKUP = re.compile(r"\*\*|__")

_QUALIFIED = r"(?:correct|right|best|final|true|valid)"
_LEADS: list[re.Pattern[str]] = [
    # "The answers are", "the correct options are:", "Answer:", "final answer =", "the answer would be"
    re.compile(
        rf"(?i:\b(?:(?:{_QUALIFIED} )(?:answers?|options?|choices?|statements?)|answers?)"
        r" ?(?:is|are|would be|should be|must be|will be|=|:) ?:? ?(?:(?:options?|choices?|letters?)\b ?)?)"
    ),
    # "I choose", "I'd pick options", "select"
    re.compile(
        r"(?i:\b(?:i(?:'d| would| will| should)? )?(?:choose|pick|select|go with) (?:(?:options?|choices?)\b ?)?)"
    ),
    # 答案是 / 最终答案为： / 正确答案选 / 答案应该是
    re.compile(
        r"(?:最终|正确)?答案(?: ?[】\]])?(?: ?(?:应该|应当|应|可能|只能|就|才))?"
        r"(?: ?(?:是|为|為|选|選|有))? ?[:=]? ?(?:选项)?"
    ),
    # 选 / 选择 / 故选 / 本题选 (not 不选, not 选项 "options")
    re.compile(r"(?<!不)(?<!不应)(?<!不能)(?:选择|选|選)(?!项)(?: ?(?:答案|选项))? ?[:=]? ?"),
    # 正确的选项是 / 正确选项有
    re.compile(r"正确的?(?:选项|答案)(?: ?(?:应该|应))? ?(?:是|为|為|有|:) ?:? ?(?:选项)?"),
]
_BOTH = re.compile(r"(?i:(?:both|all of|all) )")
# after a set: the set is judged right / wrong ("A and C are correct", "B项错误", "选项A、D正确")
_RIGHT = re.compile(
    r"(?i: ?(?:is|are) (?:the )?(?:correct|right|true)\b)"
    r"| ?(?:选项|项)? ?(?:的)?(?:说法|表述|叙述|描述)? ?(?:均|都|皆)? ?(?:是|为)? ?(?:正确|对(?![于应比待]))(?!吗|与否)"
)
_WRONG = re.compile(
    r"(?i: ?(?:is|are) (?:incorrect|wrong|false|not (?:correct|right|true))\b)"
    r"| ?(?:选项|项)? ?(?:的)?(?:说法|表述|叙述|描述)? ?(?:均|都|皆)? ?(?:是|为)? ?(?:错误|不正确|不对|错(?!过))"
)
# an answer that names the set as THE answer ("A and C are the correct answers", "BD为正确答案")
_IS_ANSWER = re.compile(r"(?i: ?(?:is|are) (?:the )?(?:correct |right |final )?answers?\b)| ?(?:是|为)(?:正确)?答案")
_UNDECIDED = re.compile(r"(?i: ?(?:or|nor)\b)| ?(?:或|还是)")
_WORD_AFTER = re.compile(r" [a-z]")


@lru_cache(maxsize=64)
def _set_regex(valid: str) -> re.Pattern[str]:
    """A run of option letters: ``AC``, ``A, C``, ``A、C``, ``(A)(C)``, ``A and C``, ``A项和C项``."""
    letter = "[" + re.escape(valid) + "]"
    # an opening bracket needs its closing one: in "A（D项不确定）" the "(D" starts an aside, not option D
    item = rf"(?:[(\[【] ?{letter} ?[)\]】]|{letter})(?: ?(?:选项|项))?"
    sep = r"(?: ?[,;/&+、](?: ?and\b)? ?| and | ?(?:以及|和|与|及) ?| ?)"
    return re.compile(rf"(?<![A-Za-z0-9])(?P<set>{item}(?:{sep}{item})*)(?![A-Za-z0-9])")


def _letters_of(run: str, valid: str) -> list[str] | None:
    """The letters of a matched run, or None when one repeats (an upper-case word such as "ADD", "DAD")."""
    found = [c for c in run if c in valid]
    return found if len(set(found)) == len(found) else None


def _statements(t: str, valid: str) -> list[tuple[int, list[str] | None]]:
    """(position, letters) of every explicit answer: a lead phrase or ``\\boxed{}`` followed by a letter set, or
    a set followed by "is/are the answer"; letters None for an undecided one ("the answer is A or B")."""
    sets = _set_regex(valid)
    found: list[tuple[int, list[str] | None]] = []
    starts = [m.end() for lead in _LEADS for m in lead.finditer(t)]
    starts += [m.end() for m in re.finditer(r"\\boxed ?\{ ?(?:\\text(?:bf)? ?\{ ?)?", t)]
    for start in starts:
        both = _BOTH.match(t, start)
        m = sets.match(t, both.end() if both else start)
        if m is None:
            continue
        letters = _letters_of(m.group("set"), valid)
        after = t[m.end() :]
        if _UNDECIDED.match(after):
            found.append((m.start("set"), None))
            continue
        if letters is None or _WRONG.match(after):
            continue  # "ADD" is a word; "选A，B错误" is not a decision for the set "A, B"
        if m.group("set") in ("A", "I") and _WORD_AFTER.match(after):
            continue  # "Answer: A careful look shows ...": an article, not option A
        found.append((m.start("set"), letters))
    for m in sets.finditer(t):
        if _IS_ANSWER.match(t, m.end()) and (letters := _letters_of(m.group("set"), valid)):
            found.append((m.start("set"), letters))
    return found


def _verdicts(t: str, valid: str) -> set[str]:
    """The letters last judged right, one option at a time ("A项正确……B项错误……C项正确" -> {A, C})."""
    judged: dict[str, bool] = {}
    for m in _set_regex(valid).finditer(t):
        letters = _letters_of(m.group("set"), valid)
        if not letters:
            continue
        if _RIGHT.match(t, m.end()):
            judged.update(dict.fromkeys(letters, True))
        elif _WRONG.match(t, m.end()):
            judged.update(dict.fromkeys(letters, False))
    return {letter for letter, right in judged.items() if right}


def extract_choice_set(text: str, choices: Sequence[str], letters: str = LETTERS) -> str | None:
    """The set of option letters a response chose, in canonical form (``"A,C"``), or None.

    Valid letters are ``letters[:len(choices)]`` (all of ``letters`` when ``choices`` is empty). Tiers,
    highest first:

    1. explicit answers, the last one winning: ``答案是AB``, ``答案：A、C``, ``选ABD``, ``正确选项为B,D``,
       ``The answers are A and C``, ``The correct options are A, C, and D``, ``I choose A and D``,
       ``\\boxed{AC}``, ``\\boxed{A, C}``, ``A and C are the correct answers``;
    2. per-option verdicts, the last verdict on each letter counting: ``A项正确，B项错误，C项正确`` -> ``A,C``,
       ``A and D are correct``;
    3. the whole response, or its last line, is a letter set: ``A, C``, ``AC``, ``(A)(C)``;
    4. one letter, as :func:`tianping.scoring.choice.extract_choice` reads it (``The answer is (B)``, an
       option's text, ...).

    A run of letters that repeats one ("ADD") is a word, not a set; a last answer followed by "or" ("The
    answer is A or B") is undecided and gives None; an answer followed by a verdict that it is wrong is skipped.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    valid = letters[: len(choices)] if choices else letters
    if not valid:
        return None
    t = _BLANKS.sub(" ", _MARKUP.sub("", prepare_text(text)))

    statements = _statements(t, valid)
    if statements:
        last = max(statements, key=lambda s: s[0])[1]
        return format_letter_set(last) if last is not None else None  # undecided at the end: no answer
    judged = _verdicts(t, valid)
    if judged:
        return format_letter_set(judged)
    lines = [line.strip() for line in t.splitlines() if line.strip()]
    for candidate in (t.strip(), lines[-1] if lines else ""):
        bare = candidate.strip(" \"'`*_.:。!")
        m = _set_regex(valid).fullmatch(bare)
        if m and (found := _letters_of(m.group("set"), valid)):
            return format_letter_set(found)
    one = extract_choice(text, choices, valid)
    return one if one is not None and one in valid else None


# --------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------

PartialCredit = Callable[[frozenset[str], frozenset[str]], float]
"""(letters chosen, right letters) -> credit in [0, 1]; the chosen set may be empty (nothing read)."""

PARTIAL_CREDIT: dict[str, PartialCredit] = {}


def register_partial_credit(name: str) -> Callable[[PartialCredit], PartialCredit]:
    """Register a partial-credit rule that definitions can name in ``scoring.partial_credit``."""

    def wrap(rule: PartialCredit) -> PartialCredit:
        PARTIAL_CREDIT[name] = rule
        return rule

    return wrap


@register_partial_credit("exact")
def _exact(chosen: frozenset[str], right: frozenset[str]) -> float:
    return float(bool(chosen) and chosen == right)


@register_partial_credit("gaokao")
def _gaokao(chosen: frozenset[str], right: frozenset[str]) -> float:
    if not chosen or not chosen <= right:
        return 0.0  # nothing chosen, or one wrong letter: no credit at all
    return 1.0 if chosen == right else 0.5


def partial_credit(rule: str, extracted: str | None, target: str) -> float:
    """The credit rule ``rule`` gives an extracted answer against a target, both letter-set texts; an answer
    that is no letter set (nothing extracted) gets the credit of choosing nothing."""
    right = parse_letter_set(target)
    if right is None:
        raise ValueError(f"target {target!r} is not a set of option letters")
    return PARTIAL_CREDIT[rule](parse_letter_set(extracted) or frozenset(), right)


def set_accuracy(extracted: str, target: str) -> float:
    """1 when the extracted letters are exactly the target's, whatever the order or separators."""
    chosen, right = parse_letter_set(extracted), parse_letter_set(target)
    return float(chosen is not None and chosen == right)
