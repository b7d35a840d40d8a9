"""Word, sentence and token counting for the IFEval checkers, without NLTK.

The reference checkers count words with the regular expression ``\\w+``, sentences with NLTK's
pre-trained English Punkt model and capitalised words with ``nltk.word_tokenize``. NLTK's model data
cannot be fetched here, so:

- ``count_words`` is exact (the same ``\\w+`` rule);
- ``count_sentences`` follows Punkt's published decision procedure (candidate ends ``.?!``, the
  token-level first and second passes, boundary realignment over closing quotes and brackets) but
  stands in for the learned statistics (abbreviations, sentence starters, orthographic contexts)
  with small hand-written lists, so it can differ on rare abbreviations;
- ``word_tokens`` splits as the Penn Treebank tokenizer does where it matters for counting
  all-capital words: punctuation, contractions (``DON'T`` -> ``DO`` ``N'T``), ``cannot``.

Every function here runs in time linear in the text (no regular expression that can backtrack over
long runs of whitespace or brackets): responses are arbitrary model output.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

_WORD = re.compile(r"\w+")


def count_words(text: str) -> int:
    """Number of ``\\w+`` runs (letters, digits, underscore; any script)."""
    return sum(1 for _ in _WORD.finditer(text))


# --- sentences (Punkt-like) -------------------------------------------------------------------------

# Characters that may directly follow a sentence end and still make it a candidate (Punkt's "non-word").
_NON_WORD_CHARS = ")\";}]*:@'({[!?"
_NON_WORD = "[" + re.escape(_NON_WORD_CHARS) + "]"
_MULTI_CHAR = r"(?:-{2,}|\.{2,}|(?:\.\s){2,}\.)"
# a sentence-end character followed by a non-word character, or by whitespace and a next token
_CANDIDATE = re.compile(r"[.?!](?=(?P<after>" + _NON_WORD + r"|\s+(?P<next>\S+)))")
# Punkt's word tokenization: multi-character punctuation, words (which cannot start with some
# punctuation and end before whitespace, non-word punctuation or a word-final comma), or one character
_WORD_START = r"[^(\"`{\[:;&#*@)}\]\-,\s]"
_TOKEN = re.compile(
    _MULTI_CHAR
    + r"|(?="
    + _WORD_START
    + r")\S+?(?=\s|$|"
    + _NON_WORD
    + "|"
    + _MULTI_CHAR
    + r"|,(?=$|\s|"
    + _NON_WORD
    + "|"
    + _MULTI_CHAR
    + r"))|\S"
)
_NUMBER = re.compile(r"^-?[.,]?\d[\d,.-]*\.?$")
_ELLIPSIS = re.compile(r"\.\.+$")
_INITIAL = re.compile(r"[^\W\d]\.$")
# closing quotes and brackets that move to the end of the sentence before them
_REALIGN = re.compile(r"[\"')\]}]+?(?:\s+|(?=--)|$)")


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Stand-ins for the statistics Punkt learned from its English training corpus.
ABBREVIATIONS = _word_set(
    """
    mr mrs ms dr prof sr jr st mt ft messrs lt sgt capt cmdr adm gov supt
    inc ltd co corp bros llc dept univ assn
    jan feb apr jun jul aug sep sept oct nov tue tues thu thur thurs fri
    e.g i.e vs cf approx a.m p.m vol vols figs pp ave blvd
    u.s u.k u.n u.s.a d.c n.y l.a
    """
)
"""Unambiguous abbreviations only: a word that also ends sentences ("no.", "sat.", "fig.") is left out."""
# words that, capitalised after an abbreviation, start a sentence (and that occur in lower case)
SENT_STARTERS = _word_set(
    """
    a an the this that these those it its he she they we i you his her their our my your
    but and or so yet if when while although though because since after before as at in on
    for from by with to of then there here however also instead still meanwhile moreover
    what why how who where which some many most all each every no not one two first finally
    """
)


@dataclass(slots=True)
class _Tok:
    text: str
    sentbreak: bool = False
    abbr: bool = False
    ellipsis: bool = False

    @property
    def type(self) -> str:
        return "##number##" if _NUMBER.match(self.text) else self.text.lower()

    @property
    def type_no_period(self) -> str:
        t = self.type
        return t[:-1] if len(t) > 1 and t.endswith(".") else t

    @property
    def type_no_sentperiod(self) -> str:
        return self.type_no_period if self.sentbreak else self.type

    @property
    def first_upper(self) -> bool:
        return self.text[:1].isupper()

    @property
    def first_lower(self) -> bool:
        return self.text[:1].islower()

    @property
    def is_initial(self) -> bool:
        return bool(_INITIAL.match(self.text))


def _ortho(tok: _Tok) -> bool | None:
    """Orthographic evidence that ``tok`` starts a sentence: False (it does not), True, None (unknown).

    Punkt decides from how the word was capitalised in its training corpus; without it, a token in
    lower case or a punctuation mark is taken as not starting a sentence, anything else as unknown.
    """
    if tok.text in (";", ":", ",", ".", "!", "?") or tok.first_lower:
        return False
    return None


def _annotate(tokens: list[_Tok]) -> None:
    for tok in tokens:  # first pass: what each token is on its own
        text = tok.text
        if text in (".", "?", "!"):
            tok.sentbreak = True
        elif _ELLIPSIS.match(text):
            tok.ellipsis = True
        elif text.endswith(".") and not text.endswith(".."):
            stem = text[:-1].lower()
            if stem in ABBREVIATIONS or stem.split("-")[-1] in ABBREVIATIONS:
                tok.abbr = True
            else:
                tok.sentbreak = True
    for tok, nxt in zip(tokens, tokens[1:], strict=False):  # second pass: in the light of the next token
        if not tok.text.endswith("."):
            continue
        if (tok.abbr or tok.ellipsis) and not tok.is_initial:
            if _ortho(nxt) is True or (nxt.first_upper and nxt.type_no_sentperiod in SENT_STARTERS):
                tok.sentbreak = True
            continue
        if tok.is_initial or tok.type_no_period == "##number##":
            evidence = _ortho(nxt)
            if evidence is False or (
                evidence is None
                and tok.is_initial
                and nxt.first_upper
                and nxt.type_no_sentperiod not in SENT_STARTERS  # i.e. never seen in lower case
            ):
                tok.sentbreak, tok.abbr = False, True


def _breaks_in(context: str) -> bool:
    tokens = [_Tok(m.group()) for m in _TOKEN.finditer(context)]
    _annotate(tokens)
    return any(tok.sentbreak for tok in tokens[:-1])


def _last_whitespace(text: str) -> int:
    for i in range(len(text) - 1, -1, -1):
        if text[i] in string.whitespace:
            return i
    return 0


def _sentence_slices(text: str) -> list[tuple[int, int]]:
    slices: list[tuple[int, int]] = []
    last_break = 0

    def decide(match: re.Match[str], context: str) -> None:
        nonlocal last_break
        if _breaks_in(context):
            slices.append((last_break, match.end()))
            last_break = match.start("next") if match.group("next") else match.end()

    prev: re.Match[str] | None = None
    prev_start = prev_stop = 0
    for match in _CANDIDATE.finditer(text):
        # the word before this sentence end; ends directly after another candidate merge with it
        k = _last_whitespace(text[prev_stop : match.start()])
        word_start = prev_stop + k + 1 if k else prev_start
        if prev is not None and prev_stop <= word_start:
            decide(prev, text[prev_start:prev_stop] + prev.group() + prev.group("after"))
        prev, prev_start, prev_stop = match, word_start, match.start()
    if prev is not None:
        decide(prev, text[prev_start:prev_stop] + prev.group() + prev.group("after"))
    slices.append((last_break, len(text.rstrip())))

    out: list[tuple[int, int]] = []
    shift = 0
    for i, (start, stop) in enumerate(slices):
        start += shift
        shift = 0
        if i + 1 < len(slices):
            nxt_start, nxt_stop = slices[i + 1]
            m = _REALIGN.match(text, nxt_start, max(nxt_start, nxt_stop))
            if m:
                out.append((start, nxt_start + len(m.group().rstrip())))
                shift = m.end() - nxt_start
                continue
        if stop > start:
            out.append((start, stop))
    return out


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` as Punkt would cut them (see the module docstring)."""
    return [text[a:b] for a, b in _sentence_slices(text)]


