"""Shared fixtures: where the benchmark data lives, and a fresh results directory per test."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR))  # so tests can import fake_openai

DATA_DIR = Path(os.environ.get("TIANPING_DATA_DIR") or REPO.parent / "shared" / "datasets").resolve()
os.environ.setdefault("TIANPING_DATA_DIR", str(DATA_DIR))
# The tests' runs are small (tens of samples) and many stop one mid-run: commit groups of 100 answers / 0.2 s keep
# a kill landing on a partly stored run; the default (500 / 1 s) is sized for large runs (docs/benchmarks.md)
os.environ.setdefault("TIANPING_COMMIT_GROUP", "100,0.2")

from postgres_fixture import postgres_cluster, postgres_url  # noqa: E402, F401  (a throwaway PostgreSQL cluster)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs PostgreSQL's server binaries (starts a throwaway cluster)")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a fresh result store lives: a SQLite file, or a new database in the session's PostgreSQL cluster (the
    store tests run on both)."""
    if request.param == "sqlite":
        return str(tmp_path / "tianping.sqlite")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "gsm8k").is_dir():
        pytest.fail(f"benchmark data not found at {DATA_DIR}; set TIANPING_DATA_DIR")
    return DATA_DIR
