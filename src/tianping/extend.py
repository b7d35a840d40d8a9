"""The public API for extending tianping: new task kinds, loaders, scorers, extractors, metrics and backends.

A plugin is a Python file in an ``--include-path`` folder (or ``TIANPING_INCLUDE_PATH``), or an installed
package that names its objects under the ``tianping.*`` entry point groups (``tianping.engine.tasks.GROUPS``).
Both register through these functions; ``docs/extending.md`` has a complete example of each.
"""

from __future__ import annotations

from tianping.benchmarks.errors import DatasetError
from tianping.benchmarks.loaders import LoadedDataset, register_loader
from tianping.benchmarks.references import extension
from tianping.benchmarks.scorers import register_extractor, register_metric, register_scorer
from tianping.core import Completion, GenerationParams, LogLikelihood, Message, Request, Response, Sample, Score
from tianping.core.backend import ModelBackend
from tianping.core.errors import TaskConfigError
from tianping.core.results import MetricRow, RunInfo
from tianping.core.task import (
    GENERATE,
    LOGLIKELIHOOD,
    MULTI_TURN,
    TOOLS,
    Ask,
    Episode,
    ReportSection,
    ScoringContext,
    Task,
    TaskAggregation,
    TaskKind,
    TaskSettings,
)
from tianping.engine.tasks import register_kind
from tianping.models.errors import ModelError
from tianping.models.registry import register_backend
from tianping.spec import ModelSpec

__all__ = [
    "GENERATE",
    "LOGLIKELIHOOD",
    "MULTI_TURN",
    "TOOLS",
    "Ask",
    "Completion",
    "DatasetError",
    "Episode",
    "GenerationParams",
    "LoadedDataset",
    "LogLikelihood",
    "Message",
    "MetricRow",
    "ModelBackend",
    "ModelError",
    "ModelSpec",
    "ReportSection",
    "Request",
    "Response",
    "RunInfo",
    "Sample",
    "Score",
    "ScoringContext",
    "Task",
    "TaskAggregation",
    "TaskConfigError",
    "TaskKind",
    "TaskSettings",
    "extension",
    "register_backend",
    "register_extractor",
    "register_kind",
    "register_loader",
    "register_metric",
    "register_scorer",
]
