"""CMRC 2018's exact match and F1, as its official evaluation script defines them.

The reference is ``squad-style-data/cmrc2018_evaluate.py`` (version "v5 - special") of ymcui/cmrc2018, the
script the authors score the SQuAD-style dev set with. Written anew here from its definitions:

- **Normalisation.** Lower-case, strip the ends, and drop every character of the script's punctuation list
  (:data:`PUNCTUATION`). Nothing else is dropped: ASCII ``.`` ``,`` ``!`` ``?`` ``'`` ``"`` ``(`` ``)``, the
  opening quote ``‘`` and the ellipsis ``…`` stay (the script lists ``"……"`` as one two-character item, which
  never equals a single character, so it removes no ellipsis).
- **Exact match.** The normalised prediction equals the normalised form of one reference answer. Inner
  spaces count: ``"apple inc"`` is not ``"appleinc"``.
- **F1.** Prediction and answer are cut into tokens: each Chinese character (U+4E00 to U+9FA5, the script's
  range) is one token, and each run of other characters between them is cut into words (the script calls
  NLTK's ``word_tokenize`` there; :func:`english_tokens` follows its rules, see below). The overlap is the
  longest *contiguous* run of tokens the two share (the script's ``find_lcs``); precision is that length over
  the prediction's tokens, recall over the answer's, F1 their harmonic mean, 0 when they share nothing.
- **Several answers.** Both metrics take the best over the reference answers.

Known deviation: NLTK first splits a run into sentences (Punkt) and then tokenises each with its Treebank
rules; here a run is one sentence, so a period inside a run (``"U.S. Army. Then"``) stays attached unless it
ends the run, and NLTK's few English contractions that split one word in two (``cannot``, ``gonna``) are not
split. The rules are those of current NLTK (3.x), not necessarily of the 2018 release the script ran with.
Answers in CMRC are Chinese spans with short Latin, number and unit runs, where the two agree
(``tests/test_chinese_sets.py`` compares the tokenizer with NLTK's where NLTK is installed).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["PUNCTUATION", "english_tokens", "exact_match", "f1", "normalize", "segment"]

PUNCTUATION = frozenset("-:_*^/\\~`+=，。：？！“”；’《》·、「」（）－～『』")
"""The characters the official script removes before comparing (its ``sp_char`` list, less the "……" item)."""


def _is_chinese(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fa5"


def normalize(text: str) -> str:
    """The text as exact match compares it: lower-cased, ends stripped, then the punctuation removed."""
    return "".join(ch for ch in text.lower().strip() if ch not in PUNCTUATION)


# --------------------------------------------------------------------------------------------------
# Words of a non-Chinese run, by the rules of NLTK's Treebank word tokenizer that such runs meet

# always tokens of their own: opening quotes (first, so that a '"' after one opens), punctuation, and brackets
# (after the closing-quote rule, which must not see a space before a bracket)
_OPENERS = re.compile(r"([«“‘„]|`+)")
_ALONE = re.compile(r"([;@#$%&?!*\u2012-\u2015]|\.{2,})")
_BRACKETS = re.compile(r"([\[\](){}<>]|--)")
# a comma (or colon) is a token unless a digit follows it: "3,000" stays one number
_COMMA = re.compile(r"([,:])(?!\d)")
# the period that ends the run, before any closing brackets or quotes (not a ".." run)
_FINAL_PERIOD = re.compile(r"(?<=[^.])\.(?=[\])}>\"'»”’ ]*$)")
# a double quote (or two single ones) opens where it follows a space or an opening bracket, and a double
# quote opens at the very start; every other one closes
_OPENING_QUOTE = re.compile(r"""(?<=[\s(\[{<])("|'')""")
_CLOSING_QUOTE = re.compile(r"''|\"|[»”’]")
# a single quote closing a word before a space ("dogs' bone"); one ending the run is a clitic below
_QUOTE_BEFORE_SPACE = re.compile(r"(?<=[^'])' ")
# the endings split off a word, in two passes as NLTK does ("don't's" -> do n't 's): "'s", "'m", "'d" and a
# lone closing "'", then "'ll", "'re", "'ve", "n't"
_CLITICS = (
    re.compile(r"(?i)(?<=[^'\s])('s|'m|'d|')(?=\s)"),
    re.compile(r"(?i)(?<=[^'\s])('ll|'re|'ve|n't)(?=\s)"),
)
# an opening single quote before a word that is not a contraction ("'hello" but not "'s")
_OPENING_APOSTROPHE = re.compile(r"(?i)(?<!\w)'(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)")


def english_tokens(run: str) -> list[str]:
    """The words of a run of non-Chinese text, as NLTK's Treebank word tokenizer cuts one sentence: brackets,
    ``? ! ; @ # $ % & *``, dashes and quotes apart; a comma or colon apart unless a digit follows; the final
    period apart; ``'s``, ``n't`` and the like split off their word; double quotes written as ``````
    (opening) or ``''`` (closing)."""
    text = _OPENERS.sub(r" \1 ", run)
    text = " `` " + text[1:] if text.startswith('"') else text
    text = _OPENING_QUOTE.sub(" `` ", text)
    text = _OPENING_APOSTROPHE.sub("' ", text)
    text = _FINAL_PERIOD.sub(" . ", text)
    text = _COMMA.sub(r" \1 ", text)
    text = _ALONE.sub(r" \1 ", text)
    text = _QUOTE_BEFORE_SPACE.sub(" ' ", text)
    text = _BRACKETS.sub(r" \1 ", text)
    text = _CLOSING_QUOTE.sub(lambda m: " '' " if m.group() in ("''", '"') else f" {m.group()} ", text)
    text += " "
    for clitic in _CLITICS:
        text = clitic.sub(r" \1", text)
    return text.split()


def segment(text: str) -> list[str]:
    """The tokens F1 counts: punctuation removed, each Chinese character a token, the runs between cut into
    words by :func:`english_tokens`."""
    tokens: list[str] = []
    run: list[str] = []
    for ch in text.lower().strip():
        if ch in PUNCTUATION:
            continue  # dropped, not a boundary: "ω-force" is the one word "ωforce"
        if _is_chinese(ch):
            if run:
                tokens.extend(english_tokens("".join(run)))
                run = []
            tokens.append(ch)
        else:
            run.append(ch)
    if run:
        tokens.extend(english_tokens("".join(run)))
    return tokens


def _longest_common_run(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest contiguous run of tokens found in both sequences."""
    best = 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            if x == y:
                current[j] = previous[j - 1] + 1
                if current[j] > best:
                    best = current[j]
        previous = current
    return best


def _f1_one(answer: str, prediction_tokens: list[str]) -> float:
    answer_tokens = segment(answer)
    common = _longest_common_run(answer_tokens, prediction_tokens)
    if common == 0:
        return 0.0
    precision = common / len(prediction_tokens)
    recall = common / len(answer_tokens)
    return 2 * precision * recall / (precision + recall)


def f1(prediction: str, answers: Sequence[str]) -> float:
    """The best F1 of the prediction against any reference answer (0 when there are none)."""
    tokens = segment(prediction)
    return max((_f1_one(answer, tokens) for answer in answers), default=0.0)


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised reference answer, else 0.0."""
    predicted = normalize(prediction)
    return float(any(normalize(answer) == predicted for answer in answers))
