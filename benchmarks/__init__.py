"""Reproducible speed, scale and quality measurements; ``python -m benchmarks.run`` writes RESULTS.md."""
