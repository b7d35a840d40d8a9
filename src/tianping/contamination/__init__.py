"""Contamination detection: was a benchmark in a model's training data?

Every method gives each item a score, higher meaning more likely seen (``results.ItemResult``); a dataset-level
test compares a benchmark's scores with those of fresh items (``stats``, ``results.dataset_tests``).

- ``items``: the items as a training corpus would hold them, and the groups compared (a comparison set, or a
  reference model's exposure ladder);
- ``logprobs``, ``scores``, ``whitebox``: token log-probabilities (local model or echoing endpoint) and the
  scores made of them (loss, zlib ratio, Min-K%, Min-K%++, reference-model ratio);
- ``blackbox``, ``perturb``: guided completion, TS-guessing and the performance drop on perturbed copies;
- ``ngram``, ``bloom``: n-gram overlap with a streamed corpus, and a Bloom-filter index of one.

The command line is ``tianping contamination`` (``tianping.cli.contamination``); docs/contamination.md
describes the methods, the test design and their measurement on the bundled reference models.
"""
