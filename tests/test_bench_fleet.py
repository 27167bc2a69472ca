"""`python -m bench.fleet` (part of `make bench`) runs end to end on a small fleet and prints its figures.

Not a performance test: 20 incidents, short windows; the figures are checked for presence and sense only.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_fleet_bench_runs_and_reports() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.fleet", "--incidents", "20", "--concurrency", "8",
                           "--window", "1", "--settle", "0.5", "--wake", "5", "--timeout", "60"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    lines = proc.stdout.splitlines()
    results = [json.loads(line.removeprefix("fleet-result ")) for line in lines if line.startswith("fleet-result ")]
    assert proc.returncode == 0 and len(results) == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    r = results[0]
    assert r["incidents"] == r["waiting"] == 20 and r["problems"] == []
    assert 0 < r["baseline_rss_mb"] <= r["peak_rss_mb"] and r["peak_ratio"] >= 1
    assert r["fleet_idle_cpu_percent"] >= 0 and r["wake_cpu_ms_per_incident"] > 0 and r["woken"] == 5
    for label in ("worker memory: idle with 0 incidents", "peak (VmHWM)", "worker idle CPU over", "all targets met"):
        assert any(label in line for line in lines), label
