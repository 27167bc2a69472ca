"""Watchers: the messages of the watch workflow and its one decision, kept pure so the workflow can run it.

A breach is `min_count` or more scores at or over the threshold in the window. Its fingerprint is the watcher
plus the window bucket it started in (the window end, floored to `window_minutes`), so every run that sees the
same breach raises into the same incident; `alert_id` is fingerprint + the run's bucket, so one bucket is
reported once however often the schedule fires. The memory (kept by the worker between runs) carries the
breach across buckets while it lasts, and forgets it once a whole window passes with no breach.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field

from playbook.config import GuardrailWatcher

MAX_REMEMBERED = 50


class WatchInput(BaseModel):
    name: str
    watcher: GuardrailWatcher
    incident_task_queue: str


class WatchMemory(BaseModel):
    episode: str | None = Field(default=None, description="the fingerprint of the breach in progress")
    last_breach_at: datetime | None = None
    reported: list[str] = Field(default_factory=list, description="the latest alert ids raised, newest last")


class WatchCheck(BaseModel):
    name: str
    watcher: GuardrailWatcher
    window_start: datetime
    window_end: datetime


class WatchCount(BaseModel):
    count: int
    max_value: float | None = None
    trace_ids: list[str] = Field(default_factory=list, description="a sample of the breaching traces")
    truncated: bool = False
    memory: WatchMemory = Field(default_factory=WatchMemory)


class WatchDecision(BaseModel):
    raise_alert: bool
    reason: str
    fingerprint: str | None = None
    alert_id: str | None = None
    memory: WatchMemory


class WatchReport(BaseModel):
    name: str
    watcher: GuardrailWatcher
    incident_task_queue: str
    window_start: datetime
    window_end: datetime
    count: WatchCount
    decision: WatchDecision


class WatchReported(BaseModel):
    incident_workflow_id: str | None = None


class WatchResult(BaseModel):
    name: str
    count: int
    decision: WatchDecision
    incident_workflow_id: str | None = None


def bucket(when: datetime, minutes: int) -> str:
    """`when` floored to a multiple of `minutes` since the epoch, as 20260101T1215Z."""
    step = minutes * 60
    floored = datetime.fromtimestamp(int(when.timestamp()) // step * step, UTC)
    return floored.strftime("%Y%m%dT%H%MZ")


def decide(name: str, watcher: GuardrailWatcher, count: WatchCount, window_end: datetime) -> WatchDecision:
    memory = count.memory
    window = timedelta(minutes=watcher.window_minutes)
    here = bucket(window_end, watcher.window_minutes)
    if count.count < watcher.min_count:
        quiet = memory.last_breach_at is None or window_end - memory.last_breach_at >= window
        if memory.episode and quiet:
            return WatchDecision(raise_alert=False, reason=f"{count.count} below {watcher.min_count}; the breach "
                                 f"{memory.episode} is over", memory=WatchMemory(reported=memory.reported))
        return WatchDecision(raise_alert=False, reason=f"{count.count} below {watcher.min_count}", memory=memory)
    continuing = (memory.episode is not None and memory.last_breach_at is not None
                  and window_end - memory.last_breach_at <= 2 * window)
    fingerprint = memory.episode if continuing and memory.episode else f"watch-{name}-{here}"
    alert_id = f"{fingerprint}@{here}"
    if alert_id in memory.reported:
        return WatchDecision(raise_alert=False, reason=f"{count.count} breach(es); {alert_id} already reported",
                             fingerprint=fingerprint, alert_id=alert_id,
                             memory=memory.model_copy(update={"last_breach_at": window_end}))
    remembered = [*memory.reported, alert_id][-MAX_REMEMBERED:]
    return WatchDecision(raise_alert=True, reason=f"{count.count} breach(es) at or over {watcher.threshold}",
                         fingerprint=fingerprint, alert_id=alert_id,
                         memory=WatchMemory(episode=fingerprint, last_breach_at=window_end, reported=remembered))
