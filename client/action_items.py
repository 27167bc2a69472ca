"""Retrospective action items as `firebreak actions` and GET /v1/action-items list them."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client

from client.actions import NUMBER
from client.listing import list_incidents
from client.workflow_types import ActionItemWorkflow
from playbook.state import ActionItemState


def items_query(incident: str | None = None, everything: bool = False) -> str:
    """Open items (all with `everything`), of one incident when given; ValueError for a malformed number."""
    query = "WorkflowType = 'ActionItemWorkflow'" + ("" if everything else " AND ExecutionStatus = 'Running'")
    if incident:
        if not NUMBER.match(incident):
            raise ValueError(f"'{incident}' is not an incident number like INC-2026-0001")
        query += f" AND IncidentNumber = '{incident}'"
    return query


async def action_items(client: Client, query: str, limit: int,
                       rpc_seconds: float = 10.0) -> list[tuple[str, ActionItemState]]:
    """(workflow id, item) for each item the query finds; RPCError when an item does not answer (no worker)."""
    found = []
    async for row in list_incidents(client, query, limit=limit, rpc_timeout=timedelta(seconds=rpc_seconds)):
        item = await client.get_workflow_handle(row.workflow_id).query(
            ActionItemWorkflow.get_item, rpc_timeout=timedelta(seconds=rpc_seconds))
        found.append((row.workflow_id, item))
    return found
