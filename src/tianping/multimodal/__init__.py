"""Multimodal understanding: images in requests, the procedurally generated ``tp_vision`` benchmark, loaders for
the layouts vision benchmarks ship in, and the image folder of a results directory."""
