"""`make bench`: the intake against raw Temporal calls, on one embedded dev server, in one run.

Three comparisons, each a ratio against a baseline measured just before on the same server:

1. distinct alerts: HTTP intake acceptance rate vs raw `Client.start_workflow` signal-with-start
   (`raise_detection`), same number of alerts, same concurrency (target >= 0.8x). Nothing polls that task queue,
   so both sides measure acceptance alone.
2. storm: 10,000 Alertmanager posts for one group (5,000 distinct alerts, each sent twice) vs raw
   signal-with-start on one workflow id, with the worker running (target >= 3x, exactly one incident,
   AlertCount = distinct ids, history < 2,000 events).
3. latency, one alert at a time with the worker running: alert POST -> ticket created (create_ticket done, or
   open_incident done when it opened the ticket itself: open-ticket-v1 with local tickets) vs raw
   start -> first activity started (open_incident), p50 and p99 (target intake p99 <= 2x raw p99).

The intake runs as `python -m intake` in its own process, as `firebreak up` runs it; the load generator, the
baseline client and the worker share this process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor, Worker

from activities import all_activities
from activities.context import ActivityContext
from bench.loadgen import Connection, run_concurrently
from bench.measure import CpuMeter, Profiler, figure, load
from client.temporal import raise_detection
from embedded.binaries import temporal_cli
from integrations.artefacts import ArtefactStore
from playbook import search_attributes as sa
from playbook.models import Detection, SignalKind
from playbook.state import IncidentState
from worker import workflow_runner
from workflows.incident import IncidentWorkflow

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
IDLE_QUEUE, LIVE_QUEUE = "bench-accept-only", "bench-live"
PHASES = ("distinct", "latency", "storm")


class Marks:
    """When each workflow's activities started and finished, as seen by the worker (same clock as the sender)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.times: dict[tuple[str, str], float] = {}
        self.waiters: dict[tuple[str, str], asyncio.Future[float]] = {}

    def mark(self, workflow_id: str, what: str) -> None:
        key, now = (workflow_id, what), time.perf_counter()
        self.times.setdefault(key, now)
        fut = self.waiters.get(key)
        if fut is not None and not fut.done():
            fut.set_result(now)

    async def wait(self, workflow_id: str, what: str, timeout: float = 30.0) -> float:
        key = (workflow_id, what)
        if key in self.times:
            return self.times[key]
        fut = self.waiters.setdefault(key, self.loop.create_future())
        return await asyncio.wait_for(fut, timeout)


class Timing(Interceptor):
    def __init__(self, marks: Marks) -> None:
        self.marks = marks

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        marks = self.marks

        class Inbound(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput) -> Any:
                info = activity.info()
                marks.mark(info.workflow_id or "", f"{info.activity_type}:start")
                result = await self.next.execute_activity(input)
                marks.mark(info.workflow_id or "", f"{info.activity_type}:done")
                # The ticket: its own activity, or (open-ticket-v1, local tickets) opened by open_incident
                if info.activity_type == "create_ticket" or getattr(result, "ticket", None) is not None:
                    marks.mark(info.workflow_id or "", "ticket")
                return result

        return Inbound(next)


def write_playbook(directory: Path, task_queue: str) -> Path:
    """The repository's playbook with the bench's Alertmanager source. Its rate limit is raised to what the
    distinct phase sends (2,000 new incidents in well under a minute; the default 120 a minute would answer 429):
    the limiter still charges every request, as it does for any source with its own limit."""
    text = (REPO / "playbook.toml").read_text(encoding="utf-8")
    text += f"""
[intake]
task_queue = "{task_queue}"
[intake.sources.alertmanager]
format = "alertmanager"
token_env = "BENCH_TOKEN"
[intake.rate_limits.sources.alertmanager]
per_minute = 1000000
"""
    path = directory / f"playbook-{task_queue}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class IntakeProcess:
    def __init__(self, playbook: Path, address: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "BENCH_TOKEN": TOKEN}
        self.log = log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "intake", "--playbook", str(playbook), "--port",
                                      str(self.port), "--address", address], cwd=REPO, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    async def ready(self) -> None:
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    answer = await http.get(f"{self.url}/readyz")
                    # Temporal answers; the idle phase runs no worker on purpose (client/readiness.py)
                    if answer.status_code == 200 or answer.json().get("message", "").startswith("no worker polls"):
                        return
                except httpx.HTTPError:
                    pass
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the intake exited with {self.proc.returncode}; see {self.log.name}")
                await asyncio.sleep(0.1)
        raise RuntimeError("the intake did not become ready")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)
        self.log.close()


