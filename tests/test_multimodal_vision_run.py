"""``tianping run --benchmark tp_vision`` against a fake vision model that answers from the pictures it receives.

The server knows the generator's truth by image hash and is right on a hash-chosen share of items, so the
accuracy a run must report is known before it starts; a share of images is refused in the first run, and the
resume must send exactly those again and nothing that was answered.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from engine_helpers import cli, run_engine
from fake_openai import in_background
from fake_vision import FakeVisionServer, truth_of
from tianping.models import registry as backend_registry
from tianping.models.registry import register_backend
from tianping.multimodal.vision_draw import render
from tianping.multimodal.vision_items import CATEGORIES, make_items
from tianping.spec import ModelSpec, RunSpec
from tianping.store import Store


def _shas(item) -> list[str]:
    return [hashlib.sha256(png).hexdigest() for png in render(item)]


def test_a_run_scores_the_planned_truth_and_its_resume_sends_only_the_refused_images(tmp_path: Path) -> None:
    items = make_items(seed=0, per_category=10)
    truth = truth_of(items)
    shas = {item.id: _shas(item) for item in items}
    refused = frozenset(s for item in items[::4] for s in shas[item.id])
    refused_items = {item.id for item in items if refused.intersection(shas[item.id])}
    server = FakeVisionServer(truth, accuracy=0.6, seed=3, refuse=refused)
    # the truth the server answers from is found by the picture alone; where two items show the same picture
    # (a clock in English and in Chinese), both get the answer planned for one of them
    planned = {item.id: server.planned_right(truth[tuple(shas[item.id])].item_id) for item in items}
    summary = tmp_path / "summary.json"
    with in_background(server):
        first = cli(
            "run", "--benchmark", "tp_vision", "--model", "openai/x", "--base-url", server.base_url,
            "--results-dir", str(tmp_path), "--run-id", "vision", "--max-retries", "0",
        )  # fmt: skip
        assert "vision" in first.stdout + first.stderr, first.stderr
        after_first = Counter(server.images_received)
        answered_first = Counter(server.images_answered)
        server.refuse = frozenset()
        second = cli("resume", "vision", "--results-dir", str(tmp_path), "--json", str(summary))
        assert second.returncode == 0, second.stdout + second.stderr
    assert server.unknown_images == 0
    # images arrive intact (their hash is the generator's) and within the backend's default size cap
    assert set(server.images_received) == {s for item in items for s in shas[item.id]}
    assert all(size <= 5 * 1024 * 1024 for size, _, _ in server.image_sizes.values())
    # the resume sent the refused images again and no image that had been answered
    resumed = server.images_received - after_first
    assert set(resumed) == set(refused)
    assert not set(answered_first) & set(resumed)
    shown_by = Counter(s for item in items for s in set(shas[item.id]))
    assert all(server.images_answered[s] <= shown_by[s] for s in server.images_answered)
    assert refused_items and len(refused_items) < len(items)

    store = Store.open(tmp_path, readonly=True)
    try:
        rows = {r["sample_id"]: r for r in store.sample_rows("vision")}
        aggregates = store.aggregates("vision")
    finally:
        store.close()
    assert len(rows) == len(items) == 180
    assert {sid: r["score"] == 1.0 for sid, r in rows.items()} == planned
    overall = next(a for a in aggregates if a["group_kind"] == "all" and a["metric"] == "accuracy")
    assert overall["score"] == sum(planned.values()) / len(items)
    by_category = {a["group_name"]: a["score"] for a in aggregates if a["group_kind"] == "category"}
    for category in CATEGORIES:
        mine = [planned[i.id] for i in items if i.category == category]
        assert by_category[category] == sum(mine) / len(mine), category
    # the stored prompt names each image by its hash and holds none of its bytes
    prompt = json.dumps(rows["compare/en/0"]["prompt"])
    assert all(s in prompt for s in shas["compare/en/0"]) and "base64" not in prompt
    assert json.loads(summary.read_text())["run_id"] == "vision"


class _TextOnlyBackend:
    """A backend that, like the local text models, has no way to pass images on."""

    supports = frozenset({"generate"})
    sent = 0

    def __init__(self, spec) -> None:
        self.model_id = spec.id

    async def generate(self, request):
        _TextOnlyBackend.sent += 1
        raise AssertionError("a chat with images reached a backend that would drop them")

    async def aclose(self) -> None:
        pass


def test_a_backend_that_cannot_take_images_is_refused_before_anything_is_sent(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # registered for this test only: later tests list the known backends
    monkeypatch.setattr(backend_registry, "_plugins", dict(backend_registry._plugins))
    register_backend("textonly", _TextOnlyBackend)
    spec = RunSpec(models=[ModelSpec(id="textonly/m")], benchmarks=["tp_vision"], limit=2, data_dir=str(data_dir))
    store = Store.open(tmp_path)
    try:
        result = run_engine(store, spec)
    finally:
        store.close()
    assert result.status == "failed" and "textonly/m cannot take images" in (result.message or "")
    assert _TextOnlyBackend.sent == 0


def test_image_limits_from_the_command_line_shrink_what_is_sent_and_are_part_of_who_answers(tmp_path: Path) -> None:
    """``--image-max-side`` / ``--image-max-mb`` reach the backend; an answer to a smaller picture is another
    endpoint's, so a later run at the default limits asks again instead of reusing it from the cache."""
    items = make_items(seed=0, per_category=10)
    server = FakeVisionServer(truth_of(items), accuracy=0.6, seed=3)
    common = ["--benchmark", "tp_vision", "--model", "openai/x", "--limit", "4", "--results-dir", str(tmp_path)]
    with in_background(server):
        base = ["run", *common, "--base-url", server.base_url]
        small = cli(*base, "--run-id", "small", "--image-max-side", "64", "--image-max-mb", "0.01")
        assert small.returncode == 0, small.stderr
        sent_small = dict(server.image_sizes)
        server.image_sizes.clear()
        full = cli(*base, "--run-id", "full")
        assert full.returncode == 0, full.stderr
        bad = cli(*base, "--run-id", "bad", "--image-max-side", "8")
    assert sent_small and all(max(w, h) <= 64 and size <= 0.01 * 1024 * 1024 for size, w, h in sent_small.values())
    assert server.image_sizes and all(max(w, h) > 64 for _, w, h in server.image_sizes.values())
    assert bad.returncode == 2 and "--image-max-side" in bad.stderr
    store = Store.open(tmp_path, readonly=True)
    try:
        endpoints = {run: {r["endpoint"] for r in store.sample_rows(run)} for run in ("small", "full")}
        cached = {run: sum(r["from_cache"] for r in store.sample_rows(run)) for run in ("small", "full")}
    finally:
        store.close()
    assert all(e.endswith(";images=64px,0.01MiB") for e in endpoints["small"])
    assert not any("images=" in e for e in endpoints["full"])
    assert cached == {"small": 0, "full": 0}  # nothing answered at 64 px stands for a full-size picture
