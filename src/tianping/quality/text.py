"""Text measures the checks share: scripts, tokens and shingles, in English and Chinese alike."""

from __future__ import annotations

import re

from tianping.quality.items import normalize

__all__ = ["cjk_share", "script_counts", "shingles", "tokens"]

_ALNUM = re.compile(r"[^\W_]", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]|[^\W_]+", re.UNICODE)
_SCRIPTS = (
    ("han", re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")),
    ("kana", re.compile(r"[\u3040-\u30ff]")),
    ("hangul", re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")),
    ("latin", re.compile(r"[A-Za-z\u00c0-\u024f]")),
    ("cyrillic", re.compile(r"[\u0400-\u04ff]")),
    ("greek", re.compile(r"[\u0370-\u03ff]")),
    ("arabic", re.compile(r"[\u0600-\u06ff]")),
    ("hebrew", re.compile(r"[\u0590-\u05ff]")),
    ("devanagari", re.compile(r"[\u0900-\u097f]")),
    ("thai", re.compile(r"[\u0e00-\u0e7f]")),
)


def cjk_share(text: str) -> float:
    """Han characters over all letters and digits."""
    letters = len(_ALNUM.findall(text))
    return len(_CJK.findall(text)) / letters if letters else 0.0


def script_counts(text: str) -> dict[str, int]:
    """Letters of each script in ``text`` (scripts with none left out)."""
    found = {name: len(pattern.findall(text)) for name, pattern in _SCRIPTS}
    return {k: v for k, v in found.items() if v}


def tokens(text: str) -> list[str]:
    """Words, and each Han character as a word of its own (Chinese is not written with spaces)."""
    return _TOKEN.findall(normalize(text))


def shingles(text: str) -> set[str]:
    """Character n-grams of the normalized text: 5 for alphabetic text, 3 where Han characters dominate (one
    Han character carries about what a short word does). Texts shorter than n give themselves."""
    norm = normalize(text)
    n = 3 if cjk_share(norm) >= 0.3 else 5
    if len(norm) <= n:
        return {norm} if norm else set()
    return {norm[i : i + n] for i in range(len(norm) - n + 1)}
