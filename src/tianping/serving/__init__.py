"""Measuring model-serving endpoints: streaming probes, load shapes, continuous monitoring."""
