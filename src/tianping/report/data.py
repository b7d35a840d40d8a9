"""What a report shows, read from the store; renderers take these and nothing else.

The rows are defined in :mod:`tianping.core.results` (lower layers use them too); kept here so existing imports work.
"""

from tianping.core.results import BreakdownRow, MetricRow, RunInfo, SampleRow

__all__ = ["BreakdownRow", "MetricRow", "RunInfo", "SampleRow"]
