"""Statistics for LLM-as-judge benchmarks: judge bias diagnostics, agreement with human labels, AlpacaEval.

* :mod:`tianping.judging.diagnostics` -- position consistency and preference, verbosity preference,
  self-preference and the final verdict of a pair judged in both orders;
* :mod:`tianping.judging.agreement` -- LLMBar / Auto-J loaders, accuracy per subset, Cohen's kappa;
* :mod:`tianping.judging.alpaca_eval` -- AlpacaEval 2.0's raw and length-controlled win rates;
* :mod:`tianping.judging.logit` -- the logistic-regression fit they share.

Plain library code: nothing here calls a model. See ``docs/judging.md``.
"""
