"""LLM-as-judge evaluation: the judged benchmarks and the statistics of judges.

Statistics (plain library code, no model calls; ``docs/judging.md``):

* :mod:`tianping.judging.diagnostics` -- position consistency and preference, verbosity preference,
  self-preference and the final verdict of a pair judged in both orders;
* :mod:`tianping.judging.agreement` -- LLMBar / Auto-J loaders, accuracy per subset, Cohen's kappa;
* :mod:`tianping.judging.alpaca_eval` -- AlpacaEval 2.0's raw and length-controlled win rates;
* :mod:`tianping.judging.logit` -- the logistic-regression fit they share.

The judged benchmarks (task kind ``judged``; ``docs/subjective.md``): MT-Bench, Arena-Hard, AlpacaEval and custom
rubrics -- ``kind`` (the kind), ``tasks`` and ``rubric`` (the tasks), ``sources`` (their data), ``grading`` and
``pairwise`` (asking the judge, ``asking``, with the prompts of ``prompts/``), ``verdicts`` (reading it strictly),
``records`` (what a sample stores), ``sections`` and ``graded_bias`` (the report tables), ``battles`` (for
``tianping arena ratings``) and ``families`` (model families, for self-preference).
"""
