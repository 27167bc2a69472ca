"""`firebreak watchers sync`: one Temporal Schedule per `[watchers.<name>]`, created, updated or deleted so the
schedules match the playbook. Schedule id `firebreak-watcher-<name>`; each tick starts WatchWorkflow
(`watch-<name>-<time>`), skipping a tick while the previous run is still going.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from client.temporal import TASK_QUEUE
from playbook.config import Playbook, Watcher
from playbook.watch import WatchInput, describe
from workflows.watch import WatchWorkflow

SCHEDULE_PREFIX = "firebreak-watcher-"
MAX_LISTED = 1000


def schedule_id(name: str) -> str:
    return SCHEDULE_PREFIX + name


def watcher_schedule(name: str, watcher: Watcher, task_queue: str = TASK_QUEUE) -> Schedule:
    every = timedelta(minutes=watcher.every_minutes)
    return Schedule(
        action=ScheduleActionStartWorkflow(
            WatchWorkflow.run, WatchInput(name=name, watcher=watcher, incident_task_queue=task_queue),
            id=f"watch-{name}", task_queue=task_queue, execution_timeout=timedelta(minutes=10)),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=max(every, timedelta(minutes=1))),
        state=ScheduleState(note=f"Firebreak watcher {name} ({watcher.kind}): {describe(watcher)}"))


async def sync_watchers(client: Client, playbook: Playbook, task_queue: str = TASK_QUEUE) -> list[tuple[str, str]]:
    """Make the schedules match the playbook's watchers; [(name, created | updated | deleted)]."""
    done: list[tuple[str, str]] = []
    for name, watcher in sorted(playbook.watchers.items()):
        schedule = watcher_schedule(name, watcher, task_queue)
        try:
            await client.create_schedule(schedule_id(name), schedule)
            done.append((name, "created"))
        except ScheduleAlreadyRunningError:
            def replace(_: ScheduleUpdateInput, schedule: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=schedule)
            await client.get_schedule_handle(schedule_id(name)).update(replace)
            done.append((name, "updated"))
    listed = 0
    async for entry in await client.list_schedules():
        listed += 1
        if listed > MAX_LISTED:
            break
        name = entry.id.removeprefix(SCHEDULE_PREFIX)
        if entry.id.startswith(SCHEDULE_PREFIX) and name not in playbook.watchers:
            await client.get_schedule_handle(entry.id).delete()
            done.append((name, "deleted"))
    return done
