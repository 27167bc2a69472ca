"""Watchers: the messages of the watch workflow and its one decision, kept pure so the workflow can run it.

What a breach is depends on the watcher's kind (`breach`): `min_count` or more guardrail scores at or over the
threshold; a latency or cost value over `above` and/or `ratio` times its baseline; `min_traces` or more traces
looping or carrying personal data that were not reported before. Its fingerprint is the watcher
plus the window bucket it started in (the window end, floored to `window_minutes`), so every run that sees the
same breach raises into the same incident; `alert_id` is fingerprint + the run's bucket, so one bucket is
reported once however often the schedule fires. The memory (kept by the worker between runs) carries the
breach across buckets while it lasts, and forgets it once a whole window passes with no breach.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field

from playbook.config import (
    AgentLoopWatcher,
    DataExposureWatcher,
    GuardrailWatcher,
    MetricWatcher,
    TrainingDataWatcher,
    Watcher,
)

MAX_REMEMBERED = 50
MAX_TRACES_REMEMBERED = 2000


class WatchInput(BaseModel):
    name: str
    watcher: Watcher
    incident_task_queue: str


class WatchMemory(BaseModel):
    episode: str | None = Field(default=None, description="the fingerprint of the breach in progress")
    last_breach_at: datetime | None = None
    reported: list[str] = Field(default_factory=list, description="the latest alert ids raised, newest last")
    traces: list[str] = Field(default_factory=list, description="loop / data-exposure watchers: trace ids already "
                                                               "reported, newest last")
    last_error: str | None = Field(default=None, description="why the last run could not read Langfuse")
    last_error_at: datetime | None = None
    failures: int = Field(default=0, description="runs in a row that could not read Langfuse")


class WatchCheck(BaseModel):
    name: str
    watcher: Watcher
    window_start: datetime
    window_end: datetime


class WatchCount(BaseModel):
    """What one run read. `count`: scores at or over the threshold, observations in the window (metric watchers),
    or new looping / exposing traces. Never partial: a read that fails part-way fails the whole activity."""

    count: int
    max_value: float | None = None
    trace_ids: list[str] = Field(default_factory=list, description="a sample of the breaching traces")
    truncated: bool = False
    memory: WatchMemory = Field(default_factory=WatchMemory)
    value: float | None = Field(default=None, description="metric watchers: the window's value")
    baseline: float | None = Field(default=None, description="metric watchers: the baseline's value")
    new_traces: list[str] = Field(default_factory=list, description="loop / data-exposure watchers: every breaching "
                                                                    "trace not reported before")
    details: dict[str, float] = Field(default_factory=dict, description="counts for the Detection's metrics (kinds "
                                                                        "of PII, repeats); never the data itself")
    scanned: int = Field(default=0, description="traces or observations read")
    labels: dict[str, str] = Field(default_factory=dict, description="for the Detection, e.g. which tools loop")
    ongoing: int = Field(default=0, description="loop / data-exposure watchers: breaching traces reported before, "
                                                "still in the window (the breach goes on, nothing new to report)")
    unread: list[str] = Field(default_factory=list, description="metric watchers: the columns the Metrics API's "
                              "answer lacked (nothing to judge, and the status says so)")


class WatchDecision(BaseModel):
    raise_alert: bool
    reason: str
    fingerprint: str | None = None
    alert_id: str | None = None
    memory: WatchMemory


class WatchReport(BaseModel):
    name: str
    watcher: Watcher
    incident_task_queue: str
    window_start: datetime
    window_end: datetime
    count: WatchCount
    decision: WatchDecision


class WatchReported(BaseModel):
    incident_workflow_id: str | None = None


class WatchFailed(BaseModel):
    """The read failed after its retries: remembered (last_error, failures) so `firebreak` and the file show it."""

    name: str
    error: str
    at: datetime


class WatchResult(BaseModel):
    name: str
    count: int
    decision: WatchDecision
    incident_workflow_id: str | None = None
    value: float | None = None


def memory_path(name: str) -> str:
    """Where a watcher's memory lives in the artefact store."""
    return f"_watchers/{re.sub(r'[^A-Za-z0-9_-]', '_', name)}.json"


