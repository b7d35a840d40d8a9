"""Best-of-N jailbreaking (Hughes et al. 2024, arXiv:2412.03556), text modality.

The request is resampled with random character-level augmentations until one sample gets an unsafe answer or
``best_of_n`` samples have been sent. The three augmentations of the paper are applied in its order: scrambling
the middle letters of words longer than three characters, flipping the case of letters, and shifting printable
ASCII characters by one code point (noise). Their probabilities follow the paper's single strength parameter
sigma: sqrt(sigma) for scrambling and case flips, sigma**3 for noise.

Sample ``i`` of a seed prompt is drawn from its own generator seeded by (run seed, seed prompt, method, i), so a
resumed or repeated run sends exactly the same prompts and finds their answers in the cache. No attacker model is
needed; the augmentations apply to Latin text, so the method is planned for English seed prompts only.
"""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING

from tianping.core import Message
from tianping.safety.converters.base import EN

from .common import AdaptiveConverter, Game

if TYPE_CHECKING:
    from tianping.spec import SafetyOptions

SIGMA = 0.4
"""The augmentation strength the paper uses for text."""
_WORD = re.compile(r"\S+")


def scramble_words(text: str, rng: random.Random, p: float) -> str:
    """Shuffle the inner letters of each word longer than three characters with probability ``p``; the first and
    last character stay, which keeps the words readable to a model."""

    def one(match: re.Match[str]) -> str:
        word = match.group(0)
        if len(word) <= 3 or rng.random() >= p:
            return word
        middle = list(word[1:-1])
        rng.shuffle(middle)
        return word[0] + "".join(middle) + word[-1]

    return _WORD.sub(one, text)


def flip_case(text: str, rng: random.Random, p: float) -> str:
    """Swap the case of each letter with probability ``p``."""
    return "".join(c.swapcase() if c.isalpha() and rng.random() < p else c for c in text)


def add_noise(text: str, rng: random.Random, p: float) -> str:
    """Move each printable ASCII character one code point up or down with probability ``p``, staying printable."""
    out = []
    for c in text:
        code = ord(c)
        if 32 <= code <= 126 and rng.random() < p:
            step = rng.choice((-1, 1))
            code = code + step if 32 <= code + step <= 126 else code - step  # at an edge, move inwards
        out.append(chr(code))
    return "".join(out)


def augment(text: str, rng: random.Random, sigma: float = SIGMA) -> str:
    """One Best-of-N sample of ``text``: scrambling, then case flips, then noise."""
    text = scramble_words(text, rng, sigma**0.5)
    text = flip_case(text, rng, sigma**0.5)
    return add_noise(text, rng, sigma**3)


def sample_prompt(goal: str, key: str, attempt: int, sigma: float = SIGMA) -> str:
    """Sample ``attempt`` (0-based) for the seed prompt identified by ``key``; the same inputs give the same prompt
    in every process (string seeds of ``random.Random`` are hashed with SHA-512, not ``hash``)."""
    return augment(goal, random.Random(f"{key}:{attempt}"), sigma)


class BestOfNAttack(AdaptiveConverter):
    name = "best_of_n"
    description = (
        "Adaptive: resends the request with fresh random character augmentations (scrambled word middles, flipped "
        "letter case, ASCII noise) until one sample's answer is unsafe or --best-of-n samples have been sent."
    )
    source = "Hughes et al. 2024, Best-of-N Jailbreaking (arXiv:2412.03556)"
    langs = EN
    needs_attacker = False

    def budget(self, options: SafetyOptions) -> int:
        return options.best_of_n

    async def play(self, game: Game) -> None:
        for attempt in range(game.query_budget):
            game.rounds = attempt + 1
            turn = await game.query([Message("user", sample_prompt(game.goal, game.key, attempt))])
            if turn.verdict.label == "unsafe":
                return
