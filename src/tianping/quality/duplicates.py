"""Exact and near duplicates, within a split and between the scored split and the few-shot pool.

*Exact*: the same texts and the same set of options after ``normalize`` and with spacing dropped (case, Unicode
width, quote styles and spaces do not count, nor does the order of the options).

*Near*: MinHash LSH (``datasketch``) over the words of each item's question and options proposes pairs; a pair
is kept when, compared exactly,

- its questions' words (Han characters taken in pairs) have Jaccard similarity >= ``threshold``, after the
  boilerplate of the split is taken out (a sentence that five or more items share, such as MMLU's "Construct a
  complete truth table for the following argument ..."): what is left is what the item asks. Words rather than
  character shingles, because one replaced word in a twelve-word question costs a third of its 5-character
  shingles but a seventh of its words;
- what differs is spread thin: no run of more than ``MAX_RUN`` differing tokens (a paraphrase changes a word here
  and there; a second question on the same passage replaces a whole sentence);
- its contexts, where it has some, have Jaccard >= ``threshold`` too (two questions on one passage differ);
- its options' words, for multiple choice, have Jaccard >= ``choice_threshold`` (one stem with other options
  asks something else); options written into the question (BBH's "Options:\n(A) ...") count as options;
- its short fields (40 characters or fewer: a name, a pronoun, a number) are equal: in a short field a single
  word is the whole difference (CLUEWSC asks about one sentence with one candidate after another);
- its questions hold the same numbers, mathematical symbols, one-letter variables, negations and pronouns: "the
  maximum order of an element of S_n for n = 10" and "... n = 6", "the function f must be injective" and "the
  function g ...", "which is used" and "which is not used", "because he had" and "because she had" are two
  questions with two answers, however alike they read.

A subject generated from templates (BBH's logical deduction: one puzzle frame, names and orders swapped) is near
copies by construction: where ``TEMPLATED_SHARE`` of a subject's items (of a dataset with several subjects) are in
near-duplicate groups, its groups are left out and the subject is named instead.

Two questions made of the same characters in another order ask different things (CLUEWSC marks the pronoun at
another place in one sentence, GSM-Plus swaps "initial" and "final", BBH reorders a boolean expression): they
are not near duplicates. Near copies with different gold answers are two questions too ("how many seasons of the
Rugrats" and "... of The Bastard Executioner", "the sum of f and g" and "the product ..."), except where their
questions are alike to ``CONFLICT_SIMILARITY``: then one label may be wrong. The gold of one is matched to the
most similar option of the other (options may be worded apart).

Duplicates, exact or near, whose gold answers differ are also ``suspicious_label`` findings.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from difflib import SequenceMatcher

from tianping.quality.findings import CheckSkipped, Finding
from tianping.quality.items import Item, normalize
from tianping.quality.text import shingles

__all__ = ["exact_duplicates", "near_duplicates"]

SHORT = 40
"""A text field this long or shorter (normalized) must match exactly in a near duplicate."""
MIN_WORDS = 8
"""Questions with fewer distinct words (Han characters count as words; boilerplate out) are compared exactly
only: "False and not True or False is" and its reordering are two questions built from six words."""
BOILERPLATE = 5
"""A sentence shared by this many items of a split is boilerplate."""
MAX_RUN = 6
"""The longest run of differing tokens a near duplicate may have."""
TEMPLATED_SHARE = 0.2
"""A subject with this share of its items in near-duplicate groups is generated from templates."""
CONFLICT_SIMILARITY = 0.9
"""Near duplicates this similar whose golds differ are label conflicts."""

_SPACES = re.compile(r"\s+")
_SENTENCE = re.compile(r"(?<=[.?!。？！])\s+|\n+")
_PIECE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W_]+|[^\w\s]", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NUMBER_OR_PIECE = re.compile(r"\d+(?:[.,]\d+)*|[\u3400-\u9fff\uf900-\ufaff]|[^\W_]+|[^\w\s]", re.UNICODE)
_NEGATIONS = frozenset(
    {"not", "no", "never", "none", "except", "cannot", "false", "incorrect", "least", "n't",
     "不", "没", "非", "未", "无"}
)  # fmt: skip
_PRONOUNS = frozenset(
    {"he", "she", "him", "her", "his", "hers", "they", "them", "their", "it", "its", "他", "她", "它"}
)
MEANING_WORDS = _NEGATIONS | _PRONOUNS
"""Words that change what a question asks however alike the rest reads: near duplicates must hold the same."""
_INLINE_OPTION = re.compile(r"^\s*\(?([A-Z])[).:]\s*(.+?)\s*$", re.MULTILINE)


def inline_options(text: str) -> list[str] | None:
    """Options written into a question as lines ``(A) text`` / ``A. text`` / ``A) text``, lettered from A in
    order; None when there are not two such lines."""
    found = _INLINE_OPTION.findall(text)
    letters = [letter for letter, _ in found]
    if len(found) >= 2 and letters == [chr(ord("A") + i) for i in range(len(found))]:
        return [option for _, option in found]
    return None


def _exact_key(item: Item) -> tuple[object, ...] | None:
    texts = tuple(_SPACES.sub("", normalize(t)) for t in item.texts.values())
    choices = tuple(sorted(_SPACES.sub("", normalize(c)) for c in item.choices)) if item.choices is not None else None
    if not any(texts) and not choices:
        return None
    return texts, choices


def _gold_text(item: Item) -> frozenset[str]:
    if item.is_mc:
        return frozenset(normalize(a) for a in item.answers)
    return frozenset({normalize(item.target)})


def _where(item: Item) -> str:
    return f"{item.split} {item.id} ({item.where})"


def _split_phrase(group: Sequence[Item]) -> str:
    splits = {i.split for i in group}
    if splits == {"test"}:
        return "within the scored split"
    if splits == {"fewshot"}:
        return "within the few-shot pool"
    return "in both the scored split and the few-shot pool"


def _jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def _agree(a: Item, b: Item) -> bool:
    """Whether two (near) duplicates have the same gold: the same answer text, or, for options worded apart, each
    gold option of ``a`` is most like a gold option of ``b``. Items whose target is no answer (a code task's
    function name) have no gold to disagree on."""
    if _gold_text(a) == _gold_text(b) or not (a.is_mc or a.answers) or not (b.is_mc or b.answers):
        return True
    if not (a.is_mc and b.is_mc and a.gold and b.gold and a.choices and b.choices):
        return False
    others = [_option_tokens(c) for c in b.choices]
    plain = [normalize(c) for c in b.choices]
    for index in a.gold:
        mine = normalize(a.choices[index])
        if mine in plain:  # the same text: its position in b says it all
            closest = plain.index(mine)
        else:  # reworded: the option with most tokens in the same order ("1.5 times" is nearer "1.5 times only"
            # than "2.5 times"; "Object 1, Object 3, Object 2" nearer "... only" than "Object 1, Object 2, Object 3")
            tokens = _option_tokens(a.choices[index])
            closest = max(
                range(len(others)), key=lambda j: SequenceMatcher(None, tokens, others[j], autojunk=False).ratio()
            )
        if closest not in b.gold:
            return False
    return True


def _option_tokens(text: str) -> list[str]:
    return [p for p in _NUMBER_OR_PIECE.findall(normalize(text)) if p[0].isalnum()] or [normalize(text)]


def _label_conflict(group: Sequence[Item], how: str, check: str) -> Finding | None:
    first = group[0]
    if all(_agree(first, other) for other in group[1:]):
        return None
    shown = "; ".join(f"{i.id}: {i.target!r}" for i in group)
    verdict = "at most one can be right" if how == "exact duplicates" else "unless they ask different things"
    return Finding(
        kind="suspicious_label",
        items=tuple(i.key for i in group),
        reason=f"{how} with different gold answers ({shown}): {verdict}",
        check=check,
    )


def exact_duplicates(items: Sequence[Item]) -> list[Finding]:
    groups: dict[tuple[object, ...], list[Item]] = defaultdict(list)
    for item in items:
        key = _exact_key(item)
        if key is not None:
            groups[key].append(item)
    findings = []
    for group in groups.values():
        if len(group) < 2:
            continue
        shuffled = len({i.choices for i in group}) > 1 and all(i.choices is not None for i in group)
        reason = f"{len(group)} copies {_split_phrase(group)}: " + ", ".join(_where(i) for i in group)
        if shuffled:
            reason += " (options in another order)"
        findings.append(Finding("duplicate", tuple(i.key for i in group), reason, "exact_duplicates", 1.0))
        conflict = _label_conflict(group, "exact duplicates", "exact_duplicates")
        if conflict is not None:
            findings.append(conflict)
    return findings


def _sentences(text: str) -> list[str]:
    return [s for s in (normalize(part) for part in _SENTENCE.split(text)) if s]


def _boilerplate(items: Sequence[Item]) -> dict[str, set[str]]:
    """Split -> the sentences of its questions that ``BOILERPLATE`` or more items share."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for item in items:
        counts[item.split].update(set(_sentences(item.question_text())))
    return {split: {s for s, n in c.items() if n >= BOILERPLATE} for split, c in counts.items()}


