"""Benchmarks (not tests; never run by CI): see bench/README.md."""
