"""``pattern.finditer`` for answer-statement patterns, tried only where a statement can begin.

The statement patterns ("The final answer is", "Answer:", 答案是 ...) are case-insensitive and open with ``\\b``,
so ``re`` cannot skip ahead to a likely start and tries every position, about 0.1 µs a character: 150 µs for two
such patterns on a 1 KB answer, more than the rest of scoring. A statement can only begin at one of a few words,
so the pattern is tried at those places alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence


def matches_at_words(
    pattern: re.Pattern[str],
    text: str,
    words: Sequence[str],
    *,
    exact: Sequence[str] = (),
    needs: Sequence[str] = (),
) -> Iterator[re.Match[str]]:
    """The matches ``pattern.finditer(text)`` gives, for a pattern whose every match begins with one of
    ``words`` (lower-case ASCII, matched in any case) or of ``exact`` (matched as written), and contains one of
    ``needs`` (either kind) when ``needs`` is given.

    The places are found in ``text.lower()``, which keeps every index when it keeps the length, and the pattern
    is tried at them left to right, never inside the previous match, as ``finditer`` proceeds; ``match`` at an
    index still sees the character before it for ``\\b``. Text where ``lower()`` changes the length, or with one
    of the two letters that re matches to an ASCII letter although ``lower()`` does not map them to it (dotless
    ı for i, long ſ for s), is scanned whole."""
    low = text.lower()
    if len(low) != len(text) or "ı" in text or "ſ" in text:
        yield from pattern.finditer(text)
        return
    if needs and not any(n in low if n.isascii() else n in text for n in needs):
        return
    starts = [i for w in words for i in _occurrences(low, w)]
    if exact and not text.isascii():
        starts += [i for w in exact for i in _occurrences(text, w)]
    end = 0
    for pos in sorted(set(starts)):
        if pos < end:
            continue
        m = pattern.match(text, pos)
        if m is not None:
            yield m
            end = m.end()


def _occurrences(text: str, word: str) -> list[int]:
    found, i = [], text.find(word)
    while i >= 0:
        found.append(i)
        i = text.find(word, i + 1)
    return found
