"""Watchers (detect): count guardrail-score breaches in Langfuse, and report a breach as a Detection.

`watch_count` reads the watcher's memory (a small JSON file in the artefact store, `_watchers/<name>.json`)
and counts scores; the workflow decides; `watch_report` raises the Detection through
`workflows.client.raise_detection` (signal-with-start on the incident whose id comes from the fingerprint) and
then saves the new memory. A retried report raises the same alert id, which the incident counts once.
"""

from __future__ import annotations

import asyncio
import re

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ActivityContext
from integrations.langfuse import LangfuseRejected, LangfuseUnavailable, client_for, count_breaches
from playbook.models import Detection, workflow_id_for
from playbook.watch import WatchCheck, WatchCount, WatchMemory, WatchReport, WatchReported


def _memory_path(name: str) -> str:
    return f"_watchers/{re.sub(r'[^A-Za-z0-9_-]', '_', name)}.json"


class WatchActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    def _memory(self, name: str) -> WatchMemory:
        path = self.ctx.store.path(_memory_path(name))
        if not path.exists():
            return WatchMemory()
        try:
            return WatchMemory.model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError:
            activity.logger.warning("watcher %s: unreadable memory at %s; starting afresh", name, path)
            return WatchMemory()

    @activity.defn(name="watch_count")
    def watch_count(self, request: WatchCheck) -> WatchCount:
        w = request.watcher
        try:
            found = count_breaches(client_for(w), w.score_names, w.threshold, request.window_start,
                                   request.window_end, environment=w.environment)
        except LangfuseRejected as err:
            raise ApplicationError(str(err), type="LangfuseRejected", non_retryable=True) from err
        except LangfuseUnavailable as err:
            raise ApplicationError(str(err), type="LangfuseUnavailable") from err
        return WatchCount(count=found.count, max_value=found.max_value, trace_ids=found.trace_ids,
                          truncated=found.truncated, memory=self._memory(request.name))

    @activity.defn(name="watch_report")
    async def watch_report(self, request: WatchReport) -> WatchReported:
        """Raise the breach (when decided) and save the memory; the incident's workflow id, if one was raised."""
        from workflows.client import raise_detection  # the client side of workflows; imported when used

        decision, w = request.decision, request.watcher
        incident: str | None = None
        if decision.raise_alert and decision.fingerprint:
            names = ", ".join(w.score_names)
            metrics = {"breaches": float(request.count.count), "threshold": w.threshold}
            if request.count.max_value is not None:
                metrics["max_score"] = request.count.max_value
            detection = Detection(
                source="langfuse", kind=w.signal, services=[w.service], severity_hint=w.severity_hint,
                summary=f"{request.count.count} {names} score(s) at or over {w.threshold} in the last "
                        f"{w.window_minutes} min (watcher {request.name})",
                metrics=metrics, labels={"watcher": request.name, "scores": names},
                links=[f"langfuse-trace:{t}" for t in request.count.trace_ids],
                fingerprint=decision.fingerprint, alert_id=decision.alert_id, detected_at=request.window_end)
            handle = await raise_detection(activity.client(), detection, task_queue=request.incident_task_queue)
            incident = handle.id or workflow_id_for(detection)
        await asyncio.to_thread(self.ctx.store.write, _memory_path(request.name),
                                decision.memory.model_dump_json(indent=2))
        return WatchReported(incident_workflow_id=incident)
