"""Known model families and how their names are written, in English and Chinese: to read a claimed model name,
the ``model`` field of a reply and a model's own answer to "which model are you?" (docs/fidelity.md).

The patterns name products and makers only; whether a family's tokenizer can be fingerprinted is a separate
question (:mod:`tianping.fidelity.tokenizer_table`).
"""

from __future__ import annotations

import re

__all__ = ["FAMILIES", "family_of", "mentioned_families"]

FAMILIES: dict[str, str] = {
    "qwen": r"qwen|qwq|通义|千问|tongyi|alibaba|阿里",
    "openai-gpt": r"\bgpt-?\d|chatgpt|openai|\bo[134](?:-mini)?\b",
    "claude": r"claude|anthropic",
    "llama": r"llama|\bmeta\b(?! ?data)|meta ai",
    "deepseek": r"deepseek|深度求索",
    "glm": r"chatglm|\bglm|智谱|zhipu|清言",
    "ernie": r"ernie|文心|百度|baidu",
    "gemini": r"gemini|\bbard\b|google deepmind|谷歌",
    "gemma": r"gemma",
    "mistral": r"mistral|mixtral",
    "kimi": r"\bkimi\b|moonshot|月之暗面",
    "doubao": r"doubao|豆包|字节跳动|bytedance",
    "yi": r"\byi-|零一万物|01\.ai",
    "baichuan": r"baichuan|百川",
    "minimax": r"minimax|abab",
    "hunyuan": r"hunyuan|混元|腾讯|tencent",
    "spark": r"讯飞|星火|iflytek",
    "phi": r"\bphi-?\d|microsoft",
    "tp-ref": r"tp-ref|tianping",  # the bundled reference model: a family whose tokenizer is at hand
}
"""Family -> case-insensitive pattern of its names and its maker's."""

_COMPILED = {name: re.compile(pattern, re.IGNORECASE) for name, pattern in FAMILIES.items()}


def mentioned_families(text: str) -> list[str]:
    """Every family whose name or maker appears in ``text``, in :data:`FAMILIES` order."""
    return [name for name, pattern in _COMPILED.items() if pattern.search(text)]


def family_of(model: str) -> str | None:
    """The family a model name belongs to (the first pattern that matches), None when no known one does."""
    found = mentioned_families(model)
    return found[0] if found else None
