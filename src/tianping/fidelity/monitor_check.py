"""The monitor's scheduled fidelity check: every ``every_rounds`` probe rounds of an endpoint, the next
``items`` items of the fidelity pack (a rotation through the whole pack, resumed from the store after a
restart) are answered greedily and scored right or wrong, and written to the monitor's own SQLite file.

Change detection (docs/fidelity.md, "In the monitor"): each item's latest answer is paired with its first one
(the baseline, from the first pass through the pack); once items have been answered twice, the exact McNemar
test of the discordant pairs says whether the endpoint's answers have changed significantly, in either
direction. A change below ``alpha`` raises an alert: a warning in the log, a stored alert row, the
``tianping_fidelity_alert`` gauge at 1, and the monitor report's fidelity column.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tianping.fidelity.pack import PACKS
from tianping.fidelity.stats import mcnemar_exact

__all__ = ["FidelityCheckConfig", "FidelityMonitor", "FidelityStatus", "change_status", "latest_statuses"]

log = logging.getLogger(__name__)

_SEED = 1234


class FidelityCheckConfig(BaseModel):
    """``fidelity:`` of a monitor endpoint."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    every_rounds: int = Field(10, ge=1)
    """Run a check after every N probe rounds of the endpoint."""
    items: int = Field(10, ge=1, le=400)
    """Pack items per check."""
    pack: str = "v1"
    benchmarks: list[str] | None = None
    """A subset of the pack's benchmarks (default: all of them)."""
    data_dir: str | None = None
    """Benchmark data folder (default: $TIANPING_DATA_DIR)."""
    alpha: float = Field(0.01, gt=0, lt=0.5)
    """Significance of a change; stricter than a one-off report's, since the test is repeated every check."""
    max_tokens: int | None = Field(1024, ge=1)

    @model_validator(mode="after")
    def _known(self) -> FidelityCheckConfig:
        if self.pack not in PACKS:
            raise ValueError(f"unknown fidelity pack '{self.pack}' (known: {', '.join(PACKS)})")
        unknown = sorted(set(self.benchmarks or ()) - set(PACKS[self.pack]))
        if unknown:
            raise ValueError(f"benchmarks not in pack {self.pack}: {', '.join(unknown)}")
        return self


@dataclass(frozen=True, slots=True)
class FidelityStatus:
    answered: int
    """Items with a scored answer."""
    accuracy: float | None
    """Over the latest answer of each item."""
    pairs: int
    """Items answered (and scored) at least twice."""
    diff: float | None
    """Latest minus baseline accuracy on the paired items."""
    p_value: float | None
    alert: bool
    text: str


