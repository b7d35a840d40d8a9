"""Every `tianping GROUP SUBCOMMAND` that the docs, the README, the page templates and the messages name is a
command that exists: the arena page told users to run `tianping arena rate`, which never did."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from tianping.cli import app

REPO = Path(__file__).resolve().parents[1]
# "tianping fidelity pack v2: ..." heads a pack file: a title, not a command
_NOT_A_COMMAND = re.compile(r"#\s*$")


def _sources() -> list[Path]:
    return [REPO / "README.md", *(REPO / "docs").glob("*.md"), *(REPO / "src" / "tianping").rglob("*.j2"),
            *(REPO / "src" / "tianping").rglob("*.py")]  # fmt: skip


def test_every_named_subcommand_exists() -> None:
    top = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    groups = {name: set(cmd.commands) for name, cmd in top.items() if hasattr(cmd, "commands")}
    wrong = []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"\btianping ([a-z][a-z-]*) ([a-z][a-z-]*)\b", text):
            group, sub = m.groups()
            if group not in groups or (group == "monitor" and sub not in groups[group]):
                continue  # a plain command and its argument; `tianping monitor CONFIG` is the shortcut of run
            if sub not in groups[group] and not _NOT_A_COMMAND.search(text[max(0, m.start() - 2) : m.start()]):
                wrong.append(f"{path.relative_to(REPO)}: {m.group(0)}")
    assert not wrong, wrong
