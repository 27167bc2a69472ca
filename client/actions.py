"""Human actions from outside the worker: find an incident, send a signal, read back what the workflow made of it.

The CLI, the HTTP approval surface and the Slack buttons all go through here, so they find incidents and report
outcomes the same way. Every wait is bounded. What people write (notes, comments, summaries, retrospectives, an
edited brief) is redacted here on its way into Temporal, like the detections in client/temporal.py; a patched
prompt's text (`firebreak patch`) is the one exception (VERBATIM below).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError

from playbook import search_attributes as sa
from playbook.models import ActionOutcome, ApprovalRequest, HumanAction, Role
from playbook.redact import outbound
from playbook.remedy import PatchText
from workflows.incident import IncidentWorkflow

NUMBER = re.compile(r"^[A-Z][A-Z0-9]{0,9}-\d{4}-\d{4,}$")
OPEN_INCIDENTS = "WorkflowType = 'IncidentWorkflow' AND ExecutionStatus = 'Running'"
POLL_SECONDS = 0.2
# Who acts and on what: identifiers the workflow checks against the roster and its requests, never redacted.
IDENTIFIERS = ("by", "role", "action_id", "request_id", "person", "assign_role", "severity")
# A patched prompt goes to production as written (a support address or phone number in it is meant to be there),
# so its text is sent verbatim, with the action it patches; it stays off the timeline, briefs and tickets (the
# workflow records its length only), and only Langfuse and the history (encrypted with the codec) hold it.
VERBATIM: dict[type[HumanAction], tuple[str, ...]] = {PatchText: ("text", "action")}


class IncidentNotFound(Exception):
    """No incident carries this number."""


async def find_incident(client: Client, ref: str) -> WorkflowHandle[Any, Any]:
    """An incident by number (INC-2026-0001) or workflow id; the running one if a number was reused.

    A workflow id is not looked up (the caller's first call on the handle says whether it exists).
    """
    if not NUMBER.match(ref):
        return client.get_workflow_handle(ref)
    found = [w async for w in client.list_workflows(
        f"WorkflowType = 'IncidentWorkflow' AND IncidentNumber = '{ref}'", limit=20)]
    if not found:
        raise IncidentNotFound(f"no incident {ref}")
    found.sort(key=lambda w: (w.status == WorkflowExecutionStatus.RUNNING, w.start_time), reverse=True)
    return client.get_workflow_handle(found[0].id, run_id=found[0].run_id)


async def send_action(handle: WorkflowHandle[Any, Any], signal: Callable[..., Any], action: HumanAction,
                      wait_seconds: float) -> ActionOutcome | None:
    """Signal `action` and poll action_outcome for up to `wait_seconds`.

    Returns the outcome (accepted or refused, and why), or None when the workflow has not processed the action
    within the wait (no worker running). Raises RPCError when the signal itself is not recorded.
    """
    action = outbound(action, keep=IDENTIFIERS + VERBATIM.get(type(action), ()))
    await handle.signal(signal, action, rpc_timeout=timedelta(seconds=max(wait_seconds, 1.0)))
    return await wait_outcome(handle, action.action_id, wait_seconds)


async def wait_outcome(handle: WorkflowHandle[Any, Any], action_id: str, wait_seconds: float) -> ActionOutcome | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while (left := deadline - loop.time()) > 0:
        try:
            outcome = await handle.query(IncidentWorkflow.action_outcome, action_id,
                                         rpc_timeout=timedelta(seconds=max(left, 0.1)))
        except RPCError:
            outcome = None
        if outcome is not None:
            return outcome
        await asyncio.sleep(min(POLL_SECONDS, max(deadline - loop.time(), 0)))
    return None


class Waiting(BaseModel):
    """One approval request waiting in an open incident."""

    incident: str
    workflow_id: str
    request_id: str
    what: str
    why: str
    role: Role
    escalated_to: list[str]
    requested_at: datetime
    deadline: datetime

    @classmethod
    def of(cls, incident: str, workflow_id: str, req: ApprovalRequest) -> Waiting:
        return cls(incident=incident, workflow_id=workflow_id, request_id=req.request_id, what=req.subject,
                   why=req.why, role=req.role, escalated_to=req.escalated_to, requested_at=req.requested_at,
                   deadline=req.deadline)


class Unanswered(BaseModel):
    incident: str
    workflow_id: str
    reason: str


async def open_approvals(client: Client, limit: int = 200, query_seconds: float = 3.0,
                         parallel: int = 8) -> tuple[list[Waiting], list[Unanswered]]:
    """What waits for a decision across open incidents (visibility, then each one's pending_approvals query).

    Incidents whose query did not answer within `query_seconds` (no worker) come back in the second list.
    """
    incidents = [(w.typed_search_attributes.get(sa.INCIDENT_NUMBER) or w.id, w.id)
                 async for w in client.list_workflows(OPEN_INCIDENTS, limit=limit)]
    gate = asyncio.Semaphore(parallel)

    async def pending(number: str, workflow_id: str) -> list[Waiting] | Unanswered:
        async with gate:
            try:
                reqs = await client.get_workflow_handle(workflow_id).query(
                    IncidentWorkflow.pending_approvals, rpc_timeout=timedelta(seconds=query_seconds))
            except RPCError as err:
                return Unanswered(incident=number, workflow_id=workflow_id, reason=err.message)
            return [Waiting.of(number, workflow_id, r) for r in reqs]

    results = await asyncio.gather(*(pending(n, w) for n, w in incidents))
    waiting = [w for r in results if isinstance(r, list) for w in r]
    waiting.sort(key=lambda w: (w.deadline, w.incident, w.request_id))
    return waiting, [r for r in results if isinstance(r, Unanswered)]