def _is_math(ch: str) -> bool:
    return unicodedata.category(ch) == "Sm" or ch in "*/^|&~"


class _Parts:
    """One item cut into what a near-duplicate comparison looks at."""

    __slots__ = ("choices", "context", "letters", "pieces", "question", "short", "signs", "words")

    def __init__(self, item: Item, boilerplate: set[str]) -> None:
        self.short: dict[str, str] = {}
        question: list[str] = []
        context: list[str] = []
        for name, text in item.texts.items():
            norm = normalize(text)
            if len(norm) <= SHORT:
                self.short[name] = norm
            elif name in item.context:
                context.append(text)
            else:
                question.extend(s for s in _sentences(text) if s not in boilerplate)
        asked = "\n".join(question)
        self.pieces = _PIECE.findall(asked)
        self.letters = "".join(sorted(asked.replace(" ", "").replace("\n", "")))
        words = [p for p in self.pieces if p[0].isalnum()]
        self.words = _word_set(words)
        self.question = self.words if len(set(words)) >= MIN_WORDS else set()
        self.signs = (
            Counter(_NUMBER.findall(asked)),
            Counter(ch for ch in asked if _is_math(ch)),
            Counter(p for p in self.pieces if (len(p) == 1 and p.isalpha() and p not in "ai") or p in MEANING_WORDS),
        )
        self.context = shingles("\n".join(context)) if context else set()
        self.choices: set[str] | None = None
        options = item.choices if item.choices is not None else inline_options(item.question_text())
        if options is not None:
            pieces = [p for choice in options for p in _PIECE.findall(normalize(choice))]
            self.choices = _word_set(pieces) or {normalize(c) for c in options}

    def signature(self) -> set[str]:
        """What LSH hashes: not the context, which a split's items may share wholesale (BBH's chain-of-thought
        prompt, a passage under five questions) and would make every pair a candidate."""
        options = {"\x1f" + w for w in self.choices or ()}
        return self.question | options | {f"{k}={v}" for k, v in self.short.items()}


