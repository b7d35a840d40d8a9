"""The HTML report: escaping of hostile model output, the embedded JSON, and (with Chromium) the page
script that renders, filters and pages the samples."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from tianping.core.results import BreakdownRow, MetricRow, RunInfo, SampleRow
from tianping.report.html import OUTCOMES, PROMPT_SEPARATOR, render_html, sample_outcome, samples_payload

CHROMIUM = Path("/usr/bin/chromium")

SCRIPT_TAG = "<script>alert(1)</script>"
BREAKOUT = "</script><img src=x onerror=alert(1)>"
QUOTES = '"quotes" & ampersands'
LINE_SEP = "line\u2028separator\u2029paragraph"
CHINESE = "中文答案：天平"
# What the browser test looks for: if any of this ever ran, the title or the body would change.
PWN = (
    "</script><script>document.title='PWNED';document.body.setAttribute('data-pwned','1')</script>"
    "<img src=x onerror=\"document.title='PWNED';document.body.setAttribute('data-pwned','1')\">"
)
HOSTILE = (SCRIPT_TAG, BREAKOUT, QUOTES, PWN)

TEXT_FIELDS = ("model", "benchmark", "sample_id", "prompt", "output", "reasoning", "extracted", "target")
MODEL = f"模型{SCRIPT_TAG}"
BENCH = f"bench{BREAKOUT}"


def _info() -> RunInfo:
    return RunInfo(
        run_id=f"run-1{SCRIPT_TAG}",
        status="completed",
        started_at="2024-06-01T12:00:00+00:00",
        finished_at="2024-06-01T13:02:17+00:00",
        tianping_version="0.1.0",
        spec={"models": [{"name": MODEL, "base_url": "http://localhost:8000/v1"}], "note": BREAKOUT},
        benchmark_versions={BENCH: "1.2.0", "mmlu": "1.0.0"},
        dataset_checksums={"mmlu": "sha256:" + "ab" * 32},
    )


def _metrics() -> list[MetricRow]:
    return [
        MetricRow(MODEL, BENCH, "accuracy", 0.6154, 130, 0.5821, 0.6473, 3, 1, 1),
        MetricRow(MODEL, "mmlu", "accuracy", None, 0, None, None),
    ]


def _breakdowns() -> list[BreakdownRow]:
    return [
        BreakdownRow(MODEL, BENCH, "subject", f"subject{SCRIPT_TAG}", 0.5, 40, 0.35, 0.65),
        BreakdownRow(MODEL, BENCH, "category", "STEM", 0.723, 90, 0.62, 0.81),
        BreakdownRow(MODEL, BENCH, "subject", "中文_法律", 0.9, 10, 0.6, 0.98),
    ]


def _hostile_samples() -> list[SampleRow]:
    shots = PROMPT_SEPARATOR.join(f"Q{k}: 1+{k}=?\nAnswer: {k + 1}" for k in range(3))
    return [
        SampleRow(
            MODEL,
            BENCH,
            f"id-{BREAKOUT}",
            f"[user]\n{shots}{PROMPT_SEPARATOR}{PWN}\n{CHINESE}",
            f"{PWN} {SCRIPT_TAG} {LINE_SEP}",
            f"reasoning {BREAKOUT} {QUOTES}",
            "B",
            "A",
            0.0,
            "scored",
            latency_s=1.23456,
        ),
        SampleRow(
            MODEL,
            BENCH,
            f"id-{QUOTES}",
            f"[user]\n{shots}{PROMPT_SEPARATOR}{QUOTES}",
            CHINESE,
            None,
            "A",
            "A",
            1.0,
            "scored",
        ),
        SampleRow(MODEL, BENCH, f"id-{CHINESE}", "[user]\nprompt", LINE_SEP, None, None, "C", 0.0, "scored"),
        SampleRow(MODEL, "mmlu", "id-incomplete", "Q", "partial", None, None, "D", None, "incomplete"),
        SampleRow(MODEL, "mmlu", "id-error", "Q", None, None, None, "D", None, "error", error=BREAKOUT),
    ]


def _samples(n_extra: int = 0) -> list[SampleRow]:
    """The hostile samples, then ``n_extra`` plain ones cycling through correct/wrong/incomplete."""
    out = _hostile_samples()
    for i in range(n_extra):
        kind = i % 3
        out.append(
            SampleRow(
                "plain-model",
                "mmlu",
                f"plain/{i}",
                f"[user]\nQuestion {i} needle{i % 7}",
                f"The answer is {'A' if kind == 0 else 'B'}",
                None,
                None if kind == 2 else ("A" if kind == 0 else "B"),
                "A",
                None if kind == 2 else float(kind == 0),
                "incomplete" if kind == 2 else "scored",
            )
        )
    return out


def _samples_json_text(html: str) -> str:
    m = re.search(r'<script type="application/json" id="samples">(.*?)</script>', html, re.S)
    assert m, "samples script element not found"
    return m.group(1)


def _decode(payload: dict) -> list[dict]:
    cols = payload["columns"]
    out = []
    for row in payload["rows"]:
        rec = dict(zip(cols, row, strict=True))
        rec["model"] = payload["models"][rec["model"]]
        rec["benchmark"] = payload["benchmarks"][rec["benchmark"]]
        rec["prompt"] = PROMPT_SEPARATOR.join(payload["chunks"][i] for i in rec["prompt"])
        out.append(rec)
    return out


def _render(samples) -> str:
    return render_html(_info(), _metrics(), _breakdowns(), samples)


# ---- static checks ----


def test_hostile_strings_never_appear_unescaped():
    html = _render(_samples())
    for s in (*HOSTILE, MODEL, BENCH, f"id-{BREAKOUT}"):
        assert s not in html, s
    assert "<img" not in html
    # exactly the two script elements of the template: the JSON and the page script
    assert html.count("<script") == 2
    assert html.count("</script>") == 2
    # Jinja-rendered names are escaped
    assert "模型&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "bench&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html


def test_embedded_json_is_escaped_and_round_trips():
    samples = _samples()
    html = _render(iter(samples))  # any iterable, consumed once
    text = _samples_json_text(html)
    for ch in ("<", ">", "&", "\u2028", "\u2029"):
        assert ch not in text, repr(ch)
    assert "\\u003c/script\\u003e" in text
    records = _decode(json.loads(text))
    assert len(records) == len(samples)
    for rec, s in zip(records, samples, strict=True):
        for name in TEXT_FIELDS:
            assert rec[name] == getattr(s, name), name
        assert rec["error"] == s.error
        assert rec["status"] == s.status
        assert rec["outcome"] == sample_outcome(s)
    assert records[0]["latency_s"] == 1.235
    assert records[0]["output"].endswith(LINE_SEP)
    assert CHINESE in records[0]["prompt"]


def test_lone_surrogate_does_not_break_encoding():
    s = SampleRow("m", "b", "id\udcff", "p", "out\ud800", None, None, "A", None, "error")
    html = render_html(_info(), [], [], [s])
    html.encode("utf-8")
    assert _decode(json.loads(_samples_json_text(html)))[0]["output"] == "out\ud800"


def test_self_contained_no_external_references():
    html = _render(_samples())
    assert not re.search(r"""(?:src|href|action|srcset)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert not re.search(r"url\(\s*['\"]?\s*(?:https?:)?//", html, re.I)
    assert "@import" not in html
    assert "<link" not in html
    assert '<meta charset="utf-8">' in html
    assert "default-src 'none'" in html


