"""Benchmarks: pytest-benchmark suites (pytest benchmarks/) and a ratio runner (python -m benchmarks)."""
