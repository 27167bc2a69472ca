"""Every approval request waiting across the open incidents: `firebreak pending` and GET /v1/approvals.

One visibility listing narrowed to `PendingApprovals > 0` reads what each incident publishes in its memo
(playbook/pending.py), page by page, however many incidents are open: no query per incident. Incidents without
the attribute (started before it existed, or not numbered yet) are asked with the pending_approvals query, a
bounded number at a time. Whatever is cut short is said in `truncated`, never dropped silently.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError

from client.listing import Listed, list_incidents
from client.workflow_types import IncidentWorkflow
from playbook import search_attributes as sa
from playbook.models import ApprovalRequest, Role
from playbook.pending import MEMO_ITEMS, MEMO_KEY, PendingEntry

OPEN_INCIDENTS = "WorkflowType = 'IncidentWorkflow' AND ExecutionStatus = 'Running'"
WITH_PENDING = f"{OPEN_INCIDENTS} AND {sa.PENDING_APPROVALS.name} > 0"
UNPUBLISHED = f"{OPEN_INCIDENTS} AND {sa.PENDING_APPROVALS.name} IS NULL"
MAX_LISTED = 20_000  # incidents read from the listing
MAX_ASKED = 500  # incidents asked with a query (each may replay its history on the worker)


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
    def of(cls, incident: str, workflow_id: str, req: ApprovalRequest | PendingEntry) -> Waiting:
        return cls(incident=incident, workflow_id=workflow_id, request_id=req.request_id, what=req.subject,
                   why=req.why, role=req.role, escalated_to=req.escalated_to, requested_at=req.requested_at,
                   deadline=req.deadline)


class Unanswered(BaseModel):
    incident: str
    workflow_id: str
    reason: str


class PendingList(BaseModel):
    waiting: list[Waiting]
    unanswered: list[Unanswered]
    truncated: str | None = None  # what was left out, and why

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


async def _published(client: Client, row: Listed) -> list[Waiting] | Unanswered:
    payload = row.info.memo.fields.get(MEMO_KEY)
    if payload is None:
        return Unanswered(incident=row.number, workflow_id=row.workflow_id, reason="no pending list published")
    try:
        [entries] = await client.data_converter.decode([payload], [list[PendingEntry]])
    except Exception as err:  # noqa: BLE001 - one unreadable memo must not hide the other incidents
        return Unanswered(incident=row.number, workflow_id=row.workflow_id,
                          reason=f"its pending list could not be read ({type(err).__name__})")
    return [Waiting.of(row.number, row.workflow_id, e) for e in entries]


async def open_approvals(client: Client, query_seconds: float = 3.0, parallel: int = 16,
                         rpc_timeout: timedelta | None = None, max_listed: int = MAX_LISTED,
                         max_asked: int = MAX_ASKED) -> PendingList:
    """What waits for a decision across open incidents; incidents that did not answer in `query_seconds` (no
    worker) are listed as unanswered."""
    results: list[list[Waiting] | Unanswered] = []
    notes: list[str] = []
    listed = [row async for row in list_incidents(client, WITH_PENDING, max_listed + 1, rpc_timeout)]
    if len(listed) > max_listed:
        listed = listed[:max_listed]
        notes.append(f"only the first {max_listed} incidents with pending requests were read")
    published = await asyncio.gather(*(_published(client, row) for row in listed))
    short = [row.number for row, found in zip(listed, published, strict=True)
             if isinstance(found, list) and len(found) < (row.attrs.get(sa.PENDING_APPROVALS.name) or 0)]
    if short:
        notes.append(f"{', '.join(short[:5])}{' ...' if len(short) > 5 else ''} publish only their first "
                     f"{MEMO_ITEMS} requests; `firebreak pending INC` lists all of one incident's")
    results += published
    ask = [row async for row in list_incidents(client, UNPUBLISHED, max_asked + 1, rpc_timeout)]
    if len(ask) > max_asked:
        ask = ask[:max_asked]
        notes.append(f"only {max_asked} of the incidents that do not publish their pending requests were asked")
    gate = asyncio.Semaphore(parallel)

    async def asked(row: Listed) -> list[Waiting] | Unanswered:
        async with gate:
            try:
                reqs = await client.get_workflow_handle(row.workflow_id).query(
                    IncidentWorkflow.pending_approvals, rpc_timeout=timedelta(seconds=query_seconds))
            except RPCError as err:
                return Unanswered(incident=row.number, workflow_id=row.workflow_id, reason=err.message)
            return [Waiting.of(row.number, row.workflow_id, r) for r in reqs]

    results += await asyncio.gather(*(asked(row) for row in ask))
    waiting = [w for r in results if isinstance(r, list) for w in r]
    waiting.sort(key=lambda w: (w.deadline, w.incident, w.request_id))
    return PendingList(waiting=waiting, unanswered=[r for r in results if isinstance(r, Unanswered)],
                       truncated="; ".join(notes) or None)


def pending_table(listed: PendingList) -> tuple[list[list[str]], list[str]]:
    """`firebreak pending`'s rows, and the lines for standard error (unanswered incidents, truncation)."""
    rows = [[w.incident, w.request_id, w.role.value, ",".join(w.escalated_to) or "-",
             w.deadline.strftime("%Y-%m-%d %H:%M UTC"), w.what[:60]] for w in listed.waiting]
    errors = [f"{u.incident}: did not answer ({u.reason}); is `firebreak worker` running?" for u in listed.unanswered]
    if listed.truncated:
        errors.append(f"firebreak: the list is incomplete: {listed.truncated}")
    return rows, errors
