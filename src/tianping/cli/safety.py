"""``tianping safety``: what the safety suite can run — attack methods, the risk taxonomy, seed coverage.

Running the suite itself is ``tianping run --suite safety``; these commands help size and filter a run.
Wired into the main CLI by :func:`register`; heavy modules are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tianping.cli.errors import fail
from tianping.cli.output import out

__all__ = ["register", "safety_app"]

safety_app = typer.Typer(
    name="safety",
    help="List the safety suite's attack methods, risk taxonomy and seed-prompt coverage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[env TIANPING_DATA_DIR]" must not be read as markup
)


@safety_app.command("attacks")
def attacks(
    group: Annotated[str | None, typer.Option(help="Only this group (e.g. encoding, chinese, injection).")] = None,
    attack_path: Annotated[
        str | None,
        typer.Option(help="YAML attack files or folders, like TIANPING_ATTACK_PATH (docs/app-security.md)."),
    ] = None,
) -> None:
    """Every attack method: name, group, languages, mechanism and source."""
    import os

    from rich.markup import escape
    from rich.table import Table

    from tianping.safety.converters import all_converters
    from tianping.safety.yaml_attacks import PATH_ENV, AttackFileError

    if attack_path is not None:
        os.environ[PATH_ENV] = attack_path
    table = Table(show_lines=False)
    for col in ("name", "group", "langs", "mechanism", "source"):
        table.add_column(col, overflow="fold")  # a reference such as (arXiv:2412.03556) is never cut short
    shown = 0
    try:
        every = all_converters()
    except AttackFileError as exc:
        raise fail(str(exc)) from None
    for c in every:
        if group is not None and c.group != group:
            continue
        table.add_row(*(escape(v) for v in (c.name, c.group, ",".join(sorted(c.langs)), c.description, c.source)))
        shown += 1
    if not shown:
        raise fail(f"no attack method in group {group!r}")
    out.print(table)
    out.print(f"{shown} methods")


@safety_app.command("categories")
def categories() -> None:
    """The risk taxonomy: dimension > category > leaf, with Chinese and English names."""
    from tianping.safety.taxonomy import load_taxonomy

    tax = load_taxonomy()
    out.print(f"taxonomy {tax.version} ({len(tax.leaves)} leaves)", highlight=False)
    indent = {"dimension": "", "category": "  ", "leaf": "    "}
    for node in tax.nodes.values():
        out.print(f"{indent.get(node.level, '')}{node.id}  {node.zh} / {node.en}", highlight=False)


@safety_app.command("seeds")
def seeds(
    data_dir: Annotated[Path | None, typer.Option(help="Datasets folder [env TIANPING_DATA_DIR].")] = None,
) -> None:
    """Seed prompts per taxonomy leaf and language (shared sets under DATA_DIR/safety plus the project's own)."""
    from rich.markup import escape

    from tianping.safety.seeds import coverage, load_seeds
    from tianping.spec import default_data_dir

    data = data_dir or default_data_dir()
    if data_dir is None and not (data / "safety").is_dir():
        data = None  # the default folder holds no shared sets yet (tianping data pull safety): the project's own
    found = load_seeds(data)
    table = coverage(found)
    out.print(table.format(), highlight=False)
    benign = sum(1 for s in found if s.benign)
    folder = data_dir or default_data_dir()
    missing = f" — project sets only: the shared sets are not in {folder}/safety (tianping data pull safety)"
    line = f"{len(found)} seeds ({benign} benign look-alikes){'' if data else missing}"
    out.print(escape(line), highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the ``safety`` command group to the main ``tianping`` app."""
    app.add_typer(safety_app, name="safety")
