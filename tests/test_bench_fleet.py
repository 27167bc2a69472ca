"""`python -m bench.fleet` (part of `make bench`) runs end to end on a small fleet and prints its figures.

Not a performance test: 20 workflows of each kind, short windows; the figures are checked for presence and sense
only. Whether a target is met is `make bench`'s verdict on a full fleet (docs/performance.md), so a missed target
may end the run with 1 here, but never a problem (a workflow that did not wait on its timer, a worker that died).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIGURES = {"memory_per_cached_workflow", "open_cpu", "peak_rss_1000_waiting", "all_waiting_on_timer",
           "wake_evicted_cpu"}


def test_fleet_bench_runs_and_reports() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.fleet", "--incidents", "20", "--concurrency", "8",
                           "--window", "1", "--settle", "0.5", "--wake", "5", "--timeout", "60"],
                          cwd=REPO, capture_output=True, text=True, timeout=180)
    lines, tail = proc.stdout.splitlines(), proc.stdout[-3000:] + proc.stderr[-3000:]
    results = {r["kind"]: r for r in (json.loads(line.removeprefix("fleet-result ")) for line in lines
                                      if line.startswith("fleet-result "))}
    figures = {f["figure"]: f for f in (json.loads(line.removeprefix("bench-figure ")) for line in lines
                                        if line.startswith("bench-figure "))}
    assert set(results) == {"trivial", "incident"} and set(figures) == FIGURES, tail
    for r in results.values():
        assert r["n"] == 20 and r["problems"] == [], tail
        assert 0 < r["idle_rss_mb"] <= r["peak_rss_mb"] and r["open_cpu_ms"] > 0 and r["wake_cpu_ms"] > 0, r
    for f in figures.values():
        assert isinstance(f["met"], bool) and f["target"], f
    assert figures["memory_per_cached_workflow"]["ratio"] > 0 and figures["open_cpu"]["ratio"] > 0
    all_met = all(f["met"] for f in figures.values())
    assert proc.returncode == (0 if all_met else 1), tail
    assert ("fleet: all targets met" if all_met else "fleet: SOME TARGETS MISSED") in lines, tail
