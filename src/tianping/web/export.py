"""``tianping serve --export DIR``: the dashboard's pages written as a static site (no server, no network).

Every page the site links to is written, each link relative to its page, so the folder works from a web
server's root, from a sub-folder, or opened as files. What needs a server is left out: the voting page, and
the compare picker (the model pages link to the pairwise comparisons among the top models instead).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from itertools import combinations
from pathlib import Path

from tianping.web.app import static_path
from tianping.web.data import slug
from tianping.web.pages import Page, Site
from tianping.web.render import Links, page_file, render

_STATIC_FILES = ("app.js", "app.css", "plotly.min.js")


def _jobs(site: Site) -> list[tuple[str, Callable[[], Page | None]]]:
    snap = site.snap
    jobs: list[tuple[str, Callable[[], Page | None]]] = [
        ("/", site.overview),
        ("/leaderboards", site.leaderboards),
        ("/runs", site.runs),
        ("/safety", site.safety),
        ("/monitor", site.monitor),
        ("/arena", site.arena),
        ("/trends", site.trends),
        ("/compare", lambda: site.compare([])),
    ]
    for b in snap.benchmarks:
        jobs.append((f"/leaderboard/benchmark/{slug(b)}", lambda b=b: site.leaderboard("benchmark", slug(b))))
        jobs.append((f"/benchmark/{slug(b)}", lambda b=b: site.benchmark(slug(b))))
    from tianping.web.boards import suites_with_results

    for s in suites_with_results(snap):
        jobs.append((f"/leaderboard/suite/{slug(s)}", lambda s=s: site.leaderboard("suite", slug(s))))
    for d in ["composite", *(d.id for d in site.tree.dimensions)]:
        jobs.append((f"/leaderboard/dimension/{slug(d)}", lambda d=d: site.leaderboard("dimension", slug(d))))
    for m in snap.models:
        jobs.append((f"/model/{slug(m)}", lambda m=m: site.model(slug(m))))
    for a, b in combinations(sorted(site.compare_among or ()), 2):
        for x, y in ((a, b), (b, a)):
            path = f"/compare/{slug(x)}~{slug(y)}"
            jobs.append((path, lambda x=x, y=y: site.compare([slug(x), slug(y)])))
    for run in snap.runs:
        jobs.append((f"/run/{run.key}", lambda run=run: site.run(run.key)))
    return jobs


COMPARE_MODELS = 12
"""Pairwise comparison pages are written among this many models (the composite board's top), not all pairs."""


def export_site(site: Site, out: Path, *, progress: Callable[[str], None] | None = None) -> int:
    """Write every page under ``out`` (created; files already there are overwritten); the number of pages."""
    from tianping.web.boards import dimension_board

    top = dimension_board(site.snap, site.tree, "composite")
    ranked = [r.model for r in top.rows] if top is not None else []
    ranked += [m for m in site.snap.models if m not in ranked]
    site.compare_among = frozenset(ranked[:COMPARE_MODELS])
    out.mkdir(parents=True, exist_ok=True)
    (out / "static").mkdir(exist_ok=True)
    for name in _STATIC_FILES:
        source = static_path(name)
        assert source is not None
        shutil.copyfile(source, out / "static" / name)
    written = 0
    jobs = _jobs(site)
    done: set[str] = set()
    while jobs:
        path, make = jobs.pop(0)
        if path in done:
            continue
        done.add(path)
        page = make()
        if page is None:
            continue
        template, ctx = page
        if template == "run.html.j2":  # the run's listed samples get their pages too
            run = ctx["run"]
            for item in ctx["samples"]:
                key = item["key"]
                jobs.append((f"/run/{run.key}/sample/{key}", lambda r=run.key, k=key: site.sample(r, k)))
        if template == "benchmark.html.j2":  # its hardest items link to their samples, listed on a run page or not
            name = ctx["benchmark"]
            for h in ctx["hard"]:
                key = slug(f"{h.model}\n{name}\n{h.sample_id}")
                jobs.append((f"/run/{h.run_key}/sample/{key}", lambda r=h.run_key, k=key: site.sample(r, k)))
        target = out / page_file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(template, ctx, Links(export=True, current=path)), encoding="utf-8")
        written += 1
        if progress is not None and written % 200 == 0:
            progress(f"{written} pages written")
    return written
