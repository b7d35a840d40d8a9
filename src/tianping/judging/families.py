"""Which model family a model id belongs to, guessed from its name, for the self-preference diagnostic.

A judge tends to prefer answers of its own family (same maker, same training data). Only names that say their
family plainly are recognised; anything else is ``None`` (unknown), and a pair with an unknown family is left
out of the self-preference estimate rather than guessed into it.
"""

from __future__ import annotations

import re

__all__ = ["family_of"]

# Checked in order: the first pattern found in the lower-cased name (provider prefix and path removed) wins.
_FAMILIES = (
    ("gpt", r"(^|[^a-z])(gpt|chatgpt|o1|o3|o4)([^a-z]|$)"),
    ("claude", r"claude"),
    ("gemini", r"gemini|gemma|palm|bard"),
    ("llama", r"llama|vicuna|alpaca"),
    ("qwen", r"qwen|qwq"),
    ("deepseek", r"deepseek"),
    ("mistral", r"mistral|mixtral|codestral"),
    ("glm", r"chatglm|(^|[^a-z])glm"),
    ("yi", r"(^|[^a-z])yi([^a-z]|$)"),
    ("internlm", r"internlm"),
    ("baichuan", r"baichuan"),
    ("phi", r"(^|[^a-z])phi([^a-z]|$)"),
    ("command", r"command-r|cohere"),
    ("grok", r"grok"),
    ("kimi", r"kimi|moonshot"),
)


def family_of(model: str | None) -> str | None:
    """``gpt``, ``claude``, ``qwen``, ... for a recognisable model id, else None."""
    if not model:
        return None
    name = model.lower().split("@", 1)[0]
    name = name.split("/")[-1] if "/" in name else name
    for family, pattern in _FAMILIES:
        if re.search(pattern, name):
            return family
    return None
