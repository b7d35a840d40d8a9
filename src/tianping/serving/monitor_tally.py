"""What each endpoint did during a ``tianping monitor`` run, and the moments worth a line in the terminal.

A monitor runs for days; a line per call would bury what matters. What is shown as it happens is a change of
state: an endpoint's first failed call after a success (or at the start), with its failure class and error, and
its first success after failures, with how many calls failed in between. The counts per endpoint are printed
when the run stops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tianping.serving.records import ProbeRecord

ERROR_SHOWN = 200
"""Characters of a failed call's error text in its line (the record keeps up to 2,000)."""


@dataclass
class EndpointTally:
    calls: int = 0
    ok: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    failing: int = 0
    """Failed calls in a row, up to the last one."""

    def count(self, record: ProbeRecord) -> str | None:
        """Count one call; the change of state it makes (the endpoint starts failing, or recovers), if any."""
        self.calls += 1
        if record.ok:
            self.ok += 1
            recovered, self.failing = self.failing, 0
            return f"ok again after {recovered} failed call{'s' if recovered != 1 else ''}" if recovered else None
        failure = record.failure or "unknown"
        self.failures[failure] = self.failures.get(failure, 0) + 1
        self.failing += 1
        if self.failing > 1:
            return None
        error = " ".join((record.error or "").split())
        cut = error[:ERROR_SHOWN] + ("…" if len(error) > ERROR_SHOWN else "")
        return f"failing: {failure}" + (f" ({cut})" if cut else "")


def total_failures(tallies: dict[str, EndpointTally]) -> dict[str, int]:
    """Failed calls by class over every endpoint."""
    out: dict[str, int] = {}
    for tally in tallies.values():
        for failure, n in tally.failures.items():
            out[failure] = out.get(failure, 0) + n
    return out
