"""Answer leakage: the gold answer written in the question itself, so that a model can copy it.

Two signs, looked for in the scored items' questions (not in shared context: a reading passage holds its answers
by design, as CMRC 2018's and C3's do):

- an *answer statement*: "the answer is X", "answer: X", "答案是X", "正确答案：X", where X is the gold option's
  letter or a gold answer's text (any length);
- a *verbatim gold*: a gold answer's text, at least ``MIN_CHARS`` characters long (``MIN_HAN`` Han characters),
  inside the question while no other option is. A short answer ("4", "True", "北京") turns up in questions by
  chance and proves nothing, so it counts only in a statement; and where the question lists every option, the
  gold is in it no more than the others.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tianping.quality.findings import Finding
from tianping.quality.items import Item, normalize
from tianping.quality.text import cjk_share

__all__ = ["answer_leakage"]

MIN_CHARS = 12
MIN_HAN = 4
MIN_OTHER = 4
"""Another option shorter than this in the question does not excuse the gold's presence ("no", "4")."""

_STATEMENT = (
    r"(?:(?:the\s+)?(?:correct\s+|right\s+|final\s+)?answer\s*(?:is|:|=|would\s+be)|(?:正确)?答案\s*(?:是|为|:|：)|"
    r"选\s*)\s*[\(\[（]?\s*"
)
_STATEMENT_RE = re.compile(_STATEMENT, re.IGNORECASE)
_TRIM = " .。!！?？,，;；:：'\"()（）[]"


def _long_enough(text: str) -> bool:
    if cjk_share(text) >= 0.3:
        return sum(1 for ch in text if "\u3400" <= ch <= "\u9fff") >= MIN_HAN
    return len(text) >= MIN_CHARS


def _statement(question: str, item: Item) -> str | None:
    """The answer statement in ``question`` that names the gold, if there is one."""
    wanted: list[str] = []
    if item.is_mc and item.gold and item.letters:
        wanted.extend(item.letters[i] for i in item.gold if i < len(item.letters))
    wanted.extend(a.strip(_TRIM) for a in item.answers if a.strip(_TRIM))
    values = [v.casefold() for v in dict.fromkeys(wanted)]
    for match in _STATEMENT_RE.finditer(question):
        rest = question[match.end() :].casefold()
        for value in values:
            # a letter must stand alone ("answer is B", not "answer is Bob"); a text may end anywhere
            if rest.startswith(value) and (len(value) > 1 or not rest[1:2].isalnum()):
                return question[match.start() : match.end() + len(value)]
    return None


def answer_leakage(items: Sequence[Item]) -> list[Finding]:
    findings = []
    for item in items:
        if item.split != "test" or not item.answers:
            continue
        question = item.question_text()
        if not question.strip():
            continue
        stated = _statement(question, item)
        if stated is not None:
            reason = f"the question states the answer: {stated!r}"
            findings.append(Finding("answer_leakage", (item.key,), reason, "answer_statement", 1.0))
            continue
        norm_q = normalize(question)
        gold = [a for a in item.answers if _long_enough(normalize(a).strip(_TRIM))]
        inside = [a for a in gold if normalize(a).strip(_TRIM) in norm_q]
        if not inside:
            continue
        if item.is_mc and item.choices:
            golds = {item.choices[i] for i in item.gold or ()}
            others = [c for c in item.choices if c not in golds and len(normalize(c).strip(_TRIM)) >= MIN_OTHER]
            if any(normalize(c).strip(_TRIM) in norm_q for c in others):
                continue  # the question quotes other options too: the gold is not singled out
        reason = f"the gold answer {inside[0]!r} is written in the question"
        findings.append(Finding("answer_leakage", (item.key,), reason, "verbatim_gold", 1.0))
    return findings
