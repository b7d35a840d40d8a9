"""Pages to HTML: one Jinja2 environment (autoescaping always on: every name and output is untrusted) and the
links of a page, which point at the server's paths or, in a static export, at files relative to the page."""

from __future__ import annotations

import math
from typing import Any

from jinja2 import Environment, PackageLoader

from tianping.report.html import _json_for_script

_env: Environment | None = None


class Links:
    """``page("/model/x")`` and ``static("app.js")`` for the page at ``current`` (a server path)."""

    def __init__(self, *, export: bool = False, current: str = "/"):
        self.export = export
        depth = page_file(current).count("/") if export else 0
        self._prefix = "../" * depth if export else "/"

    def page(self, path: str) -> str:
        if not self.export:
            return path
        return self._prefix + page_file(path)

    def static(self, name: str) -> str:
        return self._prefix + "static/" + name


def page_file(path: str) -> str:
    """The file a server path is exported to: ``/`` -> ``index.html``, ``/model/x`` -> ``model/x.html``."""
    inner = path.strip("/")
    return (inner or "index") + ".html"


def _pct(x: Any, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{100 * float(x):.{digits}f}"


def _num(x: Any, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{float(x):.{digits}f}"


def _ci(lo: Any, hi: Any, count: bool = False) -> str:
    if lo is None or hi is None:
        return "—"
    return f"[{_num(lo)}, {_num(hi)}]" if count else f"[{_pct(lo)}, {_pct(hi)}]"


def environment() -> Environment:
    global _env
    if _env is None:
        env = Environment(
            loader=PackageLoader("tianping.web", "templates"),
            autoescape=True,  # always: model names, prompts and outputs are untrusted
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters["chart_json"] = _json_for_script
        env.filters["pct"] = _pct
        env.filters["num"] = _num
        env.globals["ci"] = _ci
        _env = env
    return _env


def render(template: str, context: dict[str, Any], links: Links, **extra: Any) -> str:
    html = (
        environment()
        .get_template(template)
        .render(**context, url=links.page, static=links.static, export=links.export, **extra)
    )
    # a lone surrogate (undecodable bytes upstream) cannot be written as UTF-8
    return html.encode("utf-8", "replace").decode("utf-8")
