"""Plain data types shared by every part of tianping. Imports nothing else of tianping."""

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

__all__ = ["Completion", "GenerationParams", "LogLikelihood", "Message", "Request", "Response", "Sample", "Score"]
