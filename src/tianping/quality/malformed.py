"""Items that are broken as data: duplicate or empty options, a gold that names no option, an empty field, text
whose encoding broke on the way (mojibake, replacement characters, control characters); and, for the dataset as a
whole, gold letters that lean to one position and golds that are the longest option more often than chance."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence

from tianping.quality.findings import DatasetFinding, Finding
from tianping.quality.items import Item, normalize

__all__ = ["broken_encoding", "letter_balance", "longest_option_bias", "malformed_items"]

EMPTY_FIELD_SHARE = 0.9
"""A field empty in an item is flagged where at least this share of the split has it filled."""
BALANCE_P = 1e-3
"""Gold positions are unbalanced when a chi-square test against the expected share gives a p-value below this."""

# UTF-8 read as Windows-1252 or Latin-1: a lead byte (Â..ô) then continuation bytes, which 1252 shows as
# these characters
_CONTINUATION = "\u0080-\u00bf\u20ac\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u017d" + (
    "\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u017e\u0178"
)
_MOJIBAKE = re.compile(f"[\u00c2-\u00f4][{_CONTINUATION}]+")
_CONTROL = re.compile("[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_GARBLED_CJK = ("锟斤拷", "烫烫烫", "屯屯屯")  # the usual remains of bytes lost between GBK and UTF-8


def _undo_1252(text: str) -> str | None:
    """The text a run of mojibake came from, or None when it does not decode (then it was not mojibake)."""
    raw = bytearray()
    for ch in text:
        try:
            raw += ch.encode("cp1252")
        except UnicodeEncodeError:
            if ord(ch) > 0xFF:
                return None
            raw.append(ord(ch))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def broken_encoding(text: str) -> str | None:
    """What is wrong with the text's encoding, or None."""
    if "\ufffd" in text:
        return "U+FFFD replacement character (bytes lost in decoding)"
    for match in _MOJIBAKE.finditer(text):
        fixed = _undo_1252(match.group(0))
        if fixed is not None:
            return f"mojibake {match.group(0)!r} (UTF-8 read as Windows-1252; was {fixed!r})"
    for garbled in _GARBLED_CJK:
        if garbled in text:
            return f"garbled Chinese {garbled!r} (bytes lost between GBK and UTF-8)"
    control = _CONTROL.search(text)
    if control is not None:
        return f"control character U+{ord(control.group(0)):04X}"
    if _SURROGATE.search(text):
        return "a lone UTF-16 surrogate"
    return None


def _fields(item: Item) -> Iterator[tuple[str, str]]:
    yield from item.texts.items()
    for i, choice in enumerate(item.choices or ()):
        yield f"option {_letter(item, i)}", choice
    yield "target", item.target


def _letter(item: Item, index: int) -> str:
    letters = item.letters or ()
    return letters[index] if index < len(letters) else str(index + 1)


def _filled_share(items: Sequence[Item]) -> dict[tuple[str, str], float]:
    """(split, field) -> the share of the split's items where the text field is not blank."""
    filled: Counter[tuple[str, str]] = Counter()
    seen: Counter[tuple[str, str]] = Counter()
    for item in items:
        for name, text in item.texts.items():
            seen[item.split, name] += 1
            filled[item.split, name] += bool(text.strip())
    return {key: filled[key] / n for key, n in seen.items()}


