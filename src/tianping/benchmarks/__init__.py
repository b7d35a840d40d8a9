"""Benchmarks: declared as YAML data, compiled into typed ``Benchmark`` objects."""
