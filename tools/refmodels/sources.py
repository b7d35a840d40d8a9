"""The Debian packages the reference corpus is made of, and how each one's files become plain-text documents.

Every source is an ordinary Debian package fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x``,
so anyone with the Debian archive can rebuild the same corpus. The licence of each package is written here as
read from its ``/usr/share/doc/<package>/copyright`` file (the builder also records that file's SHA-256, so a
changed licence shows up as a changed hash).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Source:
    """One Debian package and the reader that turns its unpacked tree into documents."""

    package: str
    license: str
    language: str
    reader: Callable[[Path], Iterator[tuple[str, str]]]  # unpacked root -> (relative file, document text)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_SKIP_FORTUNE_FILES = {"ascii-art", "art"}  # pictures drawn in characters teach a language model nothing useful


def _fortune_cookies(root: Path) -> Iterator[tuple[str, str]]:
    """Fortune files: cookies separated by lines holding a single ``%``; the ``.u8`` copy is the UTF-8 one."""
    base = root / "usr/share/games/fortunes"
    if not base.is_dir():
        raise FileNotFoundError(f"{base}: no fortune directory in the unpacked package")
    for dat in sorted(base.rglob("*.dat")):
        if "off" in dat.relative_to(base).parts[:-1] or dat.stem in _SKIP_FORTUNE_FILES:
            continue  # offensive cookies live under off/ in some packages: never part of the corpus
        text_file = dat.with_suffix(".u8") if dat.with_suffix(".u8").exists() else dat.with_suffix("")
        text = _ANSI.sub("", text_file.read_text(encoding="utf-8"))
        for cookie in re.split(r"(?m)^%\s*$", text):
            cookie = cookie.strip("\n")
            if cookie.strip():
                yield str(text_file.relative_to(root)), cookie


# roff escapes that stand for a character; everything else that starts with a backslash is dropped
_ROFF_CHARS = {
    r"\-": "-",
    r"\e": "\\",
    r"\(em": "—",
    r"\(en": "–",
    r"\(aq": "'",
    r"\(lq": '"',
    r"\(rq": '"',
    r"\(oq": "'",
    r"\(cq": "'",
    r"\(bu": "•",
    r"\(co": "©",
    r"\(dq": '"',
    r"\(ga": "`",
    r"\(ti": "~",
    r"\(ha": "^",
    r"\(rs": "\\",
    r"\(mu": "×",
    r"\(>=": ">=",
    r"\(<=": "<=",
    r"\ ": " ",
    r"\~": " ",
}
_ROFF_CHAR_RE = re.compile("|".join(re.escape(k) for k in sorted(_ROFF_CHARS, key=len, reverse=True)))
_ROFF_DROP_RE = re.compile(
    r"\\f(?:\(..|\[[^\]]*\]|.)"  # font changes
    r"|\\s[+-]?\d+"  # size changes
    r"|\\\*(?:\(..|\[[^\]]*\]|.)"  # string registers
    r"|\\n(?:\(..|\[[^\]]*\]|.)"  # number registers
    r"|\\\[[^\]]*\]|\\\(..|\\[&,/|^:%cdu0!]"  # other named characters and zero-width escapes
)
_ALTERNATING = {"B", "I", "BR", "RB", "BI", "IB", "IR", "RI", "SM", "SB"}
_KEEP_ARGS = {"SH", "SS", "IP", "TP", "UR", "MT", "Nm", "Nd", "Sh", "Ss", "Fn", "Xr"}


def _macro_args(text: str) -> list[str]:
    """Split a macro's argument string the way roff does: on spaces, with double quotes grouping words."""
    return [a.strip('"') for a in re.findall(r'"[^"]*"|\S+', text)]


