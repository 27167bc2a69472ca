"""Watchers (detect): read Langfuse for one watcher's window, and report a breach as a Detection.

`watch_count` reads the watcher's memory (a small JSON file in the artefact store, `_watchers/<name>.json`) and
what its kind watches: breaching guardrail scores, a latency or cost value and its baseline (Metrics API v2),
tool/agent loops and personal data in trace input/output (Observations API v2). A read that fails part-way
(a page erroring mid-pagination) fails the whole activity, which Temporal retries, so nothing is ever decided on
partial data. The workflow decides; `watch_report` raises the Detection through `client.temporal.raise_detection`
(signal-with-start on the incident whose id comes from the fingerprint) and then saves the new memory; a retried
report raises the same alert id, which the incident counts once. `watch_failed` remembers why a run could not
read Langfuse after its retries.

A data-exposure Detection carries counts, PII kinds and trace ids, never the text that held them.
"""

from __future__ import annotations

import asyncio

from temporalio import activity

from activities.actions import langfuse_errors
from activities.context import ActivityContext
from client.temporal import raise_detection
from integrations.langfuse.client import LangfuseError, LangfuseUnavailable, client_for
from integrations.langfuse.scans import scan_loops, scan_pii
from integrations.langfuse.watchers import count_breaches, read_metric
from playbook.config import AgentLoopWatcher, DataExposureWatcher, GuardrailWatcher, MetricWatcher
from playbook.models import Detection
from playbook.watch import (
    WatchCheck,
    WatchCount,
    WatchFailed,
    WatchMemory,
    WatchReport,
    WatchReported,
    describe,
    memory_path,
    metric_label,
)

SAMPLE_TRACES = 10  # trace ids a Detection links to


def _read(request: WatchCheck, memory: WatchMemory) -> WatchCount:
    """What the watcher's kind reads for the window; LangfuseError when any part of it could not be read."""
    w, start, end = request.watcher, request.window_start, request.window_end
    client = client_for(w)
    if isinstance(w, GuardrailWatcher):
        found = count_breaches(client, w.score_names, w.threshold, start, end, environment=w.environment)
        return WatchCount(count=found.count, max_value=found.max_value, trace_ids=found.trace_ids,
                          truncated=found.truncated, memory=memory)
    if isinstance(w, MetricWatcher):
        reading = read_metric(client, w, start, end)
        details = {"baseline_hours": float(reading.baseline_buckets)} if w.ratio is not None else {}
        return WatchCount(count=reading.count, value=reading.value, baseline=reading.baseline, details=details,
                          scanned=reading.count, memory=memory, unread=list(reading.missing),
                          truncated=reading.truncated)
    seen = set(memory.traces)
    if isinstance(w, AgentLoopWatcher):
        loops = scan_loops(client, w, start, end)
        new = {t: v for t, v in loops.looping.items() if t not in seen}
        worst = max((times for _, _, times in new.values()), default=0)
        repeats = sorted({(kind, tool, times) for kind, tool, times in new.values()}, key=lambda r: -r[2])
        looping = ", ".join(f"{kind} {tool or '?'} x{times}" for kind, tool, times in repeats[:5])
        return WatchCount(count=len(new), new_traces=sorted(new), trace_ids=sorted(new)[:SAMPLE_TRACES],
                          max_value=float(worst) if new else None, scanned=loops.scanned, truncated=loops.truncated,
                          details={"max_repeats_seen": float(worst)}, memory=memory,
                          ongoing=len(loops.looping) - len(new), labels={"looping": looping[:200]} if new else {})
    assert isinstance(w, DataExposureWatcher)
    pii = scan_pii(client, w, start, end)
    fresh = {t: kinds for t, kinds in pii.traces.items() if t not in seen}
    by_kind: dict[str, float] = {}
    for kinds in fresh.values():
        for kind, n in kinds.items():
            by_kind[f"pii_{kind.lower()}"] = by_kind.get(f"pii_{kind.lower()}", 0.0) + n
    return WatchCount(count=len(fresh), new_traces=sorted(fresh), trace_ids=sorted(fresh)[:SAMPLE_TRACES],
                      scanned=pii.scanned, truncated=pii.truncated, details=by_kind, memory=memory,
                      ongoing=len(pii.traces) - len(fresh))


