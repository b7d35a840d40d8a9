"""``--executor`` and ``--ray-address`` refused before any run is registered: an unknown executor, an address
without Ray, and Ray missing from the machine. Needs no Ray (the last test hides it)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tianping.cli import app


def _run(tmp_path: Path, *extra: str) -> object:
    args = ["run", "-m", "openai/x", "--base-url", "http://127.0.0.1:9/v1", "-b", "gsm8k", "--limit", "2"]
    return CliRunner().invoke(app, [*args, "--results-dir", str(tmp_path), *extra])


def test_unknown_executor_is_refused(tmp_path: Path) -> None:
    result = _run(tmp_path, "--executor", "dask")
    assert result.exit_code == 2, result.output
    assert "--executor: expected local or ray, got 'dask'" in result.output
    assert not (tmp_path / "tianping.sqlite").exists()


def test_ray_address_needs_the_ray_executor(tmp_path: Path) -> None:
    result = _run(tmp_path, "--ray-address", "auto")
    assert result.exit_code == 2, result.output
    assert "--ray-address needs --executor ray" in result.output


def test_missing_ray_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as on a machine without Ray: importing it fails
    result = _run(tmp_path, "--executor", "ray")
    assert result.exit_code == 2, result.output
    assert "pip install 'tianping[ray]'" in result.output
    assert not (tmp_path / "tianping.sqlite").exists()