def am_body(group_key: str, fingerprint: str) -> dict[str, Any]:
    return {"receiver": "firebreak", "status": "firing", "version": "4", "groupKey": group_key, "truncatedAlerts": 0,
            "groupLabels": {"alertname": "LLMToxicitySpike"}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://alertmanager.example:9093",
            "alerts": [{"status": "firing", "labels": {"alertname": "LLMToxicitySpike", "service": "support-bot",
                                                       "model": "gpt-4o", "severity": "warning"},
                        "annotations": {"summary": "Toxicity score p95 above 0.8"},
                        "startsAt": "2026-11-27T10:42:05.632777135Z", "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "http://prometheus.example:9090/graph", "fingerprint": fingerprint}]}


def detection(fingerprint: str, alert_id: str) -> Detection:
    return Detection(source="bench", kind=SignalKind.TOXICITY, services=["support-bot"], model="gpt-4o",
                     summary="Toxicity score p95 above 0.8", labels={"alertname": "LLMToxicitySpike"},
                     fingerprint=fingerprint, alert_id=alert_id)


class Senders:
    """One keep-alive connection per lane of concurrency."""

    def __init__(self, url: str, concurrency: int) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self.free = [Connection(host, int(port), {"Authorization": f"Bearer {TOKEN}"}) for _ in range(concurrency)]

    async def post(self, body: dict[str, Any] | bytes) -> dict[str, Any]:
        conn = self.free.pop()
        try:
            status, data = await conn.post("/v1/alerts/alertmanager",
                                           body if isinstance(body, bytes) else json.dumps(body).encode())
        finally:
            self.free.append(conn)
        if status != 202:
            raise RuntimeError(f"intake answered {status}: {data[:300]!r}")
        return dict(json.loads(data))

    async def __aenter__(self) -> Senders:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for conn in self.free:
            conn.close()


def http_client(url: str, concurrency: int) -> Senders:
    return Senders(url, concurrency)


async def post_ok(http: Senders, body: dict[str, Any] | bytes) -> None:
    await http.post(body)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


async def distinct_phase(client: Client, address: str, tmp: Path, n: int, concurrency: int) -> dict[str, float]:
    run = uuid.uuid4().hex[:6]

    async def raw_one(i: int) -> None:
        await raise_detection(client, detection(f"raw-{run}-{i}", "a"), task_queue=IDLE_QUEUE)

    await raw_one(-1)  # warm-up
    raw = await run_concurrently(n, concurrency, raw_one)
    intake = IntakeProcess(write_playbook(tmp, IDLE_QUEUE), address, tmp / "intake-idle.log")
    try:
        await intake.ready()
        async with http_client(intake.url, concurrency) as http:
            await post_ok(http, am_body(f"warmup-{run}", "0" * 16))
            took = await run_concurrently(n, concurrency, lambda i: post_ok(
                http, am_body(f'{{}}:{{run="{run}", i="{i}"}}', f"{i:016x}")))
    finally:
        intake.stop()
    return {"raw_per_s": n / raw, "intake_per_s": n / took}


async def storm_phase(client: Client, intake: IntakeProcess, n: int, raw_n: int, distinct: int,
                      concurrency: int, profile: Path | None = None) -> dict[str, float]:
    run = uuid.uuid4().hex[:6]
    raw_fp = f"raw-storm-{run}"

    async def raw_one(i: int) -> None:
        await raise_detection(client, detection(raw_fp, f"a{i % distinct}"), task_queue=LIVE_QUEUE)

    raw = await run_concurrently(raw_n, concurrency, raw_one)
    group_key = f'{{}}:{{alertname="LLMToxicitySpike", storm="{run}"}}'
    bodies = [json.dumps(am_body(group_key, f"{i % distinct:016x}")).encode() for i in range(n)]
    async with http_client(intake.url, concurrency) as http:
        first = await http.post(am_body(group_key, f"{0:016x}"))
        workflow_id = first["incidents"][0]["workflow_id"]
        meter = CpuMeter(intake.proc.pid)
        profiler = Profiler(intake.proc.pid, profile / "storm-intake.txt") if profile else None
        try:
            took = await run_concurrently(n, concurrency, lambda i: post_ok(http, bodies[i]))
        finally:
            if profiler:
                profiler.stop()
        intake_cpu = meter.seconds()
    handle = client.get_workflow_handle(workflow_id)
    state: IncidentState | None = None
    for _ in range(600):
        state = await handle.query(IncidentWorkflow.get_state)
        if state.alert_count >= distinct:
            break
        await asyncio.sleep(0.1)
    assert state is not None
    # A long storm may continue the incident as new (Temporal suggests it past ~4 MB of history): one incident is
    # one workflow id with one run that did not continue as new; its history is all its runs' events together.
    runs = [w async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    incidents = [w for w in runs if w.status != WorkflowExecutionStatus.CONTINUED_AS_NEW]
    events = [e for w in runs async for e in client.get_workflow_handle(workflow_id, run_id=w.run_id)
              .fetch_history_events()]
    raw_events = [e async for e in client.get_workflow_handle(f"incident-{raw_fp}").fetch_history_events()]
    return {"raw_per_s": raw_n / raw, "intake_per_s": n / took, "alert_count": state.alert_count,
            "distinct": distinct, "incidents": len(incidents), "runs": len(runs), "history_events": len(events),
            "raw_history_events": len(raw_events), "intake_cpu_ms_per_alert": intake_cpu * 1000 / n}


async def latency_phase(client: Client, intake_url: str, marks: Marks, samples: int) -> dict[str, float]:
    run = uuid.uuid4().hex[:6]
    raw: list[float] = []
    for i in range(samples):
        det = detection(f"lat-{run}-{i}", "a")
        started = time.perf_counter()
        handle = await raise_detection(client, det, task_queue=LIVE_QUEUE)
        raw.append(await marks.wait(handle.id, "open_incident:start") - started)
    ticket: list[float] = []
    async with http_client(intake_url, 1) as http:
        for i in range(samples):
            started = time.perf_counter()
            answer = await http.post(am_body(f'{{}}:{{lat="{run}", i="{i}"}}', "1" * 16))
            workflow_id = answer["incidents"][0]["workflow_id"]
            ticket.append(await marks.wait(workflow_id, "ticket") - started)
    return {"raw_p50_ms": pct(raw, 50) * 1000, "raw_p99_ms": pct(raw, 99) * 1000,
            "ticket_p50_ms": pct(ticket, 50) * 1000, "ticket_p99_ms": pct(ticket, 99) * 1000,
            "samples": samples}


async def main_async(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="firebreak-bench-") as tmpdir:
        tmp = Path(tmpdir)
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(), search_attributes=sa.ALL, data_converter=pydantic_data_converter,
            dev_server_database_filename=None if args.memory else str(tmp / "temporal.db"),
            dev_server_extra_args=[a for p in args.sqlite_pragma for a in ("--sqlite-pragma", p)])
        async with env:
            client = env.client
            address = client.service_client.config.target_host
            where = "in-memory" if args.memory else f"SQLite {tmp / 'temporal.db'}"
            print(f"embedded dev server {address} ({where}); {os.cpu_count()} CPU(s); load {load()}")
            ok = True
            server = "in-memory" if args.memory else "SQLite file"
            if "distinct" in args.only:
                d = await distinct_phase(client, address, tmp, args.distinct, args.concurrency)
                print(f"distinct alerts ({args.distinct}, concurrency {args.concurrency}): raw signal-with-start "
                      f"{d['raw_per_s']:.0f}/s, intake {d['intake_per_s']:.0f}/s -> "
                      f"{d['intake_per_s'] / d['raw_per_s']:.2f}x (target >= 0.8x)")
                ok &= figure("distinct_alerts", ">= 0.8x", d["intake_per_s"] >= 0.8 * d["raw_per_s"], server=server,
                             raw_per_s=round(d["raw_per_s"], 1), intake_per_s=round(d["intake_per_s"], 1),
                             ratio=round(d["intake_per_s"] / d["raw_per_s"], 2))
            if "storm" in args.only or "latency" in args.only:
                ok &= await live_phases(args, client, address, tmp, server)
            print("all targets met" if ok else "SOME TARGETS MISSED")
            return 0 if ok else 1


async def live_phases(args: argparse.Namespace, client: Client, address: str, tmp: Path, server: str) -> bool:
    """Latency, then the storm, with the worker running and one intake process for both."""
    ok = True
    marks = Marks()
    ctx = ActivityContext(store=ArtefactStore(tmp / "artefacts"), playbook_path=REPO / "playbook.toml")
    with ThreadPoolExecutor(32) as executor:
        async with Worker(client, task_queue=LIVE_QUEUE, workflows=[IncidentWorkflow],
                          activities=all_activities(ctx), activity_executor=executor,
                          max_concurrent_activities=32, interceptors=[Timing(marks)],
                          workflow_runner=workflow_runner()):
            intake = IntakeProcess(write_playbook(tmp, LIVE_QUEUE), address, tmp / "intake-live.log")
            try:
                await intake.ready()
                lat = await latency_phase(client, intake.url, marks, args.samples) if "latency" in args.only \
                    else None
                s = await storm_phase(client, intake, args.storm, args.raw_storm, args.storm // 2,
                                      args.storm_concurrency, args.profile) if "storm" in args.only else None
            finally:
                intake.stop()
    if s is not None:
        print(f"storm ({args.storm} alerts, {s['distinct']} distinct, one group, concurrency "
              f"{args.storm_concurrency}): raw signal-with-start {s['raw_per_s']:.0f}/s "
              f"({args.raw_storm} signals), intake {s['intake_per_s']:.0f}/s -> "
              f"{s['intake_per_s'] / s['raw_per_s']:.2f}x (target >= 3x); incidents {s['incidents']} "
              f"({s['runs']} run(s)), AlertCount {s['alert_count']} (distinct {s['distinct']}), history "
              f"{s['history_events']} events (target < 2000; raw storm history {s['raw_history_events']}); intake "
              f"CPU {s['intake_cpu_ms_per_alert']:.2f} ms per alert")
        ok &= figure("storm", ">= 3x, one incident, AlertCount = distinct, history < 2000 events",
                     s["intake_per_s"] >= 3 * s["raw_per_s"] and s["incidents"] == 1
                     and s["alert_count"] == s["distinct"] and s["history_events"] < 2000, server=server,
                     raw_per_s=round(s["raw_per_s"], 1), intake_per_s=round(s["intake_per_s"], 1),
                     ratio=round(s["intake_per_s"] / s["raw_per_s"], 2), incidents=s["incidents"],
                     alert_count=s["alert_count"], history_events=s["history_events"],
                     intake_cpu_ms_per_alert=round(s["intake_cpu_ms_per_alert"], 3))
    if lat is not None:
        print(f"latency ({lat['samples']} alerts one at a time): raw start -> first activity p50 "
              f"{lat['raw_p50_ms']:.1f} ms p99 {lat['raw_p99_ms']:.1f} ms; intake alert -> ticket p50 "
              f"{lat['ticket_p50_ms']:.1f} ms p99 {lat['ticket_p99_ms']:.1f} ms -> p99 "
              f"{lat['ticket_p99_ms'] / lat['raw_p99_ms']:.2f}x (target <= 2x)")
        ok &= figure("alert_to_ticket_p99", "<= 2x", lat["ticket_p99_ms"] <= 2 * lat["raw_p99_ms"], server=server,
                     raw_p99_ms=round(lat["raw_p99_ms"], 1), ticket_p99_ms=round(lat["ticket_p99_ms"], 1),
                     ratio=round(lat["ticket_p99_ms"] / lat["raw_p99_ms"], 2))
    return ok


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.intake", description=__doc__.splitlines()[0])
    parser.add_argument("--distinct", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--storm", type=int, default=10_000)
    parser.add_argument("--raw-storm", type=int, default=2_000, help="signals in the raw storm baseline")
    parser.add_argument("--storm-concurrency", type=int, default=128)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--memory", action="store_true", help="in-memory SQLite instead of a file (the embedded "
                        "default uses a file)")
    parser.add_argument("--sqlite-pragma", action="append", default=[], help="passed to the dev server, e.g. "
                        "synchronous=NORMAL")
    parser.add_argument("--only", action="append", choices=PHASES, help="run only this comparison (repeatable; "
                        "default: all three)")
    parser.add_argument("--profile", type=Path, help="a folder: py-spy records the intake process while the storm "
                        "is sent (storm-intake.txt, collapsed stacks; python -m bench.flame summarises it)")
    args = parser.parse_args(argv)
    args.only = args.only or list(PHASES)
    code = asyncio.run(main_async(args))
    sys.stdout.flush()
    os._exit(code)  # the SDK can crash the interpreter at exit (sdk-python #300)


if __name__ == "__main__":
    main()
