"""``tianping serve``: the web dashboard over one or more result stores, or (``--export DIR``) the same pages
written as a static site. Read-only unless ``TIANPING_TOKEN`` is set (then the voting page takes votes);
binds 127.0.0.1 unless ``--host`` says otherwise."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Annotated

import typer

from tianping.cli.common import IndicatorsFile
from tianping.cli.errors import fail
from tianping.cli.output import note, out


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    results_dir: Annotated[
        list[Path] | None,
        typer.Option(
            "--results-dir",
            help="Results folder to show (repeat for several) [env TIANPING_RESULTS_DIR, default ./results].",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; anything but loopback exposes the dashboard to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")] = 8765,
    models: Annotated[
        Path | None,
        typer.Option(
            "--models",
            help="Model registry YAML (organisation, release date, size, "
            "open/closed, region, group) for filters, trends and the quadrant.",
        ),
    ] = None,
    indicators: IndicatorsFile = None,
    monitor_store: Annotated[
        list[Path] | None,
        typer.Option("--monitor-store", help="Monitor records ('tianping monitor run' store); repeat for several."),
    ] = None,
    window_days: Annotated[int, typer.Option("--window-days", min=30, help="Quadrant growth window (days).")] = 730,
    export: Annotated[
        Path | None, typer.Option("--export", help="Write the pages as a static site into this folder and exit.")
    ] = None,
    votes_per_minute: Annotated[
        int, typer.Option("--votes-per-minute", min=1, help="Vote rate limit per session.")
    ] = 20,
    store: Annotated[
        list[str] | None,
        typer.Option(
            "--store",
            help="A result database to show instead of a --results-dir: postgresql://USER:PASSWORD@HOST/NAME or "
            "sqlite:///PATH (repeat for several; the password is never printed) [env TIANPING_STORE].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the web dashboard: leaderboards, models, runs and samples, trends, safety, monitor and arena."""
    from tianping.indicators.tree import IndicatorTreeError, load_tree
    from tianping.spec import default_results_dir
    from tianping.store.store import StoreError
    from tianping.web.data import Stores
    from tianping.web.pages import Site
    from tianping.web.registry import RegistryError, load_registry

    urls = list(store or [])
    if not urls and not results_dir and os.environ.get("TIANPING_STORE"):
        urls = [os.environ["TIANPING_STORE"]]
    for url in urls:
        if "://" not in url:
            raise fail(f"--store {url}: give a URL, postgresql://USER@HOST:PORT/NAME or sqlite:///PATH")
    dirs = list(results_dir or ([] if urls else [default_results_dir()]))
    for d in dirs:
        if d.exists() and not d.is_dir():
            raise fail(f"--results-dir {d}: not a folder")
    locations: list[Path | str] = [*dirs, *urls]
    try:
        registry = load_registry(models) if models is not None else {}
    except RegistryError as exc:
        raise fail(f"--models {exc}") from None
    try:
        tree = load_tree(indicators) if indicators is not None else None
    except (IndicatorTreeError, OSError) as exc:
        raise fail(f"--indicators {indicators}: {exc}") from None
    for m in monitor_store or []:
        if not m.is_file():
            raise fail(f"--monitor-store {m}: no monitor store there")
    # served: a changed store is rebuilt in the background, at most every 10 s (a live run changes it with every
    # answer); exported: read once
    stores = Stores(locations, registry, min_age_s=10.0, background=export is None)
    for index in range(len(dirs), len(locations)):
        try:  # a wrong URL, password or server fails here with the database's word, not on the first request
            stores.store(index)
        except StoreError as exc:
            raise fail(f"--store {exc}") from None
    site = Site(stores, tree=tree, monitor_stores=list(monitor_store or []), window_days=window_days)
    if export is not None:
        from tianping.web.export import export_site

        if export.exists() and not export.is_dir():
            raise fail(f"--export {export}: is a file; give a folder")
        count = export_site(site, export, progress=note)
        out.print(f"wrote {count} pages to {export}")
        return
    import uvicorn

    from tianping.web.app import create_app

    token = os.environ.get("TIANPING_TOKEN") or None
    if not _is_loopback(host):
        note(f"binding {host}: the dashboard is reachable from the network" + ("" if token else " (read-only)"))
    try:
        app = create_app(site, token=token, votes_per_minute=votes_per_minute, warm=True)
    except RuntimeError as exc:  # the store that takes the votes cannot be opened for writing
        raise fail(str(exc)) from None
    sock = _bound(host, port)  # before saying where: a port in use is one error line, not a server's traceback
    port = sock.getsockname()[1]  # --port 0 takes a free one: say which
    shown = f"[{host}]" if ":" in host else host
    out.print(f"tianping dashboard on http://{shown}:{port}/ ({'voting on' if token else 'read-only'})")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])


def _bound(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port``, or the one error line that says why there is none."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise fail(f"--host {host} --port {port}: cannot listen there: {exc.strerror or exc}") from None


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
