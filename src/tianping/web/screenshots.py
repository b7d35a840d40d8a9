"""Screenshots of the dashboard's pages at 1,400 px width, for the README and for reviewing a change.

    python -m tianping.web.screenshots --url http://127.0.0.1:8765 --out docs/img

needs Playwright for Python (the dev extra) and a Chromium (``--chromium``, default ``/usr/bin/chromium``; the
browser is never downloaded). One page of each kind is taken: the first link of that kind the overview leads to.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FIXED = {
    "overview": "/",
    "leaderboards": "/leaderboards",
    "runs": "/runs",
    "trends": "/trends",
    "safety": "/safety",
    "monitor": "/monitor",
    "arena": "/arena",
}
FIRST_OF = {
    "leaderboard": r"/leaderboard/benchmark/[^\"]+",
    "model": r"/model/[^\"]+",
    "benchmark": r"/benchmark/[^\"]+",
    "run": r"/run/[^\"/]+",
    "compare": r"/compare/[^\"]+",
}


def take(url: str, out: Path, *, chromium: str = "/usr/bin/chromium", width: int = 1400) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    url = url.rstrip("/")
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            pages = dict(FIXED)
            seen_html = ""
            for path in ("/", "/leaderboards", "/runs"):
                page.goto(url + path)
                seen_html += page.content()
            for name, pattern in FIRST_OF.items():
                match = re.search(r'href="(' + pattern + r')"', seen_html)
                if match:
                    pages[name] = match.group(1)
                    if name == "model":  # the model page links to a compare page
                        page.goto(url + match.group(1))
                        seen_html += page.content()
            for name, path in pages.items():
                page.goto(url + path)
                page.wait_for_load_state("load")
                page.wait_for_timeout(300)  # charts draw after load
                target = out / f"dashboard-{name}.png"
                page.screenshot(path=str(target), full_page=True)
                written.append(target)
        finally:
            browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8765", help="base URL of a running `tianping serve`")
    parser.add_argument("--out", type=Path, default=Path("screenshots"), help="folder for the PNG files")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium or Chrome binary")
    parser.add_argument("--width", type=int, default=1400)
    args = parser.parse_args()
    for path in take(args.url, args.out, chromium=args.chromium, width=args.width):
        print(path)


if __name__ == "__main__":
    main()