def _word_set(words: list[str]) -> set[str]:
    """Words, with each run of Han characters cut into overlapping pairs (one character is too common to count)."""
    out: set[str] = set()
    run: list[str] = []
    for word in [*words, ""]:
        if len(word) == 1 and "\u3400" <= word <= "\u9fff":
            run.append(word)
            continue
        if run:
            out.update(run[0:1] if len(run) == 1 else (a + b for a, b in zip(run, run[1:], strict=False)))
            run = []
        if word:
            out.add(word)
    return out


def _longest_difference(a: list[str], b: list[str]) -> int:
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    return max((max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"), default=0)


def _similar(a: _Parts, b: _Parts, threshold: float, choice_threshold: float) -> float | None:
    """The questions' similarity when the pair is a near duplicate (see the module docstring), else None."""
    if a.short != b.short or not a.question or not b.question or a.signs != b.signs:
        return None
    if min(len(a.words), len(b.words)) < threshold * max(len(a.words), len(b.words)):
        return None  # the sizes alone keep the similarity under the bar
    sim = _jaccard(a.words, b.words)
    if sim < threshold:
        return None
    if (a.context or b.context) and _jaccard(a.context, b.context) < threshold:
        return None
    if (a.choices is None) != (b.choices is None):
        return None
    if a.choices is not None and b.choices is not None and _jaccard(a.choices, b.choices) < choice_threshold:
        return None
    if _longest_difference(a.pieces, b.pieces) > MAX_RUN:
        return None
    return sim


def near_duplicates(
    items: Sequence[Item],
    *,
    threshold: float = 0.7,
    choice_threshold: float = 0.5,
    num_perm: int = 128,
    seed: int = 1,
) -> tuple[list[Finding], dict[str, tuple[int, int]]]:
    """Near duplicates that are not exact ones, and the templated subjects left out (subject -> items in groups,
    items); see the module docstring. Needs ``datasketch``."""
    try:
        from datasketch import MinHash, MinHashLSH
    except ImportError:
        raise CheckSkipped("near duplicates need the 'datasketch' package: pip install 'tianping[quality]'") from None
    exact = {item.key: _exact_key(item) for item in items}
    boilerplate = _boilerplate(items)
    parts = {}
    for item in items:
        p = _Parts(item, boilerplate.get(item.split, set()))
        if p.question:
            parts[item.key] = p
    keys = list(parts)
    # a looser bar for candidates than for the verdict: LSH misses some pairs just above its threshold
    lsh = MinHashLSH(threshold=max(0.3, threshold - 0.25), num_perm=num_perm)
    sets = [[s.encode("utf-8") for s in parts[k].signature()] for k in keys]
    # CRC-32 instead of datasketch's SHA-1: a C call per shingle, and 32 bits is what MinHash keeps anyway
    hashes = MinHash.bulk(sets, num_perm=num_perm, seed=seed, hashfunc=zlib.crc32)
    with lsh.insertion_session() as session:
        for key, mh in zip(keys, hashes, strict=True):
            session.insert(key, mh)
    by_key = {i.key: i for i in items}
    parent: dict[str, str] = {}

    def root(k: str) -> str:
        while parent.get(k, k) != k:
            k = parent[k]
        return k

    textual: dict[str, float] = {}  # every item in a pair that reads alike, for the templated subjects
    best: dict[str, float] = {}
    conflicts: set[str] = set()
    for key, mh in zip(keys, hashes, strict=True):
        for other in lsh.query(mh):
            if other <= key or exact[other] == exact[key]:
                continue
            sim = _similar(parts[key], parts[other], threshold, choice_threshold)
            if sim is None:
                continue
            textual[key] = textual[other] = 1.0
            if parts[key].letters == parts[other].letters:
                continue  # the same characters rearranged asks something else (see the module docstring)
            if not _agree(by_key[key], by_key[other]):
                if sim < CONFLICT_SIMILARITY:
                    continue  # two answers: two questions, unless the wording is the same but for a word or two
                conflicts.add(key)
            a, b = root(key), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
            best[key] = max(best.get(key, 0.0), sim)
            best[other] = max(best.get(other, 0.0), sim)
    groups: dict[str, list[Item]] = defaultdict(list)
    for key in best:
        groups[root(key)].append(by_key[key])
    templated = _templated(items, textual)
    findings = []
    for group in groups.values():
        if any(i.group in templated for i in group):
            continue
        group.sort(key=lambda i: (i.split != "test", i.key))
        score = min(best[i.key] for i in group)
        reason = f"{len(group)} near copies {_split_phrase(group)} (question similarity >= {score:.2f}): " + ", ".join(
            _where(i) for i in group
        )
        findings.append(Finding("near_duplicate", tuple(i.key for i in group), reason, "near_duplicates", score))
        if conflicts & {i.key for i in group}:
            conflict = _label_conflict(group, "near duplicates", "near_duplicates")
            if conflict is not None:
                findings.append(conflict)
    return findings, templated


def _templated(items: Sequence[Item], in_groups: dict[str, float]) -> dict[str, tuple[int, int]]:
    sizes = Counter(i.group for i in items if i.split == "test")
    if len(sizes) < 2:
        return {}
    hit = Counter(i.group for i in items if i.split == "test" and i.key in in_groups)
    return {g: (hit[g], sizes[g]) for g in hit if sizes[g] >= 10 and hit[g] >= TEMPLATED_SHARE * sizes[g]}
