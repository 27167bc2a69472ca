"""Retrospective action items as `firebreak actions` and GET /v1/action-items list them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import Client
from temporalio.service import RPCError

from client.actions import NUMBER
from client.listing import list_incidents
from client.workflow_types import ActionItemWorkflow
from playbook.state import ActionItemState

QUERIES_AT_ONCE = 16


def items_query(incident: str | None = None, everything: bool = False) -> str:
    """Open items (all with `everything`), of one incident when given; ValueError for a malformed number."""
    query = "WorkflowType = 'ActionItemWorkflow'" + ("" if everything else " AND ExecutionStatus = 'Running'")
    if incident:
        if not NUMBER.match(incident):
            raise ValueError(f"'{incident}' is not an incident number like INC-2026-0001")
        query += f" AND IncidentNumber = '{incident}'"
    return query


async def action_items(client: Client, query: str, limit: int, rpc_seconds: float = 10.0
                       ) -> tuple[list[tuple[str, ActionItemState]], list[tuple[str, str]]]:
    """(workflow id, item) for each item the query finds that answered its query, and (workflow id, why) for each
    that did not (no worker polls its task queue): one silent item never hides the others. RPCError only when
    the listing itself fails."""
    rows = [row.workflow_id async for row in list_incidents(client, query, limit=limit,
                                                                rpc_timeout=timedelta(seconds=rpc_seconds))]
    gate = asyncio.Semaphore(QUERIES_AT_ONCE)

    async def ask(workflow_id: str) -> ActionItemState | str:
        async with gate:
            try:
                return await client.get_workflow_handle(workflow_id).query(
                    ActionItemWorkflow.get_item, rpc_timeout=timedelta(seconds=rpc_seconds))
            except RPCError as err:
                return err.message or type(err).__name__

    answers = await asyncio.gather(*(ask(wid) for wid in rows))
    found = [(wid, a) for wid, a in zip(rows, answers, strict=True) if isinstance(a, ActionItemState)]
    silent = [(wid, a) for wid, a in zip(rows, answers, strict=True) if isinstance(a, str)]
    return found, silent
