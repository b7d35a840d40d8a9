"""Plain data types shared by every part of tianping. Imports nothing else of tianping."""

from tianping.core.results import BreakdownRow, MetricRow, RunInfo, SampleRow
from tianping.core.types import (
    Completion,
    GenerationParams,
    LogLikelihood,
    Message,
    Request,
    Response,
    Sample,
    Score,
)

__all__ = [
    "BreakdownRow",
    "Completion",
    "GenerationParams",
    "LogLikelihood",
    "Message",
    "MetricRow",
    "Request",
    "Response",
    "RunInfo",
    "Sample",
    "SampleRow",
    "Score",
]
