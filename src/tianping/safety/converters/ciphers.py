"""Pure encode/decode functions behind the encoding converters.

Decoders are written for *model answers*, not only for exact ciphertext: an answer often mixes encoded
spans with plain words ("Sure! aG93IHRv..."), so the decoders translate what they recognise and leave
the rest untouched rather than failing on the first foreign character.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse

# --- base64 ---------------------------------------------------------------------------------------

_B64_RUN = re.compile(r"[A-Za-z0-9+/]{8,}={0,2}")


def b64_encode(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _b64_try(chunk: str) -> str | None:
    if len(chunk) % 4:
        return None
    try:
        return base64.b64decode(chunk, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def b64_decode(answer: str) -> str:
    whole = _b64_try(re.sub(r"\s+", "", answer))
    if whole is not None and answer.strip():
        return whole
    return _B64_RUN.sub(lambda m: _b64_try(m.group(0)) or m.group(0), answer)


# --- letter substitutions (ASCII letters only; everything else passes through) ------------------------


def shift_letters(text: str, shift: int) -> str:
    """Caesar shift of ASCII letters; ROT13 is ``shift=13``."""
    out = []
    for ch in text:
        if "a" <= ch <= "z":
            out.append(chr((ord(ch) - 97 + shift) % 26 + 97))
        elif "A" <= ch <= "Z":
            out.append(chr((ord(ch) - 65 + shift) % 26 + 65))
        else:
            out.append(ch)
    return "".join(out)


def atbash(text: str) -> str:
    """Mirror the alphabet (a<->z, b<->y); its own inverse."""
    out = []
    for ch in text:
        if "a" <= ch <= "z":
            out.append(chr(219 - ord(ch)))
        elif "A" <= ch <= "Z":
            out.append(chr(155 - ord(ch)))
        else:
            out.append(ch)
    return "".join(out)


# --- leetspeak ------------------------------------------------------------------------------------

_LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7", "b": "8", "g": "9"}
_UNLEET = {v: k for k, v in _LEET.items()}
_WORD = re.compile(r"[A-Za-z0-9]+")


def leet_encode(text: str) -> str:
    return "".join(_LEET.get(ch.lower(), ch) for ch in text)


def leet_decode(answer: str) -> str:
    """Undo leet digits in tokens that also hold letters.

    All-digit tokens are ambiguous ("47" is "at" in leet, a number in prose); they are decoded only when short
    (up to three digits) and the answer as a whole is written in leet, so ordinary numbers in a plain answer
    survive.
    """
    tokens = _WORD.findall(answer)
    mixed = sum(1 for t in tokens if any(ch.isalpha() for ch in t) and any(ch in _UNLEET for ch in t))
    leet_heavy = bool(tokens) and mixed >= 0.3 * len(tokens)

    def fix(m: re.Match[str]) -> str:
        token = m.group(0)
        if not any(ch.isalpha() for ch in token) and not (leet_heavy and len(token) <= 3):
            return token
        return "".join(_UNLEET.get(ch, ch) for ch in token)

    return _WORD.sub(fix, answer)


# --- word order -----------------------------------------------------------------------------------


def reverse_words(text: str) -> str:
    """Reverse the order of space-separated words; its own inverse."""
    return " ".join(reversed(text.split(" ")))


# --- Morse ----------------------------------------------------------------------------------------

MORSE = {
    "a": ".-", "b": "-...", "c": "-.-.", "d": "-..", "e": ".", "f": "..-.", "g": "--.", "h": "....",
    "i": "..", "j": ".---", "k": "-.-", "l": ".-..", "m": "--", "n": "-.", "o": "---", "p": ".--.",
    "q": "--.-", "r": ".-.", "s": "...", "t": "-", "u": "..-", "v": "...-", "w": ".--", "x": "-..-",
    "y": "-.--", "z": "--..", "0": "-----", "1": ".----", "2": "..---", "3": "...--", "4": "....-",
    "5": ".....", "6": "-....", "7": "--...", "8": "---..", "9": "----.", ".": ".-.-.-", ",": "--..--",
    "?": "..--..", "'": ".----.", "!": "-.-.--", "/": "-..-.", "(": "-.--.", ")": "-.--.-", "&": ".-...",
    ":": "---...", ";": "-.-.-.", "=": "-...-", "+": ".-.-.", "-": "-....-", "_": "..--.-", '"': ".-..-.",
    "$": "...-..-", "@": ".--.-.",
}  # fmt: skip
_UNMORSE = {v: k for k, v in MORSE.items()}


def morse_unsupported(text: str) -> set[str]:
    """Characters Morse cannot carry (besides spaces and newlines)."""
    return {ch for ch in text.lower() if ch not in MORSE and ch not in " \n"}


def morse_encode(text: str) -> str:
    """Letters are separated by one space, words by `` / ``, lines stay lines; case is lost (Morse has none)."""
    lines = []
    for line in text.lower().split("\n"):
        words = [w for w in line.split(" ") if w]
        lines.append(" / ".join(" ".join(MORSE[ch] for ch in w) for w in words))
    return "\n".join(lines)


def morse_decode(answer: str) -> str:
    lines = []
    for line in answer.split("\n"):
        words = [w.strip() for w in line.split("/")]
        lines.append(" ".join("".join(_UNMORSE.get(tok, tok) for tok in w.split()) for w in words if w))
    return "\n".join(lines)


# --- hex and binary bytes -------------------------------------------------------------------------

_HEX_RUN = re.compile(r"\b[0-9a-fA-F]{2}(?:[ \t]+[0-9a-fA-F]{2})+\b")
_BIN_RUN = re.compile(r"\b[01]{8}(?:[ \t]+[01]{8})*\b")


def hex_encode(text: str) -> str:
    return " ".join(f"{b:02x}" for b in text.encode("utf-8"))


def _bytes_or_none(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def hex_decode(answer: str) -> str:
    def fix(m: re.Match[str]) -> str:
        decoded = _bytes_or_none(bytes(int(t, 16) for t in m.group(0).split()))
        return m.group(0) if decoded is None else decoded

    return _HEX_RUN.sub(fix, answer)


def bin_encode(text: str) -> str:
    return " ".join(f"{b:08b}" for b in text.encode("utf-8"))


def bin_decode(answer: str) -> str:
    def fix(m: re.Match[str]) -> str:
        decoded = _bytes_or_none(bytes(int(t, 2) for t in m.group(0).split()))
        return m.group(0) if decoded is None else decoded

    return _BIN_RUN.sub(fix, answer)


# --- percent encoding and \\u escapes ---------------------------------------------------------------


def url_encode(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def url_decode(answer: str) -> str:
    return urllib.parse.unquote(answer)


_UESC_PAIR = re.compile(r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})")
_UESC = re.compile(r"\\u([0-9a-fA-F]{4})")


def uescape_encode(text: str) -> str:
    """Every character as ``\\uXXXX`` (characters beyond the BMP as a surrogate pair, as JSON does)."""
    units = text.encode("utf-16-be")
    return "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))


def uescape_decode(answer: str) -> str:
    def pair(m: re.Match[str]) -> str:
        high, low = int(m.group(1), 16), int(m.group(2), 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))

    def single(m: re.Match[str]) -> str:
        code = int(m.group(1), 16)
        return m.group(0) if 0xD800 <= code <= 0xDFFF else chr(code)  # a lone surrogate cannot become text

    return _UESC.sub(single, _UESC_PAIR.sub(pair, answer))


# --- homoglyphs and invisible characters ----------------------------------------------------------

HOMOGLYPHS = {
    "a": "\u0430", "c": "\u0441", "e": "\u0435", "i": "\u0456", "j": "\u0458", "o": "\u043e", "p": "\u0440",
    "s": "\u0455", "x": "\u0445", "y": "\u0443", "A": "\u0410", "B": "\u0412", "C": "\u0421", "E": "\u0415",
    "H": "\u041d", "I": "\u0406", "K": "\u041a", "M": "\u041c", "O": "\u041e", "P": "\u0420", "T": "\u0422",
    "X": "\u0425",
}  # fmt: skip
"""Latin letters and their Cyrillic look-alikes: same glyph on screen, different code point for a filter."""
_UNHOMOGLYPH = {v: k for k, v in HOMOGLYPHS.items()}


def homoglyph_encode(text: str) -> str:
    return "".join(HOMOGLYPHS.get(ch, ch) for ch in text)


def homoglyph_decode(answer: str) -> str:
    return "".join(_UNHOMOGLYPH.get(ch, ch) for ch in answer)


ZERO_WIDTH = "\u200b"
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")


def zero_width_encode(text: str) -> str:
    return ZERO_WIDTH.join(text)


def strip_invisible(answer: str) -> str:
    return _INVISIBLE.sub("", answer)


def has_invisible(text: str) -> bool:
    return _INVISIBLE.search(text) is not None


# --- spacing out characters -----------------------------------------------------------------------

SPACERS = ("-", "*", "|", "~", "+", "^")


def spacer_for(text: str) -> str | None:
    """The first separator that the text does not already use, so the spacing can be undone exactly."""
    return next((s for s in SPACERS if s not in text), None)


def space_chars(text: str, sep: str) -> str:
    """Put ``sep`` between the characters of each whitespace-delimited run ("how to" -> "h-o-w t-o")."""
    return re.sub(r"\S+", lambda m: sep.join(m.group(0)), text)


def unspace_chars(answer: str, sep: str) -> str:
    return re.sub(rf"(?<=\S){re.escape(sep)}(?=\S)", "", answer)
