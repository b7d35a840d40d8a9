"""The ``tianping`` command line. A thin layer: each command parses flags and calls the library.

One module per command group: ``run`` (run, resume), ``quickstart``, ``results`` (runs, show, report, export,
compare, benchmarks), ``loadtest``, ``monitor``, ``safety``, ``data``, ``arena`` (ratings), ``contamination``,
``fidelity``; what they share is in
``errors`` (the exit-code table, the one error line, the async runner), ``output`` (the consoles), ``common``
(shared options, output paths, the result store), ``scores`` (score tables, summaries, reports) and
``serving_checks``. This package
is the top layer: no other package of tianping imports it.

Heavy modules are imported inside the commands that use them, so that ``tianping run`` sends its
first request quickly and ``tianping runs`` does not load an HTTP client.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType
from typing import Annotated, Any

import typer
from typer.main import get_command_name

from tianping import __version__
from tianping.cli.common import OPEN_STORES, use_store
from tianping.cli.errors import BAD_INPUT, FAILED, error_line
from tianping.cli.output import out

__all__ = ["app", "main"]

_APP_SETTINGS: dict[str, Any] = dict(
    name="tianping",
    help="tianping (天平): evaluate large language models and the services that serve them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[env TIANPING_DATA_DIR]" must not be read as markup
)

# The command names each group module registers, so that a command imports its own module and no other (the
# others cost ~0.1 s of imports on every start); tests/test_startup_path.py checks this table against them.
_GROUP_COMMANDS: dict[str, tuple[str, ...]] = {
    "results": ("runs", "show", "report", "export", "compare", "benchmarks"),
    "run": ("run", "resume"),
    "quickstart": ("quickstart",),
    "loadtest": ("loadtest",),
    "monitor": ("monitor",),
    "safety": ("safety",),
    "data": ("data",),
    "arena": ("arena",),
    "contamination": ("contamination",),
    "fidelity": ("fidelity",),
    "serve": ("serve",),
}


def _group(name: str) -> ModuleType:
    return importlib.import_module(f"tianping.cli.{name}")


def _version_callback(value: bool) -> None:
    if value:
        out.print(f"tianping {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    use_store(None)  # a --store of an earlier command in this process is not this command's


def _full_app() -> typer.Typer:
    full = typer.Typer(**_APP_SETTINGS)
    full.callback()(_root)
    for name in _GROUP_COMMANDS:
        _group(name).register(full)
    return full


_LAZY: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    """``app`` (every command) and ``_GROUPS`` (every group module) are built on first use: a command run from
    the terminal needs neither."""
    if name not in ("app", "_GROUPS"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _LAZY:
        _LAZY["app"] = _LAZY.get("app") or _full_app()
        _LAZY["_GROUPS"] = tuple(_group(g) for g in _GROUP_COMMANDS)
    return _LAZY[name]


def _name_of(command: Any) -> str:
    return command.name or get_command_name(command.callback.__name__)


def _command_names(group: ModuleType) -> set[str]:
    """The top-level command names a group module registers (found by registering it on a scratch app)."""
    scratch = typer.Typer()
    group.register(scratch)
    names = {_name_of(c) for c in scratch.registered_commands if c.callback}
    groups = {g.name or (g.typer_instance.info.name if g.typer_instance else None) for g in scratch.registered_groups}
    return names | {g for g in groups if g}


def _app_for(argv: list[str]) -> typer.Typer:
    """The app to run ``argv`` with: when it names a command, an app of that command's group alone.

    Typer builds the click command of every registered command (inspecting each signature) before it parses
    anything: about 0.1 s of CPU for all of them, most of a run's start-up beyond its imports. Help, the version
    and unknown names get the full app, so their output is unchanged."""
    name = next((a for a in argv if not a.startswith("-")), None)
    for group, commands in _GROUP_COMMANDS.items():
        if name in commands:
            single = typer.Typer(**_APP_SETTINGS)
            single.callback()(_root)
            _group(group).register(single)
            # its own command alone: typer inspects each registered command's signature before parsing
            single.registered_commands = [c for c in single.registered_commands if _name_of(c) == name]
            return single
    return __getattr__("app")


def main() -> None:
    # pydantic looks for plugins in the entry points of every installed distribution when it builds its first
    # model (10-20 ms with a few hundred installed); the command line has no use for them. An explicit setting
    # (a name list, or empty to load them all) is left as it is.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from tianping.store.store import StoreBusy, StoreError, StoreFull

    try:
        _app_for(sys.argv[1:])()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    except StoreError as exc:  # a store that fails under a command (locked, full, read-only): one line, no traceback
        code = FAILED if isinstance(exc, StoreBusy | StoreFull) else BAD_INPUT
        error_line(str(exc))
    finally:
        for store in OPEN_STORES:
            store.close()
    # Everything is committed and closed by now; skip the interpreter's module-by-module teardown,
    # which costs more than a tenth of a second with aiohttp, pydantic and rich loaded.
    sys.stdout.flush()
    sys.stderr.flush()
    if sys.gettrace() is None and sys.getprofile() is None:  # let coverage and profilers write their data
        os._exit(code)
    sys.exit(code)