def detection_for(request: WatchReport) -> Detection:
    """The Detection a breach raises: the watcher's signal kind, the numbers severity rules can use, a sample of
    trace ids. Never raw trace text."""
    w, c, name = request.watcher, request.count, request.name
    labels = {"watcher": name, "watch": w.kind}
    metrics: dict[str, float] = {}
    if isinstance(w, GuardrailWatcher):
        names = ", ".join(w.score_names)
        metrics = {"breaches": float(c.count), "threshold": w.threshold}
        if c.max_value is not None:
            metrics["max_score"] = c.max_value
        labels["scores"] = names
        summary = (f"{c.count} {names} score(s) at or over {w.threshold} in the last {w.window_minutes} min "
                   f"(watcher {name})")
    elif isinstance(w, MetricWatcher):
        label = metric_label(w)
        metrics = {label: c.value or 0.0, "observations": float(c.count)}
        if w.above is not None:
            metrics["threshold"] = w.above
        if c.baseline is not None:
            metrics[f"baseline_{label}"] = c.baseline
            if c.baseline > 0 and c.value is not None:
                metrics["ratio_to_baseline"] = round(c.value / c.baseline, 4)
        labels.update(measure=str(w.measure), aggregation=str(w.aggregation))
        summary = f"{request.decision.reason} in the last {w.window_minutes} min (watcher {name})"
    elif isinstance(w, AgentLoopWatcher):
        metrics = {"looping_traces": float(c.count), "repeat_limit": float(w.max_repeats),
                   "observations_read": float(c.scanned), **c.details}
        summary = (f"{c.count} trace(s) repeating a {'/'.join(w.observation_types)} observation more than "
                   f"{w.max_repeats} times (worst {int(c.max_value or 0)}) in the last {w.window_minutes} min "
                   f"(watcher {name})")
    else:
        kinds = sorted(k.removeprefix("pii_").upper() for k in c.details)
        metrics = {"pii_traces": float(c.count), "traces_read": float(c.scanned),
                   "pii_findings": float(sum(c.details.values())), **c.details}
        labels["pii_kinds"] = ",".join(kinds)
        summary = (f"personal data or secrets ({', '.join(kinds)}) in {c.count} of {c.scanned} trace(s) read in the "
                   f"last {w.window_minutes} min (watcher {name}; counts only, the data stays in Langfuse)")
    labels.update(c.labels)
    if c.truncated:
        labels["truncated"] = "true"
    return Detection(source="langfuse", kind=w.signal, services=[w.service], severity_hint=w.severity_hint,
                     summary=summary, metrics=metrics, labels=labels,
                     links=[f"langfuse-trace:{t}" for t in c.trace_ids[:SAMPLE_TRACES]],
                     fingerprint=request.decision.fingerprint, alert_id=request.decision.alert_id,
                     detected_at=request.window_end)


class WatchActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    def _memory(self, name: str) -> WatchMemory:
        path = memory_path(name)
        if not self.ctx.store.exists(path):
            return WatchMemory()
        try:
            return WatchMemory.model_validate_json(self.ctx.store.read_bytes(path))
        except ValueError:
            activity.logger.warning("watcher %s: unreadable memory at %s; starting afresh", name, path)
            return WatchMemory()

    @activity.defn(name="watch_count")
    def watch_count(self, request: WatchCheck) -> WatchCount:
        memory = self._memory(request.name)
        try:
            return _read(request, memory)
        except LangfuseError as err:
            if isinstance(err, LangfuseUnavailable):
                activity.logger.warning("watcher %s (%s): %s; attempt %d", request.name, describe(request.watcher),
                                        err, activity.info().attempt)
            raise langfuse_errors(err) from err

    @activity.defn(name="watch_report")
    async def watch_report(self, request: WatchReport) -> WatchReported:
        """Raise the breach (when decided) and save the memory; the incident's workflow id, if one was raised."""
        decision = request.decision
        incident: str | None = None
        if decision.raise_alert and decision.fingerprint:
            detection = detection_for(request)
            handle = await raise_detection(activity.client(), detection, task_queue=request.incident_task_queue)
            incident = handle.id
        await asyncio.to_thread(self.ctx.store.write, memory_path(request.name),
                                decision.memory.model_dump_json(indent=2))
        return WatchReported(incident_workflow_id=incident)

    @activity.defn(name="watch_failed")
    def watch_failed(self, request: WatchFailed) -> WatchMemory:
        """Remember that this run could not read Langfuse (the error, when, how many runs in a row)."""
        memory = self._memory(request.name)
        memory = memory.model_copy(update={"last_error": request.error[:1000], "last_error_at": request.at,
                                           "failures": memory.failures + 1})
        self.ctx.store.write(memory_path(request.name), memory.model_dump_json(indent=2))
        return memory
