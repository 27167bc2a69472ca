"""`python worker.py`: a Temporal worker with every Firebreak workflow and activity.

The playbook is validated before the worker connects, so a bad file stops it with the file, key and reason.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker, WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker._command_aware_visitor import CommandInfo
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.worker.workflow_sandbox._runner import _Instance as SandboxedInstance

from activities import all_activities
from activities.context import ActivityContext
from client.codec import describe as describe_codec
from client.codec import load_codec
from client.temporal import TASK_QUEUE, connect, ensure_search_attributes
from observability.logs import configure_logging
from observability.runtime import metrics_address, worker_runtime
from observability.tracing import setup as setup_tracing
from playbook.config import PlaybookError, load_playbook
from settings import cached_workflows, default_playbook_path, strict_sandbox
from workflows.action_items import ActionItemWorkflow
from workflows.incident import IncidentWorkflow
from workflows.watch import WatchWorkflow

log = logging.getLogger("firebreak.worker")
MAX_ACTIVITY_THREADS = 32
# Passed through the workflow sandbox by package prefix (modules added later under them are covered): the sandbox
# otherwise re-imports every workflow room for each run it caches or replays (~250 kB and ~40 ms CPU per run,
# docs/performance.md). The SDK does not check calls inside passed-through modules, so FIREBREAK_STRICT_SANDBOX=1
# (what the tests run) re-imports them per run again and every call in them is checked.
PASSED_THROUGH: tuple[str, ...] = ("workflows", "playbook")


class _DirectContextInstance(SandboxedInstance):
    """A sandboxed run whose payload contexts are looked up without entering the sandbox.

    For every payload of every activation and completion (three or four times each: decode, encode, external
    storage, references) the SDK asks the run which serialization context applies, and answers by `exec`-ing a
    two-line string inside the sandbox: compiled anew each time, with sys.modules, `__import__` and the restricted
    builtins swapped in and out (115 us a call, about 50 calls to open an incident; docs/performance.md). The answer
    is the SDK's own bookkeeping (the workflow's info, its pending activities and children by sequence number),
    read by SDK code that the sandbox passes through (temporalio is the same module inside and out): no workflow
    code runs, so nothing the sandbox guards is skipped. Here it is asked of the same in-sandbox object directly.
    tests/test_sandbox.py checks both answers agree for every kind of command; pinned to temporalio 1.35.0."""

    def get_serialization_context(self, command_info: CommandInfo | None) -> Any:
        return self._in_sandbox().get_serialization_context(command_info)

    def get_external_store_context(self, command_info: CommandInfo | None) -> Any:
        return self._in_sandbox().get_external_store_context(command_info)

    def _in_sandbox(self) -> Any:
        return self.globals_and_locals["__temporal_in_sandbox"]  # the SDK's InSandbox, made by _create_instance


@dataclass(frozen=True)
class FirebreakSandbox(SandboxedWorkflowRunner):
    """The SDK's sandbox, every workflow call checked as before, payload contexts looked up directly."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _DirectContextInstance(det, self.runner_class, self.restrictions)


def workflow_runner(strict: bool | None = None) -> SandboxedWorkflowRunner:
    """The sandbox every Firebreak worker and replayer uses; `strict` defaults to FIREBREAK_STRICT_SANDBOX."""
    restrictions = SandboxRestrictions.default
    if not (strict_sandbox() if strict is None else strict):
        restrictions = restrictions.with_passthrough_modules(*PASSED_THROUGH)
    return FirebreakSandbox(restrictions=restrictions)


def build_worker(client: Client, ctx: ActivityContext, task_queue: str = TASK_QUEUE,
                 executor: ThreadPoolExecutor | None = None) -> Worker:
    return Worker(client, task_queue=task_queue, workflows=[IncidentWorkflow, WatchWorkflow, ActionItemWorkflow],
                  activities=all_activities(ctx),
                  activity_executor=executor or ThreadPoolExecutor(MAX_ACTIVITY_THREADS),
                  max_concurrent_activities=MAX_ACTIVITY_THREADS, max_cached_workflows=cached_workflows(),
                  workflow_runner=workflow_runner())


async def run_worker(playbook_path: Path, address: str | None, stop: asyncio.Event) -> None:
    ctx = ActivityContext.from_environment(playbook_path)
    ctx.note_playbook("worker")
    runtime = worker_runtime()  # metrics / core log forwarding: before the client, as the SDK requires
    client = await connect(address, **({"runtime": runtime} if runtime is not None else {}))
    if metrics_address():
        log.info("worker metrics at http://%s/metrics", metrics_address())
    added = await ensure_search_attributes(client)
    if added:
        log.info("registered search attributes %s", ", ".join(added))
    with ThreadPoolExecutor(MAX_ACTIVITY_THREADS) as executor:
        async with build_worker(client, ctx, executor=executor):
            log.info("worker polling task queue %s on %s (playbook %s, artefacts %s)", TASK_QUEUE,
                     client.service_client.config.target_host, playbook_path, ctx.store.location())
            await stop.wait()
    log.info("worker stopped")


def check_playbook(path: Path) -> None:
    """Exit 2 with the file, key and reason when the playbook cannot be used."""
    try:
        load_playbook(path)
    except PlaybookError as err:
        print(f"firebreak: refusing to start: {err}", file=sys.stderr)
        raise SystemExit(2) from err


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="firebreak worker", description=__doc__.splitlines()[0])
    parser.add_argument("--playbook", type=Path, default=default_playbook_path(),
                        help="playbook file (default: $FIREBREAK_PLAYBOOK or ./playbook.toml)")
    parser.add_argument("--address", help="Temporal frontend host:port (default: envconfig / TEMPORAL_ADDRESS, "
                        "else localhost:7233)")
    args = parser.parse_args(argv)
    configure_logging()
    check_playbook(args.playbook)
    try:
        cached_workflows()
        strict_sandbox()
        metrics_address()
        if setup_tracing("firebreak-worker"):
            log.info("OpenTelemetry tracing on")
        log.info("payload encryption %s", describe_codec(load_codec()))
    except ValueError as err:  # also CodecConfigError / MetricsConfigError / TracingConfigError: unusable
        print(f"firebreak: refusing to start: {err}", file=sys.stderr)
        raise SystemExit(2) from err

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(args.playbook.resolve(), args.address, stop)

    asyncio.run(serve())


if __name__ == "__main__":
    main()
