"""Benchmarks: `make bench` runs bench.intake (the intake vs raw Temporal) and bench.fleet (many waiting
incidents against one worker process)."""