def _same_option(text: str) -> str:
    """Options compare with case kept: "Rr" and "RR" are two genotypes."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _problems(item: Item, filled: dict[tuple[str, str], float]) -> list[str]:
    found = []
    for name, text in item.texts.items():
        if not text.strip() and filled.get((item.split, name), 0.0) >= EMPTY_FIELD_SHARE:
            found.append(f"field '{name}' is empty (filled in {filled[item.split, name]:.0%} of the items)")
    if item.choices is not None:
        seen: dict[str, int] = {}
        for i, choice in enumerate(item.choices):
            norm = _same_option(choice)
            if not norm:
                found.append(f"option {_letter(item, i)} is empty")
            elif norm in seen:
                found.append(f"options {_letter(item, seen[norm])} and {_letter(item, i)} are the same ({choice!r})")
            else:
                seen[norm] = i
        if item.letters is not None and len(item.letters) != len(item.choices):
            found.append(f"{len(item.letters)} option letters for {len(item.choices)} options")
        if item.gold == ():
            found.append(f"no gold option: {item.gold_problem or 'the target names none'}")
    for name, text in _fields(item):
        problem = broken_encoding(text)
        if problem is not None:
            found.append(f"{name}: {problem}")
    return found


def malformed_items(items: Sequence[Item]) -> list[Finding]:
    filled = _filled_share(items)
    findings = []
    for item in items:
        problems = _problems(item, filled)
        if problems:
            findings.append(Finding("malformed", (item.key,), "; ".join(problems), "malformed_items"))
    return findings


def _single_gold(items: Sequence[Item]) -> list[Item]:
    return [i for i in items if i.split == "test" and i.choices and i.gold is not None and len(i.gold) == 1]


def letter_balance(items: Sequence[Item]) -> DatasetFinding | None:
    """Gold positions against what chance gives (each of an item's n options 1/n), by a chi-square test."""
    mc = _single_gold(items)
    if len(mc) < 20:
        return None
    from scipy.stats import chisquare

    width = max(len(i.choices or ()) for i in mc)
    observed = [0] * width
    expected = [0.0] * width
    for item in mc:
        n = len(item.choices or ())
        observed[item.gold[0]] += 1  # type: ignore[index]
        for position in range(n):
            expected[position] += 1 / n
    keep = [k for k in range(width) if expected[k] > 0]
    result = chisquare([observed[k] for k in keep], [expected[k] for k in keep])
    p = float(result.pvalue)
    letters = [chr(ord("A") + k) for k in keep]
    shares = {letters[j]: round(observed[k] / len(mc), 4) for j, k in enumerate(keep)}
    chance = {letters[j]: round(expected[k] / len(mc), 4) for j, k in enumerate(keep)}
    flagged = p < BALANCE_P
    lean = max(keep, key=lambda k: observed[k] / expected[k])
    summary = (
        f"gold positions {'lean' if flagged else 'do not lean'} to one option: "
        + ", ".join(f"{letters[j]} {shares[letters[j]]:.1%}" for j in range(len(keep)))
        + f" (chance {', '.join(f'{v:.1%}' for v in chance.values())}; chi-square p = {p:.2g}"
        + (f"; {chr(ord('A') + lean)} most over-represented)" if flagged else ")")
    )
    evidence = {"items": len(mc), "shares": shares, "chance": chance, "p_value": p}
    return DatasetFinding("unbalanced_answer_letters", flagged, summary, evidence)


def longest_option_bias(items: Sequence[Item]) -> DatasetFinding | None:
    """How often the gold is the one longest option, against chance (1/n where one option is longest): a
    test-taker's shortcut when writers pad the right answer."""
    mc = _single_gold(items)
    hits, chance, counted = 0, 0.0, 0
    for item in mc:
        lengths = [len(normalize(c)) for c in item.choices or ()]
        longest = max(lengths)
        if lengths.count(longest) != 1:
            continue  # a tie: no one longest option
        counted += 1
        chance += 1 / len(lengths)
        hits += lengths.index(longest) == item.gold[0]  # type: ignore[index]
    if counted < 20:
        return None
    from scipy.stats import binomtest

    rate, base = hits / counted, chance / counted
    p = float(binomtest(hits, counted, base, alternative="greater").pvalue)
    flagged = p < BALANCE_P and rate >= 1.2 * base
    summary = (
        f"the gold is the longest option in {rate:.1%} of {counted} items (chance {base:.1%}; "
        f"binomial p = {p:.2g}): " + ("a length shortcut answers above chance" if flagged else "no length shortcut")
    )
    return DatasetFinding("longest_option_is_gold", flagged, summary, {"items": counted, "rate": rate,
                                                                       "chance": base, "p_value": p})  # fmt: skip


def letters_by_group(items: Sequence[Item]) -> dict[str, Counter[int]]:
    """Group -> gold positions (for the report's breakdown)."""
    out: dict[str, Counter[int]] = defaultdict(Counter)
    for item in _single_gold(items):
        out[item.group][item.gold[0]] += 1  # type: ignore[index]
    return out
