"""Exit codes, one table for every command (documented in the README)."""

from __future__ import annotations

OK = 0
"""Finished, and every result is whole and valid."""
INCOMPLETE = 1
"""Finished, but the results are not whole: samples failed after retries (``run``: resume retries them), or a
load test's measurement is not valid (the client was the bottleneck)."""
BAD_INPUT = 2
"""Bad input: a flag, a file, a definition, a data row or a result store; the message names which."""
FAILED = 3
"""Could not go on: 401, unknown model, unreachable endpoint, changed data, a full disk. Results already
obtained are kept."""
INTERRUPTED = 130
"""Interrupted (Ctrl-C or SIGTERM); results already obtained are kept."""