def bucket(when: datetime, minutes: int) -> str:
    """`when` floored to a multiple of `minutes` since the epoch, as 20260101T1215Z."""
    step = minutes * 60
    floored = datetime.fromtimestamp(int(when.timestamp()) // step * step, UTC)
    return floored.strftime("%Y%m%dT%H%MZ")


def per_minute(watcher: MetricWatcher) -> bool:
    """Cost watchers compare sums per minute, so windows and baselines of any length compare."""
    return watcher.aggregation in ("sum",)


def metric_label(watcher: MetricWatcher) -> str:
    """The Detection's metric name for the window's value (severity rules use these names)."""
    if watcher.kind == "cost_spike":
        return {"totalCost": "cost_per_minute_usd", "inputCost": "input_cost_per_minute_usd",
                "outputCost": "output_cost_per_minute_usd", "totalTokens": "tokens_per_minute",
                "inputTokens": "input_tokens_per_minute", "outputTokens": "output_tokens_per_minute"}[
                    watcher.measure or "totalCost"]
    return f"{watcher.measure}_{watcher.aggregation}_ms"


def describe(watcher: Watcher) -> str:
    """One line saying what the watcher watches, for schedule notes and activity summaries."""
    if isinstance(watcher, GuardrailWatcher):
        return f"{', '.join(watcher.score_names)} >= {watcher.threshold} on {watcher.service}"
    if isinstance(watcher, MetricWatcher):
        limits = [f"> {watcher.above:g}" if watcher.above is not None else "",
                  f">= {watcher.ratio:g}x baseline" if watcher.ratio is not None else ""]
        return f"{metric_label(watcher)} {' and '.join(x for x in limits if x)} on {watcher.service}"
    if isinstance(watcher, AgentLoopWatcher):
        return (f"{'/'.join(watcher.observation_types)} repeated > {watcher.max_repeats}x in a trace on "
                f"{watcher.service}")
    if isinstance(watcher, TrainingDataWatcher):
        return (f"{', '.join(watcher.pii_kinds)} or tags {', '.join(watcher.restricted_tags)} in training datasets "
                f"{', '.join(watcher.datasets)} of {watcher.service}")
    return f"{', '.join(watcher.pii_kinds)} in trace input/output on {watcher.service}"


def _metric_breach(watcher: MetricWatcher, count: WatchCount) -> tuple[bool, str]:
    label = metric_label(watcher)
    if count.unread:  # the server named its columns otherwise: that is not "no data"
        return False, f"the answer had no column {', '.join(count.unread)} (Metrics API v2); no judgement"
    if count.value is None or count.count < watcher.min_observations:
        return False, f"{count.count} observation(s), fewer than {watcher.min_observations}; no judgement"
    held: list[str] = []
    if watcher.above is not None:
        if count.value <= watcher.above:
            return False, f"{label} {count.value:.4g} not over {watcher.above:g}"
        held.append(f"over {watcher.above:g}")
    if watcher.ratio is not None:
        if count.baseline is None or count.baseline <= 0:
            return False, f"{label} {count.value:.4g}; no baseline to compare with"
        times = count.value / count.baseline
        if times < watcher.ratio:
            return False, f"{label} {count.value:.4g} is {times:.2f}x the baseline {count.baseline:.4g}"
        held.append(f"{times:.2f}x the baseline {count.baseline:.4g}")
    return True, f"{label} {count.value:.4g}: {' and '.join(held)}"


def breach(watcher: Watcher, count: WatchCount) -> tuple[bool, str]:
    """Whether what was read is a breach for this watcher, and a sentence why (or why not)."""
    if isinstance(watcher, GuardrailWatcher):
        if count.count < watcher.min_count:
            return False, f"{count.count} below {watcher.min_count}"
        return True, f"{count.count} breach(es) at or over {watcher.threshold}"
    if isinstance(watcher, MetricWatcher):
        hit, why = _metric_breach(watcher, count)
        # Runs before this change never set `truncated` for metric watchers: their histories replay the same.
        return hit, f"{why}; the baseline's answer was cut short, missing its latest hours" if count.truncated else why
    if isinstance(watcher, AgentLoopWatcher):
        if count.count < watcher.min_traces:
            return False, f"{count.count} new looping trace(s), below {watcher.min_traces}"
        return True, f"{count.count} trace(s) repeating a tool or agent more than {watcher.max_repeats} times"
    if isinstance(watcher, TrainingDataWatcher):
        if count.count < watcher.min_items:
            return False, f"{count.count} new training item(s) with restricted data, below {watcher.min_items}"
        return True, f"{count.count} new training item(s) with personal data or restricted tags of {count.scanned} read"
    assert isinstance(watcher, DataExposureWatcher)
    if count.count < watcher.min_traces:
        return False, f"{count.count} new trace(s) with personal data, below {watcher.min_traces}"
    return True, f"{count.count} new trace(s) with personal data or secrets of {count.scanned} read"


def decide(name: str, watcher: Watcher, count: WatchCount, window_end: datetime) -> WatchDecision:
    memory = count.memory.model_copy(update={"last_error": None, "last_error_at": None, "failures": 0})
    window = timedelta(minutes=watcher.window_minutes)
    here = bucket(window_end, watcher.window_minutes)
    hit, why = breach(watcher, count)
    if not hit:
        if memory.episode and count.ongoing:
            going_on = memory.model_copy(update={"last_breach_at": window_end})
            return WatchDecision(raise_alert=False, reason=f"{why}; {count.ongoing} trace(s) reported before are "
                                 "still in the window", memory=going_on)
        quiet = memory.last_breach_at is None or window_end - memory.last_breach_at >= window
        if memory.episode and quiet:
            return WatchDecision(raise_alert=False, reason=f"{why}; the breach {memory.episode} is over",
                                 memory=WatchMemory(reported=memory.reported, traces=memory.traces))
        return WatchDecision(raise_alert=False, reason=why, memory=memory)
    continuing = (memory.episode is not None and memory.last_breach_at is not None
                  and window_end - memory.last_breach_at <= 2 * window)
    fingerprint = memory.episode if continuing and memory.episode else f"watch-{name}-{here}"
    alert_id = f"{fingerprint}@{here}"
    if alert_id in memory.reported:
        return WatchDecision(raise_alert=False, reason=f"{why}; {alert_id} already reported",
                             fingerprint=fingerprint, alert_id=alert_id,
                             memory=memory.model_copy(update={"last_breach_at": window_end}))
    remembered = [*memory.reported, alert_id][-MAX_REMEMBERED:]
    traces = [*memory.traces, *(t for t in count.new_traces if t not in memory.traces)][-MAX_TRACES_REMEMBERED:]
    return WatchDecision(raise_alert=True, reason=why, fingerprint=fingerprint, alert_id=alert_id,
                         memory=WatchMemory(episode=fingerprint, last_breach_at=window_end, reported=remembered,
                                            traces=traces))
