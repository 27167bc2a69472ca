"""Benchmarks: `make bench` runs bench.intake."""