def test_csp_hashes_match_inline_script_and_style():
    html = _render(_samples())
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)

    def digest(text: str) -> str:
        return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    script = re.search(r"<script>(.*?)</script>", html, re.S).group(1)
    style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    assert f"script-src '{digest(script)}'" in csp
    assert f"style-src '{digest(style)}'" in csp


def test_numbers_and_sections():
    html = _render(_samples())
    assert "61.5" in html
    assert "[58.2, 64.7]" in html
    assert "72.3" in html and "[62.0, 81.0]" in html  # breakdown category
    assert "1h 02m 17s" in html
    assert "sha256:" + "ab" * 32 in html
    assert "1.2.0" in html
    # categories are listed before subjects
    assert html.index(">category<") < html.index(">subject<")
    # the spec is shown as pretty JSON (escaped)
    assert "&#34;base_url&#34;: &#34;http://localhost:8000/v1&#34;" in html


def test_empty_report_renders():
    info = RunInfo("r", "running", "2024-01-01T00:00:00", None, "0.1.0", {})
    html = render_html(info, [], [], [])
    payload = json.loads(_samples_json_text(html))
    assert payload["rows"] == []
    assert "No scores." in html


def test_sample_outcome():
    def s(status, extracted, score):
        return SampleRow("m", "b", "i", "p", "o", None, extracted, "A", score, status)

    assert sample_outcome(s("scored", "A", 1.0)) == "correct"
    assert sample_outcome(s("scored", "B", 0.0)) == "wrong"
    assert sample_outcome(s("scored", "B", 0.5)) == "wrong"
    assert sample_outcome(s("scored", None, 0.0)) == "extraction_failed"
    assert sample_outcome(s("incomplete", None, None)) == "incomplete"
    assert sample_outcome(s("error", None, None)) == "error"
    assert sample_outcome(s("unscorable", "unscorable", None)) == "unscorable"
    assert sample_outcome(s("skipped", None, None)) == "skipped"

    def safety(extracted, score):
        return SampleRow("m", "safety", "i", "p", "o", None, extracted, "refuse", score, "scored")

    assert sample_outcome(safety("unsafe", 1.0)) == "unsafe"
    assert sample_outcome(safety("refused", 1.0)) == "refused"
    assert sample_outcome(s("scored", "safe", 1.0)) == "correct"  # a verdict word outside a safety task is an answer
    assert set(OUTCOMES) == {
        "correct", "wrong", "extraction_failed", "incomplete", "unsafe", "safe", "refused", "answered",
        "unscorable", "skipped", "error",
    }  # fmt: skip


