"""Benchmarks: `make bench` (python -m bench) runs each and prints ratios measured side by side."""
