"""What the board shows, read the ways the rest of Firebreak reads: the visibility listing (client/listing.py),
the pending lists (client/pending.py), and an incident's own `get_state` query. Nothing else reads state here.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from client.actions import IncidentNotFound, find_incident
from client.listing import Listed, incident_row, list_incidents
from client.pending import open_approvals
from client.workflow_types import ActionItemWorkflow, IncidentWorkflow
from playbook import search_attributes as sa
from playbook.models import Role, Severity, SignalKind
from playbook.state import ActionItemState, IncidentState

MAX_ROWS = 200  # incidents on one list page
MAX_ASKED = 50  # running incidents asked for their commander and next brief (each query may replay on a worker)
QUERY_SECONDS = 2.0


@dataclass
class Filters:
    state: str = "open"  # open | closed | all
    severity: str = ""
    service: str = ""
    kind: str = ""
    mine: bool = False

    def query(self) -> str:
        parts = ["WorkflowType = 'IncidentWorkflow'"]
        if self.state == "open":
            parts.append("ExecutionStatus = 'Running'")
        elif self.state == "closed":
            parts.append("ExecutionStatus != 'Running'")
        if self.severity in {s.value for s in Severity}:
            parts.append(f"{sa.INCIDENT_SEVERITY.name} = '{self.severity}'")
        if self.kind in {k.value for k in SignalKind}:
            parts.append(f"{sa.SIGNAL_KIND.name} = '{self.kind}'")
        if self.service and all(c.isalnum() or c in "-_./:" for c in self.service):
            parts.append(f"{sa.AFFECTED_SERVICE.name} = '{self.service}'")
        return " AND ".join(parts)


@dataclass
class Row:
    listed: Listed
    cells: dict[str, str]  # `firebreak ls`'s columns by key (client/listing.py)
    commander: str = "-"
    next_brief_due: datetime | None = None
    waiting_for_me: int = 0
    detected_at: datetime | None = None


@dataclass
class Incident:
    workflow_id: str
    running: bool
    state: IncidentState | None
    problem: str = ""  # why the state could not be read


def primary(state: IncidentState, role: Role) -> str:
    """Who is paged for `role` (IncidentState.paged_for, as the workflow pages), or "-"."""
    return state.paged_for(role) or "-"


def commander(state: IncidentState) -> str:
    return primary(state, Role.INCIDENT_COMMANDER)


def mine(person: str, roles: set[Role], role: Role, escalated_to: list[str]) -> bool:
    """A request waits for this person: they hold its role, or it was escalated to them."""
    return role in roles or person in escalated_to


async def rows(client: Client, filters: Filters, person: str, roles: set[Role]) -> list[Row]:
    listed = [r async for r in list_incidents(client, filters.query(), MAX_ROWS,
                                              rpc_timeout=timedelta(seconds=5))]
    keys = ["number", "severity", "status", "step", "service", "kind", "alerts"]
    found = [Row(r, dict(zip(keys, incident_row(r), strict=False)),
                 detected_at=r.attrs.get(sa.DETECTED_AT.name) or r.start_time.replace(tzinfo=UTC)) for r in listed]
    if filters.mine or any(r.listed.running for r in found):
        waiting = await open_approvals(client, query_seconds=QUERY_SECONDS)
        for w in waiting.waiting:
            if mine(person, roles, w.role, w.escalated_to):
                for r in found:
                    if r.listed.workflow_id == w.workflow_id:
                        r.waiting_for_me += 1
    if filters.mine:
        found = [r for r in found if r.waiting_for_me]
    gate = asyncio.Semaphore(8)

    async def ask(row: Row) -> None:
        async with gate:
            try:
                state = await client.get_workflow_handle(row.listed.workflow_id).query(
                    IncidentWorkflow.get_state, rpc_timeout=timedelta(seconds=QUERY_SECONDS))
            except RPCError:
                return
            row.commander, row.next_brief_due = commander(state), state.next_brief_due

    await asyncio.gather(*(ask(r) for r in [r for r in found if r.listed.running][:MAX_ASKED]))
    return found


async def incident(client: Client, ref: str) -> Incident | None:
    """The incident by number or workflow id, with its state from its own query; None when there is none."""
    try:
        handle = await find_incident(client, ref)
        desc = await handle.describe(rpc_timeout=timedelta(seconds=5))
    except IncidentNotFound:
        return None
    except RPCError as err:
        if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            return None
        raise
    if desc.workflow_type != "IncidentWorkflow":
        return None
    running = desc.status == WorkflowExecutionStatus.RUNNING
    try:
        state = await handle.query(IncidentWorkflow.get_state, rpc_timeout=timedelta(seconds=QUERY_SECONDS))
    except RPCError as err:
        return Incident(handle.id, running, None, f"the incident did not answer ({err.message}); is a worker running?")
    return Incident(handle.id, running, state)


async def action_items(client: Client, state: IncidentState) -> dict[int, ActionItemState]:
    """The retrospective's action items as their own workflows tell it (status, the tracker's issue), by seq; an
    item whose workflow does not answer is left out. Their ids are the ones `firebreak actions` lists."""
    if state.retrospective is None or not state.number:
        return {}
    count = len(state.retrospective.action_items)

    async def ask(seq: int) -> tuple[int, ActionItemState | None]:
        try:
            return seq, await client.get_workflow_handle(f"action-{state.number}-{seq}").query(
                ActionItemWorkflow.get_item, rpc_timeout=timedelta(seconds=QUERY_SECONDS))
        except RPCError:
            return seq, None

    found = await asyncio.gather(*(ask(seq) for seq in range(1, min(count, MAX_ASKED) + 1)))
    return {seq: item for seq, item in found if item is not None}


def state_version(state: IncidentState | None) -> str:
    """What changes when something on the incident page would."""
    if state is None:
        return "-"
    key = (state.status, state.step, len(state.timeline), state.alert_count, state.briefs_sent,
           tuple((a.request_id, a.status) for a in state.approvals), len(state.in_place), state.severity,
           state.retrospective is not None, state.evidence_manifest)
    return hashlib.sha256(repr(key).encode()).hexdigest()


async def list_version(client: Client) -> str:
    """What changes when a row of the incidents list would: the listing's rows and their attributes."""
    digest = hashlib.sha256()
    async for r in list_incidents(client, "WorkflowType = 'IncidentWorkflow'", MAX_ROWS,
                                  rpc_timeout=timedelta(seconds=5)):
        digest.update(repr((r.workflow_id, r.run_id, int(r.info.status), sorted(r.attrs.items(), key=str))).encode())
    return digest.hexdigest()
