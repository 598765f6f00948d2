"""Benchmarks: `make bench` prints the figures and writes docs/benchmarks.md."""
