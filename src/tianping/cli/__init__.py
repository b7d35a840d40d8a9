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

import os
import sys
from types import ModuleType
from typing import Annotated, Any

import typer
from typer.main import get_command_name

from tianping import __version__
from tianping.cli import (
    arena,
    contamination,
    data,
    fidelity,
    loadtest,
    monitor,
    quickstart,
    results,
    run,
    safety,
    serve,
)
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
app = typer.Typer(**_APP_SETTINGS)


def _version_callback(value: bool) -> None:
    if value:
        out.print(f"tianping {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    use_store(None)  # a --store of an earlier command in this process is not this command's


_GROUPS = (results, run, quickstart, loadtest, monitor, safety, data, arena, contamination, fidelity, serve)
for _group in _GROUPS:
    _group.register(app)


def _command_names(group: ModuleType) -> set[str]:
    """The top-level command names a group module registers (found by registering it on a scratch app)."""
    scratch = typer.Typer()
    group.register(scratch)
    names = {c.name or get_command_name(c.callback.__name__) for c in scratch.registered_commands if c.callback}
    groups = {g.name or (g.typer_instance.info.name if g.typer_instance else None) for g in scratch.registered_groups}
    return names | {g for g in groups if g}


def _app_for(argv: list[str]) -> typer.Typer:
    """The app to run ``argv`` with: when it names a command, an app of that command's group alone.

    Typer builds the click command of every registered command (inspecting each signature) before it parses
    anything: about 0.1 s of CPU for all of them, most of a run's start-up beyond its imports. Help, the version
    and unknown names get the full app, so their output is unchanged."""
    name = next((a for a in argv if not a.startswith("-")), None)
    if name is None:
        return app
    for group in _GROUPS:
        if name in _command_names(group):
            single = typer.Typer(**_APP_SETTINGS)
            single.callback()(_root)
            group.register(single)
            return single
    return app


def main() -> None:
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
