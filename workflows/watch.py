"""WatchWorkflow: one run of a watcher, started by its Temporal Schedule (see workflows/schedules.py).

Count the breaches in the window ending now, decide (playbook.watch.decide, a pure function), and report:
raise the Detection and save the watcher's memory. Short, so each schedule tick is one small history.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from playbook.watch import (
        WatchCheck,
        WatchCount,
        WatchInput,
        WatchReport,
        WatchReported,
        WatchResult,
        decide,
    )

RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=3)


@workflow.defn(name="WatchWorkflow")
class WatchWorkflow:
    @workflow.run
    async def run(self, request: WatchInput) -> WatchResult:
        w = request.watcher
        end = workflow.now()
        start = end - timedelta(minutes=w.window_minutes)
        count = await workflow.execute_activity(
            "watch_count", WatchCheck(name=request.name, watcher=w, window_start=start, window_end=end),
            result_type=WatchCount,
            summary=f"Watch {request.name}: count {', '.join(w.score_names)} >= {w.threshold}"[:200],
            start_to_close_timeout=timedelta(minutes=2), retry_policy=RETRY)
        decision = decide(request.name, w, count, end)
        workflow.logger.info("watcher %s: %s", request.name, decision.reason)
        reported = WatchReported()
        if decision.raise_alert or decision.memory != count.memory:
            report = WatchReport(name=request.name, watcher=w, incident_task_queue=request.incident_task_queue,
                                 window_start=start, window_end=end, count=count, decision=decision)
            reported = await workflow.execute_activity(
                "watch_report", report, result_type=WatchReported,
                summary=f"Watch {request.name}: {decision.reason}"[:200],
                start_to_close_timeout=timedelta(minutes=1), retry_policy=RETRY)
        return WatchResult(name=request.name, count=count.count, decision=decision,
                           incident_workflow_id=reported.incident_workflow_id)