def count_sentences(text: str) -> int:
    return len(_sentence_slices(text))


# --- word tokens for capital-word counting ----------------------------------------------------------

# split off as their own tokens by the Treebank tokenizer (commas and colons only before a non-digit)
_TB_PUNCT = re.compile(r"\.\.\.|--|[;@#$%&?!()\[\]{}<>\"`]|[,:](?!\d)")
# a contraction at the end of a word (before a sentence-final period, which the tokenizer splits off)
_TB_CONTRACTION = re.compile(r"(?i)(?<=[^' ])(?:n't|'ll|'re|'ve|'s|'m|'d)(?=\.*$)")
# words the tokenizer cuts in two: the match is the first part
_TB_SPLIT_WORD = re.compile(r"(?i)^(?:can(?=not\b)|gon(?=na\b)|got(?=ta\b)|wan(?=na\b)|gim(?=me\b)|lem(?=me\b))")


def word_tokens(text: str) -> list[str]:
    """Tokens as the Treebank word tokenizer cuts them, as far as letters are concerned.

    Hyphenated words stay one token (``STATE-OF-THE-ART``), contractions split (``DON'T`` -> ``DO``,
    ``N'T``); punctuation-only pieces are dropped since they never count as capitalised words.
    """
    out: list[str] = []
    for chunk in text.split():
        for piece in _TB_PUNCT.split(chunk):
            if not piece:
                continue
            m = _TB_SPLIT_WORD.match(piece) or _TB_CONTRACTION.search(piece)
            if m and m.start() == 0:
                out.extend((piece[: m.end()], piece[m.end() :]))
            elif m:
                out.extend((piece[: m.start()], piece[m.start() :]))
            else:
                out.append(piece)
    return out