def change_status(rows: list[tuple[str, float]], alpha: float) -> FidelityStatus:
    """Status from scored answers in time order, each ``(item, value 0/1)``: the first answer of an item is its
    baseline, its last one the current answer."""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    seen: dict[str, int] = {}
    for item, value in rows:
        first.setdefault(item, value)
        last[item] = value
        seen[item] = seen.get(item, 0) + 1
    if not last:
        return FidelityStatus(0, None, 0, None, None, False, "no scored items yet")
    accuracy = sum(last.values()) / len(last)
    paired = [item for item, k in seen.items() if k > 1]
    if not paired:
        return FidelityStatus(
            len(last), accuracy, 0, None, None, False,
            f"baseline: {len(last)} items, accuracy {100 * accuracy:.1f}%; no item answered twice yet",
        )  # fmt: skip
    worse = sum(1 for i in paired if first[i] > last[i])
    better = sum(1 for i in paired if last[i] > first[i])
    diff = (better - worse) / len(paired)
    p = mcnemar_exact(worse, better)
    alert = p < alpha
    word = "CHANGED" if alert else "stable"
    text = (
        f"{word}: {100 * diff:+.1f} pts on {len(paired)} items answered again (worse on {worse}, better on "
        f"{better}; exact McNemar p = {p:.3g}, alpha {alpha:g}); accuracy now {100 * accuracy:.1f}% of {len(last)}"
    )
    return FidelityStatus(len(last), accuracy, len(paired), diff, p, alert, text)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS fidelity_items (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
    started_at REAL NOT NULL, benchmark TEXT NOT NULL, item TEXT NOT NULL, value REAL, status TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS fidelity_items_name ON fidelity_items (name, started_at);
CREATE TABLE IF NOT EXISTS fidelity_checks (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
    started_at REAL NOT NULL, answered INTEGER NOT NULL, pairs INTEGER NOT NULL, diff REAL, p_value REAL,
    alert INTEGER NOT NULL, status TEXT NOT NULL
);
"""


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None)
    db.execute("PRAGMA busy_timeout=5000")
    db.executescript(_SCHEMA)
    return db


def latest_statuses(store_path: str | Path) -> dict[tuple[str, str], FidelityStatus]:
    """(model, provider) -> the status of its last fidelity check, from a monitor store (empty when it has none)."""
    path = Path(store_path)
    if not path.is_file():
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT model, provider, answered, pairs, diff, p_value, alert, status FROM fidelity_checks "
            "WHERE id IN (SELECT MAX(id) FROM fidelity_checks GROUP BY model, provider)"
        ).fetchall()
    except sqlite3.OperationalError:  # a store written before fidelity checks existed
        return {}
    finally:
        db.close()
    return {
        (model, provider): FidelityStatus(answered, None, pairs, diff, p, bool(alert), status)
        for model, provider, answered, pairs, diff, p, alert, status in rows
    }


class FidelityMonitor:
    """The checks of every endpoint of a monitor that has ``fidelity:``; :meth:`after_round` is called by the
    monitor after each probe round of an endpoint."""

    def __init__(self, store_path: str | Path, registry: Any = None):
        self.path = Path(store_path)
        self._db = _connect(self.path)
        self._items: dict[tuple[str, tuple[str, ...], str], list[tuple[Any, Any]]] = {}
        self._backends: dict[str, Any] = {}
        self._gauge = None
        if registry is not None:
            from prometheus_client import Gauge

            try:
                self._gauge = Gauge(
                    "tianping_fidelity_alert",
                    "1 while the endpoint's fidelity check sees a significant change from its baseline answers.",
                    ("endpoint", "provider", "model"),
                    registry=registry,
                )
            except ValueError:  # a second run on the same registry: the gauge is already there
                self._gauge = registry._names_to_collectors.get("tianping_fidelity_alert")

    def close(self) -> None:
        self._db.close()

    def _pack(self, check: FidelityCheckConfig) -> list[tuple[Any, Any]]:
        """(benchmark, sample) of the pack, interleaved across benchmarks so that any window mixes them."""
        from tianping.benchmarks.registry import build

        names = tuple(check.benchmarks or PACKS[check.pack])
        data_dir = check.data_dir or os.environ.get("TIANPING_DATA_DIR") or "."
        key = (check.pack, names, data_dir)
        if key not in self._items:
            per = []
            for name in names:
                bench = build(name, Path(data_dir))[0].load(PACKS[check.pack][name], "spread")
                per.append([(bench, sample) for sample in bench.samples])
            mixed = [row[k] for k in range(max(len(r) for r in per)) for row in per if k < len(row)]
            self._items[key] = mixed
        return self._items[key]

    def _backend(self, ep: Any) -> Any:
        from tianping.models.openai_api import OpenAIChatBackend

        if ep.name not in self._backends:
            self._backends[ep.name] = OpenAIChatBackend(
                model=ep.model, base_url=ep.base_url, api_key_env=ep.api_key_env, max_retries=2, concurrency=4
            )
        return self._backends[ep.name]

    async def aclose(self) -> None:
        for backend in self._backends.values():
            await backend.aclose()
        self._backends.clear()
        self.close()

    async def after_round(self, ep: Any, rounds: int) -> FidelityStatus | None:
        """Run the endpoint's check when ``rounds`` is a multiple of its ``every_rounds``; never raises (a check
        that cannot run is logged, and the monitor goes on)."""
        check: FidelityCheckConfig | None = getattr(ep, "fidelity", None)
        if check is None or rounds % check.every_rounds:
            return None
        try:
            return await self.run_check(ep, check)
        except Exception:
            log.exception("fidelity check of %s failed", ep.name)
            return None

    async def run_check(self, ep: Any, check: FidelityCheckConfig) -> FidelityStatus:
        """Answer and score the next ``check.items`` pack items, store them, and judge the change."""
        import asyncio

        from tianping.core.task import ScoringContext
        from tianping.core.types import Response

        items = self._pack(check)
        done = self._db.execute("SELECT COUNT(*) FROM fidelity_items WHERE name = ?", (ep.name,)).fetchone()[0]
        chosen = [items[(done + k) % len(items)] for k in range(min(check.items, len(items)))]
        backend = self._backend(ep)
        provider = ep.provider or ep.name

        async def one(bench: Any, sample: Any) -> tuple[str, str, float | None, str]:
            params = dataclasses.replace(bench.generation, temperature=0.0, seed=_SEED)
            if check.max_tokens is not None:
                params = dataclasses.replace(params, max_tokens=check.max_tokens)
            try:
                response: Response = await backend.generate(bench.build_request(sample, backend.model_id, params))
                score = await bench.ascore(sample, response, ScoringContext())  # rules only: no judge, no sandbox
            except Exception as exc:  # a failed call is not a wrong answer: kept apart, not paired
                return bench.name, sample.id, None, f"error: {type(exc).__name__}"
            value = score.value if score.status == "scored" else None
            if value not in (0.0, 1.0):
                return bench.name, sample.id, None, f"not right/wrong: {score.status}"
            return bench.name, sample.id, value, "scored"

        started = time.time()
        results = await asyncio.gather(*(one(b, s) for b, s in chosen))
        self._db.executemany(
            "INSERT INTO fidelity_items (name, provider, model, started_at, benchmark, item, value, status) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(ep.name, provider, ep.model, started, b, i, v, s) for b, i, v, s in results],
        )
        rows = self._db.execute(
            "SELECT benchmark || '/' || item, value FROM fidelity_items WHERE name = ? AND value IS NOT NULL "
            "ORDER BY started_at, id",
            (ep.name,),
        ).fetchall()
        status = change_status([(item, float(value)) for item, value in rows], check.alpha)
        self._db.execute(
            "INSERT INTO fidelity_checks (name, provider, model, started_at, answered, pairs, diff, p_value, alert, "
            "status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (ep.name, provider, ep.model, started, status.answered, status.pairs, status.diff, status.p_value,
             int(status.alert), status.text),
        )  # fmt: skip
        if status.alert:
            log.warning("fidelity alert for %s (%s): %s", ep.name, ep.model, status.text)
        if self._gauge is not None:
            self._gauge.labels(ep.name, ep.provider or "", ep.model).set(1 if status.alert else 0)
        return status
