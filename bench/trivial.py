"""`python -m bench.trivial`: the fleet bench's raw baseline, a trivial workflow with an incident's shape of life.

One activity, then a 60-minute timer, and a signal handler; started by signal-with-start with a Detection and
signalled with a HumanAction, as an incident is. Its worker is run the way `python worker.py` runs Firebreak's:
the same client and data converter (client.temporal.connect), the same sandbox (worker.workflow_runner, with this
module passed through like the workflow rooms), the same sticky cache and activity threads.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.worker import Worker

import settings
import worker
from client.temporal import connect

with workflow.unsafe.imports_passed_through():
    from playbook.models import Detection, HumanAction

TIMER = timedelta(minutes=60)


@activity.defn
def note_opened(detection: Detection) -> str:
    return detection.fingerprint or ""


@workflow.defn
class TrivialWorkflow:
    def __init__(self) -> None:
        self.actions: list[HumanAction] = []

    @workflow.signal
    def act(self, action: HumanAction) -> None:
        self.actions.append(action)

    @workflow.run
    async def run(self, detection: Detection) -> int:
        await workflow.execute_activity(note_opened, detection, start_to_close_timeout=timedelta(seconds=30))
        await workflow.sleep(TIMER)
        return len(self.actions)


async def serve(address: str, task_queue: str, stop: asyncio.Event) -> None:
    client = await connect(address)
    worker.PASSED_THROUGH = (*worker.PASSED_THROUGH, __name__)  # passed through like a workflow room
    with ThreadPoolExecutor(worker.MAX_ACTIVITY_THREADS) as executor:
        async with Worker(client, task_queue=task_queue, workflows=[TrivialWorkflow], activities=[note_opened],
                          activity_executor=executor, max_concurrent_activities=worker.MAX_ACTIVITY_THREADS,
                          max_cached_workflows=settings.cached_workflows(), workflow_runner=worker.workflow_runner()):
            logging.getLogger("bench.trivial").info("worker polling task queue %s", task_queue)
            await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.trivial", description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--playbook", type=Path, help="ignored: the same command line as worker.py")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    async def run() -> None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await serve(args.address, settings.task_queue(), stop)

    asyncio.run(run())


if __name__ == "__main__":
    from bench import trivial  # the workflow's module is bench.trivial, not __main__ (the sandbox re-imports it)

    trivial.main()
