"""Is Firebreak ready to work incidents? Temporal answers, and a worker polls the incidents' task queue.

The intake records alerts in Temporal whether or not a worker runs, but nothing opens, pages or escalates an
incident until one does, so /readyz says ready only when both hold. A worker's poll is a long poll: Temporal
notes a poller when the poll starts, and an idle worker starts a new one about once a minute (the server's long
poll lasts up to 60 s). So a poller counts as live when Temporal saw it within POLLER_SEEN_SECONDS, and a worker
that died is noticed within that time (Temporal keeps listing it for a few minutes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

POLLER_SEEN_SECONDS = 75.0


@dataclass(frozen=True)
class Readiness:
    ready: bool
    message: str
    workers: int = 0


async def live_pollers(client: Client, task_queue: str, timeout: timedelta) -> list[str]:
    """Identities of the workers that polled `task_queue` for workflow tasks within POLLER_SEEN_SECONDS."""
    answer = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW), timeout=timeout)
    since = datetime.now(UTC) - timedelta(seconds=POLLER_SEEN_SECONDS)
    return [p.identity for p in answer.pollers
            if p.HasField("last_access_time") and p.last_access_time.ToDatetime(UTC) >= since]


async def readiness(client: Client | None, task_queue: str, timeout: timedelta = timedelta(seconds=1)) -> Readiness:
    if client is None:
        return Readiness(False, "not connected to Temporal yet")
    try:
        if not await client.service_client.check_health(timeout=timeout):
            return Readiness(False, "Temporal is not answering")
        workers = await live_pollers(client, task_queue, timeout)
    except Exception as err:  # noqa: BLE001 - any failure here means not ready; the message says which
        return Readiness(False, f"Temporal is not answering ({type(err).__name__})")
    if not workers:
        return Readiness(False, f"no worker polls the task queue {task_queue}: alerts are recorded, but no incident "
                                f"opens until a worker runs (`firebreak worker` or `firebreak up`)")
    return Readiness(True, f"{len(workers)} worker(s) poll the task queue {task_queue}", len(workers))
