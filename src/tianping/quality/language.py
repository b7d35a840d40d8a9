"""Language mismatch: items not written in a language the benchmark declares (``about.languages``).

The writing system decides most cases without a language model: Han characters (without kana) are Chinese, kana
Japanese, Hangul Korean, Cyrillic, Greek, Arabic, Hebrew, Devanagari and Thai name their scripts. Latin-script
text counts as English where English function words make up ``ENGLISH_SHARE`` of its words; otherwise
``langdetect`` (seeded, so the verdict never changes between runs) names it, given ``MIN_WORDS`` words of three
letters or more (it names a language for "Find 4 over 7 + 2 over 7." with certainty, and wrongly), and only a
verdict of at least ``LANGDETECT_P`` counts. The question decides; its options count only for their writing
system, where the question is too short to tell (a list of names is no evidence of a language). Formulas, code
and numbers are not language: ``$...$``, ``\\(...\\)``, ``[asy]`` and fenced code are taken out, and lines with
more symbols than letters; text with fewer than ``MIN_LETTERS`` letters left is undecided. In a benchmark that
declares Chinese an item with any Han character passes (a Chinese question about an English sentence, or
"已知a=log_{2}0.2，则" is Chinese).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tianping.quality.findings import CheckSkipped, Finding
from tianping.quality.items import Item
from tianping.quality.text import script_counts, tokens

__all__ = ["detect_language", "language_mismatch"]

MIN_LETTERS = 20
MIN_HAN = 5
MIN_WORDS = 12
ENGLISH_SHARE = 0.12
LANGDETECT_P = 0.95
_MATH = re.compile(
    r"\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]|\[asy\].*?\[/asy\]|```.*?```|\\begin\{(\w+\*?)\}.*?\\end\{\1\}", re.DOTALL
)


def _prose(text: str) -> str:
    """The text without formulas, figure code and code-like lines (fewer letters than other characters)."""
    text = _MATH.sub(" ", text)
    kept = []
    for line in text.splitlines():
        visible = [ch for ch in line if not ch.isspace()]
        if visible and sum(ch.isalpha() for ch in visible) >= 0.6 * len(visible):
            kept.append(line)
    return "\n".join(kept)


_SCRIPT_LANGUAGE = {
    "hangul": "ko", "cyrillic": "ru/other Cyrillic", "greek": "el", "arabic": "ar/other Arabic script",
    "hebrew": "he", "devanagari": "hi/other Devanagari", "thai": "th",
}  # fmt: skip
_ENGLISH = frozenset(
    (
        "the", "of", "and", "to", "a", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on",
        "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "they", "you", "were",
        "her", "she", "there", "been", "one", "all", "we", "their", "has", "would", "when", "if", "so", "no",
        "will", "can", "what", "who", "more", "do", "about", "how", "its", "than", "into", "only", "other", "then",
        "these", "them", "some", "could", "any", "our", "may", "should", "does", "did", "each", "why", "where",
        "following",
    )
)  # fmt: skip


def _langdetect(text: str) -> tuple[str, float] | None:
    try:
        from langdetect import DetectorFactory, detect_langs
        from langdetect.lang_detect_exception import LangDetectException
    except ImportError:
        raise CheckSkipped("language identification of Latin-script text needs 'langdetect'") from None
    DetectorFactory.seed = 0
    try:
        best = detect_langs(text)[0]
    except LangDetectException:
        return None
    return best.lang.split("-")[0], float(best.prob)


def detect_language(text: str, *, words_too: bool = True) -> tuple[str | None, str]:
    """(ISO 639-1 code or a script's name, how it was decided); code None when undecided. ``words_too``: also
    tell Latin-script languages apart by their words (else only the writing system decides)."""
    text = _prose(text)
    scripts = script_counts(text)
    letters = sum(scripts.values())
    if letters < MIN_LETTERS and scripts.get("han", 0) < MIN_HAN:
        return None, f"only {letters} letters"
    if scripts.get("kana", 0) >= 3:
        return "ja", "kana"
    top = max(scripts, key=lambda s: scripts[s])
    if scripts.get("han", 0) >= 0.3 * letters:
        return "zh", f"{scripts['han']} of {letters} letters are Han characters"
    if top != "latin":
        return _SCRIPT_LANGUAGE.get(top, top), f"{scripts[top]} of {letters} letters are {top}"
    if not words_too:
        return None, "Latin script, language not told from options"
    words = [t for t in tokens(text) if t.isalpha()]
    english = sum(1 for w in words if w in _ENGLISH)
    if words and english >= ENGLISH_SHARE * len(words):
        return "en", f"{english} of {len(words)} words are English function words"
    if sum(1 for w in words if len(w) >= 3) < MIN_WORDS:
        return None, "too few words to tell the language"
    found = _langdetect(text)
    if found is None or found[1] < LANGDETECT_P:
        return None, "langdetect is unsure"
    return found[0], f"langdetect: {found[0]} (p = {found[1]:.2f})"


def language_mismatch(items: Sequence[Item], declared: Sequence[str]) -> list[Finding]:
    if not declared:
        raise CheckSkipped("the definition declares no language (about.languages)")
    wanted = {code.split("-")[0].lower() for code in declared}
    findings = []
    for item in items:
        if item.split != "test":
            continue
        text = "\n".join([item.question_text(), *(item.choices or ())])
        if "zh" in wanted and any("\u3400" <= ch <= "\u9fff" for ch in text):
            continue
        code, how = detect_language(item.question_text())
        if code is None:  # the options, by their writing system only (see the module docstring)
            code, how = detect_language(text, words_too=False)
        if code is None or code in wanted:
            continue
        reason = f"written in {code} ({how}); the benchmark declares {', '.join(sorted(wanted))}"
        findings.append(Finding("language_mismatch", (item.key,), reason, "language_mismatch"))
    return findings
