"""The data-check HTML report: dataset text is shown as text (a planted ``<script>`` row runs nothing), the page
is self-contained, and headless Chromium renders the flagged items."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest

from engine_helpers import cli

CHROMIUM = Path("/usr/bin/chromium")
PWN = "<script>document.title='PWNED';document.body.setAttribute('data-pwned','1')</script>"
BREAKOUT = "</pre></div><img src=x onerror=\"document.title='PWNED'\">"
QUESTION = "{{ question }}\n{% for c in choices %}{{ 'ABCDEFGH'[loop.index0] }}. {{ c }}\n{% endfor %}Answer:"


def _rows() -> list[dict[str, object]]:
    rows = [
        {
            "question": f"Which statement about lakes number {i} and the {i * 13 + 5} fish counted there is true?",
            "choices": [f"lake {i} claim one", f"lake {i} claim two", f"lake {i} claim three", f"lake {i} claim four"],
            "answer": "ABCD"[i % 4],
        }
        for i in range(24)
    ]
    rows[2]["question"] = f"{PWN} Which of these holds for the lake in the planted row, once all is said and done?"
    rows.append(dict(rows[2]))  # a duplicate: the hostile row is flagged and shown
    rows[5]["choices"] = [BREAKOUT, BREAKOUT, "lake 5 claim three", "中文选项：天平"]  # duplicate options
    return rows


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "rows.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _rows()), "utf-8")
    definition = folder / "mine.yaml"
    definition.write_text(
        "name: mine\nversion: '1'\nabout: {task_type: multiple choice, languages: [en]}\n"
        f"dataset: {{loader: jsonl, path: rows.jsonl}}\nprompt: {{question: {json.dumps(QUESTION)}}}\n"
        "scoring: {extractor: choice, metric: exact_match}\n",
        encoding="utf-8",
    )
    html = folder / "report.html"
    done = cli("data", "check", str(definition), "--data-dir", str(folder), "--no-embeddings", "--html", str(html),
               "--results-dir", str(folder / "none"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"HTML report: {html}" in done.stdout
    return html


def test_hostile_text_is_escaped_and_the_page_is_self_contained(report_file: Path) -> None:
    page = report_file.read_text(encoding="utf-8")
    assert PWN not in page and "<img" not in page
    assert "&lt;script&gt;document.title=&#39;PWNED&#39;" in page
    assert "&lt;/pre&gt;&lt;/div&gt;&lt;img src=x onerror=" in page
    assert "<script" not in page  # no script at all: nothing for an injection to join
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", page)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode("utf-8")).digest()).decode("ascii")
    assert csp.startswith("default-src 'none'; style-src 'sha256-" + digest + "'")


def _dump_dom(path: Path, tmp_path: Path) -> str:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian chromium at /usr/bin/chromium (apt-get install chromium)")
    cmd = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom", path.as_uri(),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "</html>" in proc.stdout, proc.stderr[-2000:]
    return proc.stdout


def test_chromium_renders_the_flagged_items_and_runs_nothing(report_file: Path, tmp_path: Path) -> None:
    dom = _dump_dom(report_file, tmp_path)
    assert re.search(r"<title>(.*?)</title>", dom, re.S).group(1) == "tianping data check: mine"
    assert 'data-pwned="1"' not in dom and not re.search(r"<img\b", dom) and "<script" not in dom
    # the flagged items are there, as text
    shown = set(re.findall(r'<div class="item" data-item="([^"]+)">', dom))
    assert {"test:2", "test:24", "test:5"} <= shown
    assert "&lt;script&gt;document.title='PWNED';document.body.setAttribute('data-pwned','1')&lt;/script&gt;" in dom
    assert "中文选项：天平" in dom
    summary = re.search(r'<tr id="row-duplicate">(.*?)</tr>', dom, re.S).group(1)
    assert re.search(r'<td class="num">2</td>', summary)
    malformed = re.search(r'<tr id="row-malformed">(.*?)</tr>', dom, re.S).group(1)
    assert "options A and B are the same" in malformed
    assert '<h2 id="kind-duplicate">duplicate: 2 items</h2>' in dom
