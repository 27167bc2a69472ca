"""What the benchmarks read from Linux: a process's memory and CPU (/proc), the machine's load, and one worker
process to measure (Firebreak's `python worker.py`, or the trivial baseline's `python -m bench.trivial`)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import settings

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (peak resident) of a process, in kB."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime: fields 14 and 15 of stat(5)


def thread_cpu_ns(pid: int) -> dict[str, int]:
    """On-CPU nanoseconds of each live thread, from /proc/<pid>/task/<tid>/schedstat."""
    times: dict[str, int] = {}
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            times[stat.parent.name] = int(stat.read_text().split()[0])
        except (OSError, IndexError, ValueError):  # the thread ended meanwhile
            continue
    return times


class CpuMeter:
    """CPU seconds a process used between start() and seconds(): the larger of the per-thread schedstat deltas
    (nanoseconds, but a thread that ends in between takes its time with it) and the utime + stime delta of
    /proc/<pid>/stat (every thread, but in 10 ms clock ticks)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.threads, self.total = thread_cpu_ns(pid), cpu_seconds(pid)

    def seconds(self) -> float:
        now = thread_cpu_ns(self.pid)
        threads = sum(max(0, ns - self.threads.get(tid, 0)) for tid, ns in now.items()) / 1e9
        return max(threads, cpu_seconds(self.pid) - self.total)


def mb(kb: float) -> float:
    return kb * 1024 / 1e6


def load() -> str:
    """The machine's load averages (1, 5, 15 min), as `uptime` prints them: other work on the same cores."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def figure(name: str, target: str, met: bool | None, **values: Any) -> bool:
    """One figure as one line of JSON (`bench-figure {...}`), so runs can be compared; whether it met its target."""
    print("bench-figure " + json.dumps({"figure": name, **values, "target": target, "met": met, "load": load()}),
          flush=True)
    return bool(met)


@dataclass
class Reading:
    rss_kb: int
    cpu_percent: float  # of one core, over the window
    window_s: float


async def quiet_reading(pid: int, window: float) -> Reading:
    """CPU over `window` seconds of (expected) quiet, and the resident memory at its end."""
    meter, t0 = CpuMeter(pid), time.monotonic()
    await asyncio.sleep(window)
    used, t1 = meter.seconds(), time.monotonic()
    return Reading(rss_kb=memory_kb(pid)["VmRSS"], cpu_percent=100 * used / (t1 - t0), window_s=t1 - t0)


class WorkerProcess:
    """A worker in its own process against the bench's server, as `firebreak worker` runs it: `command` is
    `worker.py` (Firebreak) or `-m bench.trivial` (the baseline); both log "worker polling task queue"."""

    def __init__(self, command: list[str], address: str, playbook: Path, home: Path, task_queue: str, log: Path,
                 max_cached: int | None, strict_sandbox: bool = False) -> None:
        env = {**os.environ, settings.HOME: str(home), settings.TASK_QUEUE: task_queue}
        for var in (settings.WORKER_METRICS, settings.OTEL, settings.STRICT_SANDBOX, "OTEL_EXPORTER_OTLP_ENDPOINT",
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
            env.pop(var, None)  # measure the plain worker, as deployed
        if max_cached is not None:
            env[settings.WORKER_MAX_CACHED_WORKFLOWS] = str(max_cached)
        if strict_sandbox:
            env[settings.STRICT_SANDBOX] = "1"
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, *command, "--playbook", str(playbook), "--address", address],
                                         cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the worker exited with {self.proc.returncode}: {self.tail()}")
            if "worker polling task queue" in self.log.read_text(errors="replace"):
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"the worker did not start polling within {timeout:.0f} s: {self.tail()}")

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 60) -> int:
        """Ctrl-C (the worker finishes its tasks and stops); kill it if it does not stop in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


class PeakSampler:
    """Samples VmRSS while the fleet opens (VmHWM is the kernel's own peak; this is a cross-check)."""

    def __init__(self, pid: int, every: float = 0.25) -> None:
        self.pid, self.every, self.peak_kb, self.samples = pid, every, 0, 0
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            try:
                self.peak_kb = max(self.peak_kb, memory_kb(self.pid)["VmRSS"])
                self.samples += 1
            except (OSError, KeyError):  # the process is gone
                return
            await asyncio.sleep(self.every)

    def __enter__(self) -> PeakSampler:
        self.task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.task.cancel()


class Profiler:
    """py-spy (a dev dependency) sampling a process until stop(): collapsed stacks, one per line with its count,
    of the thread holding the GIL only (what the worker spends Python CPU on: without --gil, py-spy counted the
    activity pool's threads waiting for work and threads blocked in fsync as busy)."""

    def __init__(self, pid: int, out: Path, rate: int = 200) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        py_spy = Path(sys.executable).parent / "py-spy"
        self.proc = subprocess.Popen([str(py_spy), "record", "--pid", str(pid), "--rate", str(rate), "--format",
                                      "raw", "--output", str(out), "--nonblocking", "--threads", "--gil"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
