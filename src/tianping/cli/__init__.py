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
from typing import Annotated

import typer

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

app = typer.Typer(
    name="tianping",
    help="tianping (天平): evaluate large language models and the services that serve them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[env TIANPING_DATA_DIR]" must not be read as markup
)


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


for _group in (results, run, quickstart, loadtest, monitor, safety, data, arena, contamination, fidelity, serve):
    _group.register(app)


def main() -> None:
    from tianping.store.store import StoreBusy, StoreError, StoreFull

    try:
        app()
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
