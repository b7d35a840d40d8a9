"""IFEval (Zhou et al. 2023, "Instruction-Following Evaluation for Large Language Models").

Importing this package registers the ``ifeval_jsonl`` loader and the ``ifeval`` scorer.
"""

from tianping.benchmarks.ifeval import loader as loader
from tianping.benchmarks.ifeval.evaluate import IFEvalResult, evaluate, loose_variants, score_ifeval
from tianping.benchmarks.ifeval.instructions import INSTRUCTIONS

__all__ = ["INSTRUCTIONS", "IFEvalResult", "evaluate", "loose_variants", "score_ifeval"]
