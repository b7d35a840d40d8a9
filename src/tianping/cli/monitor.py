"""``tianping monitor``: continuous endpoint monitoring (``run``) and its HTML report (``report``).

``tianping monitor CONFIG`` is short for ``tianping monitor run CONFIG``. Wired into the main CLI by
:func:`register`; heavy modules are imported inside the commands.

Exit codes (``tianping.cli.errors``): 0 a bounded run ended, or a report was written; 2 a bad flag, a config
that does not parse or validate, a store that is not a monitor store, a metrics port that cannot be bound, an
output path that cannot be written (one line naming it, before any probe starts); 130 SIGINT or SIGTERM
(every call that ended is in the store). An endpoint that cannot be reached is what the monitor records, not a
reason to stop, so ``run`` never exits 3.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from tianping.cli.common import check_output
from tianping.cli.errors import FAILED, INTERRUPTED, fail, run_async
from tianping.cli.output import console
from tianping.cli.serving_checks import check_number, reply_limits

__all__ = ["monitor_app", "register"]


class _DefaultRunGroup(TyperGroup):
    """A group whose unknown first argument is taken as the CONFIG of ``run``: ``monitor cfg.yaml``."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


monitor_app = typer.Typer(
    name="monitor",
    cls=_DefaultRunGroup,
    help="Probe serving endpoints on a schedule, store every call, serve Prometheus metrics, report trends. "
    "'tianping monitor CONFIG' is short for 'tianping monitor run CONFIG'.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[env TIANPING_DATA_DIR]" must not be read as markup
)


@monitor_app.command("run")
def run_cmd(
    config: Annotated[Path, typer.Argument(help="Monitor config YAML (endpoints, store, metrics_port).")],
    duration: Annotated[
        float | None,
        typer.Option("--duration", help="Stop after this many seconds (default: run until stopped)."),
    ] = None,
    max_rounds: Annotated[
        int | None, typer.Option("--max-rounds", min=1, help="Stop after N probe rounds per endpoint.")
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(
            "--store",
            help="SQLite file the monitor writes its raw records to (one file, not run's --results-dir folder) "
            "[default: the config's store].",
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", min=0, max=65535, help="Override the config's metrics_port (0: off)."),
    ] = None,
    max_reply_mb: Annotated[
        float | None,
        typer.Option(
            "--max-reply-mb",
            help="Override the config's max_reply_mb: the largest reply accepted, in MiB after decompression "
            "(default 16).",
        ),
    ] = None,
) -> None:
    """Probe every endpoint of CONFIG on its interval until stopped (Ctrl-C / SIGTERM end it cleanly, exit 130)."""
    from rich.markup import escape

    from tianping.serving.monitor import ConfigError, Monitor, load_config
    from tianping.serving.monitor_store import MonitorStore, StoreError

    check_number("--duration", duration, positive=True)
    if max_reply_mb is not None:
        reply_limits(max_reply_mb)
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    if store is not None:
        cfg.store = store
    if metrics_port is not None:
        cfg.metrics_port = metrics_port
    if max_reply_mb is not None:
        cfg.max_reply_mb = max_reply_mb
    try:
        opened = MonitorStore(cfg.store)
    except StoreError as exc:
        raise fail(f"store {exc}") from None

    def changed(line: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        console.print(f"{stamp} {escape(line)}", highlight=False, soft_wrap=True)

    monitor = Monitor(cfg, store=opened, on_change=changed)
    console.print(
        f"monitoring {len(cfg.endpoints)} endpoint(s); records -> {escape(str(cfg.store))}"
        + (f"; metrics on http://{escape(cfg.metrics_host)}:{cfg.metrics_port}/metrics" if cfg.metrics_port else ""),
        highlight=False,
        soft_wrap=True,
    )
    try:
        summary = run_async(monitor.run(duration_s=duration, max_rounds=max_rounds))
    except OSError as exc:  # the metrics port is taken or cannot be bound
        raise fail(f"metrics_port {cfg.metrics_port} on {cfg.metrics_host}: {exc.strerror or exc}") from None
    except KeyboardInterrupt:
        raise typer.Exit(INTERRUPTED) from None
    finally:
        opened.close()
    fails = ", ".join(f"{k} {v}" for k, v in sorted(summary.failures.items())) or "none"
    console.print(
        f"stopped ({summary.stopped_by}) after {summary.wall_s:.1f}s: {summary.calls} calls, {summary.ok} ok; "
        f"failures: {escape(fails)}",
        highlight=False,
        soft_wrap=True,
    )
    if summary.calls:
        console.print(_endpoint_table(cfg, summary))
    if summary.stopped_by == "signal":
        raise typer.Exit(INTERRUPTED)


def _endpoint_table(cfg: Any, summary: Any) -> Any:
    """Calls, success rate and failures of each endpoint of the run that ended."""
    from rich.table import Table

    from tianping.cli.output import cells

    table = Table(box=None, pad_edge=False)
    for column in ("endpoint", "provider", "calls", "ok %", "failures"):
        table.add_column(column, justify="right" if column in ("calls", "ok %") else "left", overflow="fold")
    for ep in cfg.endpoints:
        tally = summary.endpoints[ep.name]
        if not tally.calls:
            table.add_row(*cells(ep.name, ep.provider or "", "0", "", ""))
            continue
        fails = ", ".join(f"{k} {v}" for k, v in sorted(tally.failures.items()))
        rate = f"{100 * tally.ok / tally.calls:.1f}"
        table.add_row(*cells(ep.name, ep.provider or "", str(tally.calls), rate, fails))
    return table


@monitor_app.command("report")
def report_cmd(
    store: Annotated[
        Path,
        typer.Option(
            "--store", help="SQLite file of the monitor's raw records, as 'monitor run' wrote it (its config's store)."
        ),
    ] = Path("monitor.sqlite"),
    days: Annotated[int, typer.Option("--days", min=1, help="Report the last N UTC days, today included.")] = 14,
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path("monitor-report.html"),
    charts: Annotated[str, typer.Option(help="Chart engine: auto (plotly if installed), plotly or svg.")] = "auto",
) -> None:
    """Write an HTML report: daily success rate, TTFT p50/p90 and TPS p50 per provider; providers compared."""
    import sqlite3

    from tianping.serving.monitor_report import write_report
    from tianping.serving.monitor_store import StoreError

    if not store.is_file():
        raise fail(f"--store {store}: no monitor store there")
    if charts not in ("auto", "plotly", "svg"):
        raise fail(f"--charts must be auto, plotly or svg, not {charts!r}")
    check_output(output, "--output")
    try:
        data = write_report(store, output, days=days, charts=charts)
    except ImportError as exc:
        raise fail(f"{exc} (install plotly, or use --charts svg)") from None
    except StoreError as exc:
        raise fail(f"--store {exc}") from None
    except sqlite3.DatabaseError as exc:  # pages damaged past the header: found only when read
        raise fail(f"--store {store}: not a usable monitor store ({exc})") from None
    except OSError as exc:
        raise fail(f"--output {output}: cannot write: {exc.strerror or exc}", FAILED) from None
    n = sum(d.n for d in data.days)
    console.print(f"wrote {output} ({n} calls, {len(data.series)} provider/model series)", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``monitor`` command group to the main ``tianping`` app."""
    app.add_typer(monitor_app, name="monitor")
