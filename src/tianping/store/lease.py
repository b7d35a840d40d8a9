"""Who is executing a run, and whether that process is still alive.

A live run holds a lease in the store: its process (host, pid, the process's start time, so that a reused
pid is not mistaken for it) and a heartbeat renewed while it runs. A second process on the same run id is
refused while the lease is live; a run whose process is gone is recognised as interrupted, not running.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HEARTBEAT_S = 5.0
"""How often a live run renews its heartbeat."""
STALE_AFTER_S = 120.0
"""A heartbeat older than this marks the lease stale when the owner's process cannot be checked directly
(another host). Long enough that a local model's slow batch, which holds the event loop, does not lose it."""


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None where /proc does not tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: count fields after its closing one
    return stat.rsplit(")", 1)[-1].split()[19]


@dataclass(frozen=True, slots=True)
class Owner:
    host: str
    pid: int
    started: str | None

    @classmethod
    def me(cls) -> Owner:
        return cls(socket.gethostname(), os.getpid(), _start_time(os.getpid()))

    def to_json(self) -> str:
        return json.dumps({"host": self.host, "pid": self.pid, "started": self.started})

    @classmethod
    def from_json(cls, text: str | None) -> Owner | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(str(data["host"]), int(data["pid"]), data.get("started"))
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        return f"process {self.pid} on {self.host}"


def _alive_here(owner: Owner) -> bool:
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to another user
        return True
    started = _start_time(owner.pid)
    return owner.started is None or started is None or started == owner.started


def lease_is_live(owner_json: str | None, heartbeat_at: float | None, now: float | None = None) -> bool:
    """Whether the run's owner is still executing it: on this host, its process exists (and is the same
    process); on another host, its heartbeat is recent."""
    owner = Owner.from_json(owner_json)
    if owner is None or heartbeat_at is None:
        return False
    if owner.host == socket.gethostname():
        return _alive_here(owner)
    return (now if now is not None else time.time()) - heartbeat_at < STALE_AFTER_S


def lease_holder(row: dict[str, Any]) -> str:
    owner = Owner.from_json(row.get("owner_json"))
    if owner is None:
        return "another process"
    age = time.time() - (row.get("heartbeat_at") or 0)
    return f"{owner.describe()} (heartbeat {age:.0f} s ago)"


def processes_holding(path: Path) -> list[str]:
    """Other processes that have the database (or its WAL) open, for a message about who holds a lock.
    Linux only (reads /proc); elsewhere, or without permission, an empty list."""
    names = {str(path.resolve()), str(path.resolve()) + "-wal", str(path.resolve()) + "-shm"}
    found = []
    me = os.getpid()
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []
    for pid in pids:
        if pid == me:
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target in names:
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    cmd = "?"
                found.append(f"pid {pid} ({' '.join(cmd.split())[:80]})")
                break
    return found
