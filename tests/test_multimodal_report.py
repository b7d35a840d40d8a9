"""Images of a run: kept once by hash beside the result database, named by hash in the stored prompt, and shown
in the HTML report inline (size-capped, checked against their hash, never fetched from elsewhere)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

from engine_helpers import cli, make_spec, run_engine
from fake_openai import in_background
from fake_vision import FakeVisionServer, truth_of
from tianping.core import Message, Request
from tianping.core.media import ImagePart
from tianping.multimodal.image_store import ImageInliner, image_path, save_images
from tianping.multimodal.vision_draw import render
from tianping.multimodal.vision_items import make_items
from tianping.store import Store


def _payload(html: str) -> dict:
    text = re.search(r'<script type="application/json" id="samples">(.*?)</script>', html, re.S).group(1)
    return json.loads(text)


def test_a_runs_images_are_stored_once_and_shown_beside_their_samples(tmp_path: Path, data_dir: Path) -> None:
    items = make_items(0, 1)  # the first item of each category and language: what --limit 18 spreads over
    shown = {hashlib.sha256(p).hexdigest() for item in items for p in render(item)}
    with in_background(FakeVisionServer(truth_of(items), accuracy=0.5)) as server:
        store = Store.open(tmp_path)
        result = run_engine(store, make_spec(server.base_url, data_dir, ["tp_vision"], limit=18), "pictures")
        store.close()
    assert result.status == "completed", result.message
    stored = {p.stem: p for p in (tmp_path / "images").iterdir()}
    assert set(stored) == shown  # a clock shown in two languages is one file
    assert all(hashlib.sha256(p.read_bytes()).hexdigest() == p.stem and p.suffix == ".png" for p in stored.values())

    report = tmp_path / "r.html"
    done = cli("report", "pictures", "--results-dir", str(tmp_path), "--output", str(report))
    assert done.returncode == 0, done.stderr
    html = report.read_text(encoding="utf-8")
    payload = _payload(html)
    media = payload["media"]
    assert len(media) == len(shown)
    for uri in media:
        head, data = uri.split(",", 1)
        assert head == "data:image/png;base64" and hashlib.sha256(base64.b64decode(data)).hexdigest() in shown
    sample_ids = [row[2] for row in payload["rows"]]
    compare = payload["images"][str(sample_ids.index("compare/en/0"))]
    assert len(compare) == 2 and all(k >= 0 for k in compare)
    prompt = " ".join(payload["chunks"][k] for k in payload["rows"][sample_ids.index("compare/en/0")][3])
    assert "[image " in prompt and "base64" not in prompt
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)


def test_images_are_written_once_and_a_stored_file_is_shown_only_while_it_is_the_image(tmp_path: Path) -> None:
    pictures = [render(item)[0] for item in make_items(3, 1)[:3]]
    request = Request(model="m", messages=(Message("user", "?", parts=tuple(ImagePart(data=p) for p in pictures)),))
    folder = tmp_path / "images"
    assert save_images(folder, request) == 3
    assert save_images(folder, request) == 0
    assert not [p for p in folder.iterdir() if p.name.startswith(".part-")]
    refs = json.loads(request.payload_json)["messages"][0]["content"][:3]
    inliner = ImageInliner(folder, max_image=10**6, max_total=len(pictures[0]) + len(pictures[1]))
    assert [bool(inliner.uri(r)) for r in refs] == [True, True, False]  # the third is past the page's budget
    # a file altered after the run is not the image the model saw: it is not shown
    image_path(folder, refs[0]["sha256"], "image/png").write_bytes(pictures[2])
    assert ImageInliner(folder).uri(refs[0]) is None
    assert ImageInliner(folder, max_image=100).uri(refs[1]) is None
    assert ImageInliner(folder).uri({"sha256": "../../etc/passwd", "media_type": "image/png"}) is None
    assert ImageInliner(None).uri(refs[1]) is None
