"""tianping (天平): an open evaluation system for large language models and the services that serve them."""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # imported on first use: the command line imports this package and must not pay for the Python API
    if name in ("evaluate", "aevaluate", "resume", "aresume", "Evaluation", "BenchmarkScore", "EvaluationFailed"):
        from tianping import evaluation

        return getattr(evaluation, name)
    raise AttributeError(f"module 'tianping' has no attribute {name!r}")


__all__ = [
    "BenchmarkScore",
    "Evaluation",
    "EvaluationFailed",
    "__version__",
    "aevaluate",
    "aresume",
    "evaluate",
    "resume",
]
