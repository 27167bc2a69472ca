"""Human actions from outside the worker: find an incident, send a signal, read back what the workflow made of it.

The CLI, the HTTP approval surface and the Slack buttons all go through here, so they find incidents and report
outcomes the same way. Every wait is bounded. What people write (notes, comments, summaries, retrospectives, an
edited brief) is redacted here on its way into Temporal, like the detections in client/temporal.py; a patched
prompt's text (`firebreak patch`) is the one exception (VERBATIM below).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from client.listing import list_incidents
from client.workflow_types import IncidentWorkflow
from playbook.models import ActionOutcome, HumanAction
from playbook.redact import outbound
from playbook.remedy import PatchText
from playbook.state import IncidentState

NUMBER = re.compile(r"^[A-Z][A-Z0-9]{0,9}-\d{4}-\d{4,}$")
POLL_SECONDS = 0.2
# Who acts and on what: identifiers the workflow checks against the roster and its requests, never redacted.
IDENTIFIERS = ("by", "role", "action_id", "request_id", "person", "assign_role", "severity")
# A patched prompt goes to production as written (a support address or phone number in it is meant to be there),
# so its text is sent verbatim, with the action it patches; it stays off the timeline, briefs and tickets (the
# workflow records its length only), and only Langfuse and the history (encrypted with the codec) hold it.
VERBATIM: dict[type[HumanAction], tuple[str, ...]] = {PatchText: ("text", "action")}


# Where the action being sent comes from, for the audit log: each door sets it ("http 10.0.0.7", "slack user U0ALICE
# via http 10.0.0.7", "cli alice@host-1"); the intake sets the HTTP client's address for every request.
ORIGIN: ContextVar[str] = ContextVar("firebreak_action_origin", default="")
# (what, workflow id, action, origin, incident number) -> None; set by each door process (set_auditor).
Auditor = Callable[[str, str, HumanAction, str, str], None]
_auditor: list[Auditor] = []
log = logging.getLogger("firebreak.actions")


def set_auditor(auditor: Auditor | None) -> None:
    """Who records every action this process sends (integrations/audit.py's, set by the CLI and the intake)."""
    _auditor[:] = [auditor] if auditor is not None else []


class IncidentNotFound(Exception):
    """No incident carries this number."""


async def find_incident(client: Client, ref: str) -> WorkflowHandle[Any, Any]:
    """An incident by number (INC-2026-0001) or workflow id; the running one if a number was reused.

    A workflow id is not looked up (the caller's first call on the handle says whether it exists).
    """
    if not NUMBER.match(ref):
        return client.get_workflow_handle(ref)
    found = [w async for w in list_incidents(
        client, f"WorkflowType = 'IncidentWorkflow' AND IncidentNumber = '{ref}'", limit=20)]
    if not found:
        raise IncidentNotFound(f"no incident {ref}")
    found.sort(key=lambda w: (w.running, w.start_time), reverse=True)
    return client.get_workflow_handle(found[0].workflow_id, run_id=found[0].run_id)


async def failure_of(handle: WorkflowHandle[Any, Any]) -> str | None:
    """'incident-... failed: <why>' for a workflow that failed (e.g. its input could not be read), else None."""
    try:
        if (await handle.describe(rpc_timeout=timedelta(seconds=5))).status != WorkflowExecutionStatus.FAILED:
            return None
        await handle.result(follow_runs=False, rpc_timeout=timedelta(seconds=5))
    except WorkflowFailureError as err:
        return f"{handle.id} failed: {getattr(err.cause, 'message', None) or err.cause or err}"
    except RPCError:
        return None
    return None


async def send_action(handle: WorkflowHandle[Any, Any], signal: Callable[..., Any], action: HumanAction,
                      wait_seconds: float, number: str = "") -> ActionOutcome | None:
    """Signal `action` and poll action_outcome for up to `wait_seconds`.

    Returns the outcome (accepted or refused, and why), or None when the workflow has not processed the action
    within the wait (no worker running). Raises RPCError when the signal itself is not recorded.
    """
    await signal_action(handle, signal, action, max(wait_seconds, 1.0), number)
    return await wait_outcome(handle, action.action_id, wait_seconds)


async def signal_action(handle: WorkflowHandle[Any, Any], signal: Callable[..., Any], action: HumanAction,
                        rpc_seconds: float, number: str = "") -> None:
    """Record `action` on the incident (redacted on its way out), or raise RPCError. Only this is Temporal's own
    answer; how soon the incident processes it depends on a worker (wait_outcome).

    Once Temporal holds it, the action goes to the audit log (set_auditor) with ORIGIN; `number` is the incident's
    number when the caller knows it. An audit write that fails is logged and does not fail the action."""
    action = outbound(action, keep=IDENTIFIERS + VERBATIM.get(type(action), ()))
    await handle.signal(signal, action, rpc_timeout=timedelta(seconds=rpc_seconds))
    for auditor in _auditor:
        what = getattr(signal, "__name__", str(signal))
        try:
            await asyncio.to_thread(auditor, what, handle.id, action, ORIGIN.get() or "unknown", number)
        except Exception as err:  # noqa: BLE001 - the action is recorded in Temporal; only its audit line is missing
            log.error("could not write the audit log entry for %s on %s by %s: %s", what, handle.id, action.by, err)


async def opened(handle: WorkflowHandle[Any, Any], wait_seconds: float) -> IncidentState | None:
    """The incident's state once a worker has opened it (it has a number), or None after `wait_seconds` (no worker
    yet) or at once when the workflow does not exist. What `firebreak declare` and POST /v1/incidents print."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while (left := deadline - loop.time()) > 0:
        try:
            state = await handle.query(IncidentWorkflow.get_state, rpc_timeout=timedelta(seconds=max(left, 0.1)))
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            state = None
        if state is not None and state.number:
            return state  # type: ignore[no-any-return]
        await asyncio.sleep(min(POLL_SECONDS, max(deadline - loop.time(), 0)))
    return None


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
