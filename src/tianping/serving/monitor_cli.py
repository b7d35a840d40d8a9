"""``tianping monitor``: continuous endpoint monitoring (``run``) and its HTML report (``report``).

``tianping monitor CONFIG`` is short for ``tianping monitor run CONFIG``. Wired into the main CLI by
:func:`register`; heavy modules are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

__all__ = ["monitor_app", "register"]

EXIT_BAD_INPUT, EXIT_INTERRUPTED = 2, 130


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
)


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    from rich.markup import escape

    _console().print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def _run_async(coro: Any) -> Any:
    from tianping.aio import run

    return run(coro)


@monitor_app.command("run")
def run_cmd(
    config: Annotated[Path, typer.Argument(help="Monitor config YAML (endpoints, store, metrics_port).")],
    duration: Annotated[
        float | None,
        typer.Option("--duration", min=0.0, help="Stop after this many seconds (default: run until stopped)."),
    ] = None,
    max_rounds: Annotated[
        int | None, typer.Option("--max-rounds", min=1, help="Stop after N probe rounds per endpoint.")
    ] = None,
    store: Annotated[Path | None, typer.Option("--store", help="Override the config's store path.")] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", min=0, max=65535, help="Override the config's metrics_port (0: off)."),
    ] = None,
) -> None:
    """Probe every endpoint of CONFIG on its interval until stopped (Ctrl-C / SIGTERM end it cleanly)."""
    from rich.markup import escape

    from tianping.serving.monitor import ConfigError, Monitor, load_config

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    if store is not None:
        cfg.store = store
    if metrics_port is not None:
        cfg.metrics_port = metrics_port
    console = _console()
    monitor = Monitor(cfg)
    console.print(
        f"monitoring {len(cfg.endpoints)} endpoint(s); records -> {escape(str(cfg.store))}"
        + (f"; metrics on http://{escape(cfg.metrics_host)}:{cfg.metrics_port}/metrics" if cfg.metrics_port else ""),
        highlight=False,
    )
    try:
        summary = _run_async(monitor.run(duration_s=duration, max_rounds=max_rounds))
    except OSError as exc:  # the metrics port is taken, the store cannot be opened
        raise _fail(f"{exc}") from None
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None
    fails = ", ".join(f"{k} {v}" for k, v in sorted(summary.failures.items())) or "none"
    console.print(
        f"stopped ({summary.stopped_by}) after {summary.wall_s:.1f}s: {summary.calls} calls, {summary.ok} ok; "
        f"failures: {escape(fails)}",
        highlight=False,
    )
    if summary.stopped_by == "signal":
        raise typer.Exit(EXIT_INTERRUPTED)


@monitor_app.command("report")
def report_cmd(
    store: Annotated[Path, typer.Option("--store", help="The monitor's SQLite store.")] = Path("monitor.sqlite"),
    days: Annotated[int, typer.Option("--days", min=1, help="Report the last N UTC days, today included.")] = 14,
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path("monitor-report.html"),
    charts: Annotated[str, typer.Option(help="Chart engine: auto (plotly if installed), plotly or svg.")] = "auto",
) -> None:
    """Write an HTML report: daily success rate, TTFT p50/p90 and TPS p50 per provider; providers compared."""
    from tianping.serving.monitor_report import write_report

    if not store.is_file():
        raise _fail(f"no monitor store at {store}")
    if charts not in ("auto", "plotly", "svg"):
        raise _fail(f"--charts must be auto, plotly or svg, not {charts!r}")
    try:
        data = write_report(store, output, days=days, charts=charts)
    except ImportError as exc:
        raise _fail(f"{exc} (install plotly, or use --charts svg)") from None
    n = sum(d.n for d in data.days)
    _console().print(f"wrote {output} ({n} calls, {len(data.series)} provider/model series)", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``monitor`` command group to the main ``tianping`` app."""
    app.add_typer(monitor_app, name="monitor")
