"""WatchWorkflow: one run of a watcher, started by its Temporal Schedule (see client/schedules.py).

Read the window ending now (guardrail scores, a latency or cost metric, tool/agent loops or personal data in
traces, by the watcher's kind), decide (playbook.watch.decide, a pure function), and report: raise the Detection
and save the watcher's memory. A read that still fails after its retries is remembered (`watch_failed`) and fails
the run, so the schedule's history and the memory file both show it; nothing is decided on partial data.
Short, so each schedule tick is one small history.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from playbook.watch import (
        WatchCheck,
        WatchCount,
        WatchFailed,
        WatchInput,
        WatchMemory,
        WatchReport,
        WatchReported,
        WatchResult,
        decide,
        describe,
    )

from workflows.unreadable import read_input

RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=3)


@workflow.defn(name="WatchWorkflow")
class WatchWorkflow:
    @workflow.run
    async def run(self, raw: Any) -> WatchResult:  # a WatchInput, read here (workflows/unreadable.py)
        request = read_input(WatchInput, raw, f"watch run {workflow.info().workflow_id}'s input")
        w = request.watcher
        end = workflow.now()
        start = end - timedelta(minutes=w.window_minutes)
        try:
            count = await workflow.execute_activity(
                "watch_count", WatchCheck(name=request.name, watcher=w, window_start=start, window_end=end),
                result_type=WatchCount, summary=f"Watch {request.name}: {describe(w)}"[:200],
                start_to_close_timeout=timedelta(minutes=2), retry_policy=RETRY)
        except ActivityError as err:
            cause = err.cause.message if isinstance(err.cause, ApplicationError) else str(err.cause or err)
            await workflow.execute_activity(
                "watch_failed", WatchFailed(name=request.name, error=cause, at=end), result_type=WatchMemory,
                summary=f"Watch {request.name}: could not read Langfuse"[:200],
                start_to_close_timeout=timedelta(seconds=30), retry_policy=RETRY)
            workflow.logger.warning("watcher %s: could not read Langfuse: %s", request.name, cause)
            raise ApplicationError(f"watcher {request.name} could not read Langfuse: {cause}",
                                   type="WatchReadFailed", non_retryable=True) from err
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
        return WatchResult(name=request.name, count=count.count, decision=decision, value=count.value,
                           incident_workflow_id=reported.incident_workflow_id)
