"""Listing incidents from Temporal's visibility store, one row at a time, whatever the store holds.

The SDK's `list_workflows` decodes every row's search attributes while it pages, so one value it cannot read
(a DetectedAt another visibility store returns as year 10000) ends the listing for everyone. Here each row is
decoded on its own, each search attribute on its own: a value that cannot be read or shown is named in the row,
and the other rows and values are listed as usual. Every reader that lists incidents (`firebreak ls`, the pending
lists, finding an incident by number) goes through here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio.api.common.v1 import SearchAttributes
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.converter import decode_typed_search_attributes

from playbook import search_attributes as sa
from playbook.times import utc_text

PAGE_SIZE = 1000
LS_HEADERS = ["INCIDENT", "SEV", "STATUS", "STEP", "SERVICE", "KIND", "ALERTS", "DETECTED", "WORKFLOW"]
ENDED_UNCLOSED = {int(s) for s in (WorkflowExecutionStatus.FAILED, WorkflowExecutionStatus.TERMINATED,
                                   WorkflowExecutionStatus.TIMED_OUT, WorkflowExecutionStatus.CANCELED)}
LS_KEYS = ["number", "severity", "status", "step", "service", "kind", "alerts", "detected_at", "workflow_id"]


@dataclass
class Listed:
    """One row of a visibility listing: its attributes by name, and those that could not be read, with why."""

    info: WorkflowExecutionInfo
    attrs: dict[str, Any] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)

    @property
    def workflow_id(self) -> str:
        return self.info.execution.workflow_id

    @property
    def run_id(self) -> str:
        return self.info.execution.run_id

    @property
    def running(self) -> bool:
        return int(self.info.status) == int(WorkflowExecutionStatus.RUNNING)

    @property
    def start_time(self) -> datetime:
        return self.info.start_time.ToDatetime()

    @property
    def number(self) -> str:
        return str(self.attrs.get(sa.INCIDENT_NUMBER.name) or self.workflow_id)


def _decode(info: WorkflowExecutionInfo) -> Listed:
    row = Listed(info)
    for name, payload in info.search_attributes.indexed_fields.items():
        try:
            decoded = decode_typed_search_attributes(SearchAttributes(indexed_fields={name: payload}))
            row.attrs.update({pair.key.name: pair.value for pair in decoded})
        except Exception as err:  # noqa: BLE001 - one unreadable value must not hide the row or the others
            row.unreadable[name] = f"{payload.data.decode(errors='replace')[:60]} (unreadable: {type(err).__name__})"
    return row


async def list_incidents(client: Client, query: str, limit: int | None = None,
                         rpc_timeout: timedelta | None = None) -> AsyncIterator[Listed]:
    """The executions matching `query`, page by page, at most `limit` (None: all of them)."""
    token, seen = b"", 0
    while True:
        page = await client.workflow_service.list_workflow_executions(ListWorkflowExecutionsRequest(
            namespace=client.namespace, query=query, next_page_token=token,
            page_size=min(PAGE_SIZE, limit - seen) if limit else PAGE_SIZE), retry=True, timeout=rpc_timeout)
        for info in page.executions:
            yield _decode(info)
            seen += 1
            if limit is not None and seen >= limit:
                return
        token = page.next_page_token
        if not token:
            return


def incidents_query(everything: bool = False, status: str | None = None, service: str | None = None) -> str:
    """The visibility query of `firebreak ls` and GET /v1/incidents: open incidents unless `everything`, filtered by
    IncidentStatus and AffectedService. A value holding a quote or backslash is refused (ValueError), never spliced."""
    query = "WorkflowType = 'IncidentWorkflow'"
    if not everything:
        query += " AND ExecutionStatus = 'Running'"
    for attribute, value in ((sa.INCIDENT_STATUS.name, status), (sa.AFFECTED_SERVICE.name, service)):
        if value:
            if "'" in value or "\\" in value or any(ord(c) < 32 for c in value):
                raise ValueError(f"{value!r} holds a quote, backslash or control character")
            query += f" AND {attribute} = '{value}'"
    return query


def _text(row: Listed, key: str, default: str = "-") -> str:
    if key in row.unreadable:
        return row.unreadable[key]
    value = row.attrs.get(key)
    if isinstance(value, datetime):
        return utc_text(value)
    return default if value is None or value == "" else str(value)


def incident_row(row: Listed) -> list[str]:
    """`firebreak ls`'s columns (LS_HEADERS); a value that cannot be shown is shown as stored, marked; a workflow
    that ended without closing the incident (failed, terminated, timed out) says so beside its status."""
    status = _text(row, sa.INCIDENT_STATUS.name)
    if int(row.info.status) in ENDED_UNCLOSED:
        status += f" ({WorkflowExecutionStatus(int(row.info.status)).name.lower().replace('_', ' ')})"
    return [_text(row, sa.INCIDENT_NUMBER.name), _text(row, sa.INCIDENT_SEVERITY.name),
            status, _text(row, sa.INCIDENT_STEP.name),
            _text(row, sa.AFFECTED_SERVICE.name), _text(row, sa.SIGNAL_KIND.name),
            _text(row, sa.ALERT_COUNT.name, "0"), _text(row, sa.DETECTED_AT.name), row.workflow_id]