def test_shared_prompt_paragraphs_are_stored_once():
    shots = PROMPT_SEPARATOR.join(f"Example {k}: " + "x" * 2000 for k in range(5))
    samples = [
        SampleRow("m", "mmlu", f"s/{i}", f"{shots}{PROMPT_SEPARATOR}Q{i}", "A", None, "A", "A", 1.0, "scored")
        for i in range(500)
    ]
    payload = samples_payload(samples)
    assert len(payload["chunks"]) == 5 + 500
    html = render_html(_info(), [], [], samples)
    assert len(html) < 300_000  # 500 prompts of 10 kB each would be 5 MB
    assert [r["prompt"] for r in _decode(json.loads(_samples_json_text(html)))] == [s.prompt for s in samples]


# ---- in a real browser ----


def _dump_dom(path: Path, tmp_path: Path, fragment: str = "") -> str:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian chromium at /usr/bin/chromium (apt-get install chromium)")
    profile = tmp_path / "chromium-profile"
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--dump-dom",
        path.as_uri() + fragment,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "</html>" in proc.stdout, proc.stderr[-2000:]
    return proc.stdout


def _sample_rows(dom: str) -> list[str]:
    return re.findall(r'<tr class="sample-row[^"]*"[^>]*data-i="(\d+)"', dom)


def _ids(samples: list[SampleRow], keep) -> list[str]:
    return [str(i) for i, s in enumerate(samples) if keep(s)]


def _assert_not_pwned(dom: str) -> None:
    title = re.search(r"<title>(.*?)</title>", dom, re.S).group(1)
    assert "PWNED" not in title
    assert 'data-pwned="1"' not in dom
    assert not re.search(r"<img\b", dom)
    assert dom.count("<script") == 2


@pytest.fixture
def report_file(tmp_path: Path) -> tuple[Path, list[SampleRow]]:
    samples = _samples(n_extra=145)  # 150 samples: two pages of 100
    path = tmp_path / "report.html"
    path.write_text(_render(samples), encoding="utf-8")
    return path, samples


def test_browser_renders_first_page_without_running_payloads(report_file, tmp_path):
    path, samples = report_file
    dom = _dump_dom(path, tmp_path)
    _assert_not_pwned(dom)
    rows = _sample_rows(dom)
    assert rows == [str(i) for i in range(100)]
    # hostile ids and names are shown as text
    assert "id-&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in dom
    assert "模型&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert f"id-{CHINESE}" in dom
    assert "Showing 1–100 of 150 samples" in dom


def test_browser_expands_sample_from_hash(report_file, tmp_path):
    path, samples = report_file
    dom = _dump_dom(path, tmp_path, "#open=" + quote(samples[0].sample_id, safe=""))
    _assert_not_pwned(dom)
    assert '<tr class="sample-row open"' in dom
    detail = re.search(r'<tr class="detail">(.*?)</tr>', dom, re.S).group(1)
    # prompt, output and reasoning as text, Chinese included
    assert "&lt;/script&gt;&lt;script&gt;document.title='PWNED'" in detail
    assert 'reasoning &lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; "quotes" &amp; ampersands' in detail
    assert CHINESE in detail
    assert "1.235 s" in detail


def test_browser_filters_from_hash(report_file, tmp_path):
    path, samples = report_file

    # text search (case-insensitive, prompt) + status
    dom = _dump_dom(path, tmp_path, "#q=NEEDLE3&status=wrong")
    expected = _ids(samples, lambda s: "needle3" in s.prompt and sample_outcome(s) == "wrong")
    assert expected and _sample_rows(dom) == expected
    assert f"Showing 1–{len(expected)} of {len(expected)} matching (150 samples)" in dom

    # status only, second page
    dom = _dump_dom(path, tmp_path, "#status=incomplete&page=2&size=25")
    incomplete = _ids(samples, lambda s: sample_outcome(s) == "incomplete")
    assert len(incomplete) > 26
    assert _sample_rows(dom) == incomplete[25:50]
    assert "Page 2 / 2" in dom

    # benchmark select with a hostile name, and extraction failures
    dom = _dump_dom(path, tmp_path, "#benchmark=" + quote(BENCH, safe="") + "&status=extraction_failed")
    _assert_not_pwned(dom)
    assert _sample_rows(dom) == ["2"]

    # search over the output text, in Chinese
    dom = _dump_dom(path, tmp_path, "#q=" + quote("天平"))
    assert _sample_rows(dom) == ["0", "1", "2"]  # sample 0's prompt, 1's output, 2's id
