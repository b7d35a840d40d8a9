"""A Bloom filter of n-grams: a corpus's n-grams in fixed memory, saved once and checked against any benchmark.

Sized for ``capacity`` distinct keys at false-positive rate ``error_rate``: ``m = -n ln p / (ln 2)^2`` bits and
``k = (m / n) ln 2`` hash functions (10 million n-grams at 1e-4 take 24 MB). Keys are hashed once with BLAKE2b
(128 bits, stable across processes and machines, unlike Python's ``hash``); the ``k`` positions are
``h1 + i * h2 mod m`` (Kirsch and Mitzenmacher's double hashing). A key that was added is always found; one
that was not is found with probability about ``error_rate`` while the filter holds no more than ``capacity``
keys (``expected_error`` gives the rate for the count actually added).

File format: one line of JSON (the parameters and what was indexed), a newline, then the ``m`` bits.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "tianping-bloom-1"


class BloomError(ValueError):
    """A filter file that cannot be read, or parameters that make no filter."""


class BloomFilter:
    def __init__(self, capacity: int, error_rate: float = 1e-4, *, meta: dict[str, Any] | None = None):
        if capacity < 1:
            raise BloomError(f"capacity must be at least 1, got {capacity}")
        if not 0 < error_rate < 1:
            raise BloomError(f"error_rate must be between 0 and 1, got {error_rate}")
        self.capacity = capacity
        self.error_rate = error_rate
        self.bits = max(8, math.ceil(-capacity * math.log(error_rate) / math.log(2) ** 2))
        self.hashes = max(1, round(self.bits / capacity * math.log(2)))
        self.array = np.zeros((self.bits + 7) // 8, dtype=np.uint8)
        self.added = 0
        self.meta: dict[str, Any] = dict(meta or {})

    def _positions(self, keys: list[str]) -> np.ndarray:
        """``[len(keys), k]`` bit positions; the arithmetic wraps at 2^64 (numpy uint64), the same for every
        caller, so that a saved filter reads back identically."""
        digests = b"".join(hashlib.blake2b(key.encode("utf-8"), digest_size=16).digest() for key in keys)
        halves = np.frombuffer(digests, dtype="<u8").reshape(len(keys), 2)
        h1, h2 = halves[:, :1], halves[:, 1:] | np.uint64(1)  # h2 odd, so the k positions differ
        steps = np.arange(self.hashes, dtype=np.uint64)[None, :]
        with np.errstate(over="ignore"):
            return (h1 + steps * h2) % np.uint64(self.bits)

    def add_many(self, keys: list[str]) -> None:
        if not keys:
            return
        pos = self._positions(keys).ravel()
        np.bitwise_or.at(
            self.array, (pos >> np.uint64(3)).astype(np.int64), (1 << (pos & np.uint64(7))).astype(np.uint8)
        )
        self.added += len(keys)

    def add(self, key: str) -> None:
        self.add_many([key])

    def contains_many(self, keys: list[str]) -> np.ndarray:
        """A boolean per key: possibly added (True) or certainly not (False)."""
        if not keys:
            return np.zeros(0, dtype=bool)
        pos = self._positions(keys)
        hit = self.array[(pos >> np.uint64(3)).astype(np.int64)] & (1 << (pos & np.uint64(7))).astype(np.uint8)
        return np.all(hit != 0, axis=1)

    def __contains__(self, key: str) -> bool:
        return bool(self.contains_many([key])[0])

    def expected_error(self) -> float:
        """False-positive rate for the keys added so far (repeated keys counted as often as added, so an
        upper bound): ``(1 - e^(-k n / m))^k``."""
        return (1 - math.exp(-self.hashes * self.added / self.bits)) ** self.hashes

    def save(self, path: Path) -> None:
        header = {
            "format": FORMAT,
            "capacity": self.capacity,
            "error_rate": self.error_rate,
            "bits": self.bits,
            "hashes": self.hashes,
            "added": self.added,
            **self.meta,
        }
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as fh:
            fh.write(json.dumps(header, ensure_ascii=False).encode("utf-8") + b"\n")
            fh.write(self.array.tobytes())
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> BloomFilter:
        try:
            with path.open("rb") as fh:
                line = fh.readline(1 << 20)
                try:
                    header = json.loads(line)
                except ValueError:
                    header = None
                if not isinstance(header, dict) or header.get("format") != FORMAT:
                    raise BloomError(f"{path}: not an n-gram index written by tianping contamination ngram")
                data = fh.read()
        except OSError as exc:
            raise BloomError(f"{path}: cannot read: {exc.strerror or exc}") from None
        try:
            bloom = cls(int(header["capacity"]), float(header["error_rate"]))
            if bloom.bits != int(header["bits"]) or bloom.hashes != int(header["hashes"]):
                raise BloomError(f"{path}: header sizes disagree with its capacity and error rate")
            bloom.added = int(header["added"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BloomError(f"{path}: malformed header ({exc})") from None
        if len(data) != len(bloom.array):
            raise BloomError(f"{path}: {len(data)} bytes of bits, expected {len(bloom.array)} (file cut short?)")
        bloom.array = np.frombuffer(data, dtype=np.uint8).copy()
        own = ("format", "capacity", "error_rate", "bits", "hashes", "added")
        bloom.meta = {k: v for k, v in header.items() if k not in own}
        return bloom