def roff_to_text(source: str) -> str:
    """Plain text of a manual page: macros give their words (headings, bold/italic runs), escapes go away.

    This is deliberately simple (no macro expansion, no tables): the corpus needs readable sentences, not a
    faithful rendering, and a wrong character here only adds a little noise to the training text.
    """
    out: list[str] = []
    in_definition = False
    for line in source.splitlines():
        if in_definition:
            in_definition = not line.startswith("..")
            continue
        if line.startswith(('.\\"', "'\\\"", '.\\"', '\\"')) or line.strip() in {".", "'"}:
            continue
        if line.startswith((".", "'")):
            name, _, rest = line[1:].strip().partition(" ")
            if name in {"de", "de1", "am", "ig"}:
                in_definition = True
                continue
            if name in _ALTERNATING:
                joined = "".join(_macro_args(rest)) if len(name) == 2 else " ".join(_macro_args(rest))
                line = joined
            elif name in _KEEP_ARGS:
                line = " ".join(_macro_args(rest))
            elif name == "TH":
                args = _macro_args(rest)
                line = args[0] if args else ""
            else:
                continue  # layout requests (.PP, .RS, .sp, .nf, ...) carry no words
        line = _ROFF_CHAR_RE.sub(lambda m: _ROFF_CHARS[m.group(0)], line)
        line = _ROFF_DROP_RE.sub("", line)
        line = line.replace("\\", "")
        if line.strip():
            out.append(line.rstrip())
    return "\n".join(out)


def _man_pages(subdir: str) -> Callable[[Path], Iterator[tuple[str, str]]]:
    """Reader of the gzipped roff pages under ``usr/share/man/<subdir>``; a page that only ``.so``-includes another
    is skipped (its text is in the page it names)."""

    def read(root: Path) -> Iterator[tuple[str, str]]:
        base = root / "usr/share/man" / subdir
        if not base.is_dir():
            raise FileNotFoundError(f"{base}: no manual pages in the unpacked package")
        for page in sorted(base.glob("man*/*.gz")):
            raw = gzip.decompress(page.read_bytes()).decode("utf-8", errors="replace")
            if raw.lstrip().startswith(".so "):
                continue
            text = roff_to_text(raw)
            if len(text) >= 200:
                yield str(page.relative_to(root)), text

    return read


def _reference_text(name: str) -> Callable[[Path], Iterator[tuple[str, str]]]:
    """Reader of the Debian Reference plain-text edition, cut into documents of about 3,000 characters."""

    def read(root: Path) -> Iterator[tuple[str, str]]:
        path = root / "usr/share/debian-reference" / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the plain-text Debian Reference is missing from the package")
        text = gzip.decompress(path.read_bytes()).decode("utf-8")
        chunk: list[str] = []
        size = 0
        for paragraph in re.split(r"\n\s*\n", text):
            if not paragraph.strip():
                continue
            chunk.append(paragraph.rstrip())
            size += len(paragraph)
            if size >= 3000:
                yield str(path.relative_to(root)), "\n\n".join(chunk)
                chunk, size = [], 0
        if chunk:
            yield str(path.relative_to(root)), "\n\n".join(chunk)

    return read


SOURCES: tuple[Source, ...] = (
    Source(
        "fortunes",
        "BSD-style (fortune-mod, Ken Arnold / Univ. of California); cookies are short quotations "
        "distributed as part of the package",
        "en",
        _fortune_cookies,
    ),
    Source("fortunes-min", "BSD-style (fortune-mod, Ken Arnold / Univ. of California)", "en", _fortune_cookies),
    Source(
        "fortunes-zh",
        "GPL-3.0+ (Yu Guanghui); Tang and Song poems themselves are public domain",
        "zh",
        _fortune_cookies,
    ),
    Source(
        "manpages", "GPL-2+ and the various free licences of individual pages (see copyright)", "en", _man_pages("")
    ),
    Source(
        "manpages-zh",
        "GFDL-1.2+ / GPL-2.0 / BSD-2-Clause / CC0-1.0 (per page group, see copyright)",
        "zh",
        _man_pages("zh_CN"),
    ),
    Source("debian-reference-en", "GPL-2+ (Osamu Aoki)", "en", _reference_text("debian-reference.en.txt.gz")),
    Source(
        "debian-reference-zh-cn",
        "GPL-2+ (Osamu Aoki; Chinese translation)",
        "zh",
        _reference_text("debian-reference.zh-cn.txt.gz"),
    ),
)
