"""Which package names exist: a bundled snapshot of PyPI's and npm's names, as a Bloom filter.

A Bloom filter answers "certainly absent" or "probably present": a name it says is absent was not in the
snapshot, so a recommendation it flags is a name no one had registered (PyPI) or that almost no one installs
(npm: the snapshot holds the names with at least ``npm_min_downloads`` downloads a month). The rarer error goes
the safe way: about ``false_positive_rate`` of invented names read as present and are missed, never the reverse.

The file is ``data/package_names.bloom``: one JSON header line (date, sources, counts, ``m`` bits, ``k``
hashes), then the bit array. ``tools/build_package_snapshot.py`` rebuilds it from lists of names.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

Ecosystem = str  # "pypi" or "npm"
SNAPSHOT = "package_names.bloom"


def normalize(ecosystem: Ecosystem, name: str) -> str:
    """PyPI compares names by PEP 503 (case, and runs of ``-_.``, do not matter); npm names are lower case."""
    name = name.strip()
    if ecosystem == "pypi":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name.lower()


def _positions(key: str, m: int, k: int) -> list[int]:
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=16).digest()
    h1 = int.from_bytes(digest[:8], "little")
    h2 = int.from_bytes(digest[8:], "little") | 1
    return [(h1 + i * h2) % m for i in range(k)]


@dataclass(frozen=True)
class PackageSnapshot:
    meta: dict[str, object]
    bits: bytes

    def __contains__(self, item: tuple[Ecosystem, str]) -> bool:
        ecosystem, name = item
        m, k = int(self.meta["m"]), int(self.meta["k"])  # type: ignore[call-overload]
        key = f"{ecosystem}:{normalize(ecosystem, name)}"
        return all(self.bits[p >> 3] & (1 << (p & 7)) for p in _positions(key, m, k))

    @property
    def date(self) -> str:
        return str(self.meta.get("date", "?"))


def build(names: dict[Ecosystem, list[str]], meta: dict[str, object], rate: float = 0.01) -> bytes:
    """The snapshot file's bytes for these names (``tools/build_package_snapshot.py``)."""
    keys = {f"{eco}:{normalize(eco, n)}" for eco, listed in names.items() for n in listed if n.strip()}
    n = max(1, len(keys))
    m = math.ceil(-n * math.log(rate) / math.log(2) ** 2)
    m += -m % 8
    k = max(1, round(m / n * math.log(2)))
    bits = bytearray(m // 8)
    for key in keys:
        for p in _positions(key, m, k):
            bits[p >> 3] |= 1 << (p & 7)
    header = {**meta, "m": m, "k": k, "false_positive_rate": rate, "counts": {e: len(v) for e, v in names.items()}}
    return json.dumps(header, sort_keys=True).encode() + b"\n" + bytes(bits)


def read(data: bytes) -> PackageSnapshot:
    head, _, bits = data.partition(b"\n")
    meta = json.loads(head)
    if len(bits) * 8 != int(meta["m"]):
        raise ValueError(f"package snapshot: {len(bits) * 8} bits, header says {meta['m']}")
    return PackageSnapshot(meta, bits)


@lru_cache(maxsize=4)
def load_snapshot(path: str | None = None) -> PackageSnapshot:
    """The bundled snapshot, or the file at ``path``."""
    if path is not None:
        return read(Path(path).read_bytes())
    return read(resources.files("tianping.safety.app_probes").joinpath("data").joinpath(SNAPSHOT).read_bytes())
