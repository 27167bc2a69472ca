"""Retrospective action items outlive the incident and are chased by durable reminders until done."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from playbook.models import ActionItem, HumanAction, Resolution, RetrospectiveNotes, Role
from playbook.state import ActionItemState
from tests.behaviour import (  # noqa: F401  (terminate_leftovers is an autouse fixture)
    open_incident,
    read_jsonl,
    started,
    terminate_leftovers,
    worker,
)
from tests.support import wait_for, write_playbook
from workflows.action_items import ActionItemWorkflow
from workflows.incident import IncidentWorkflow


async def item_when(handle: WorkflowHandle[Any, Any], predicate: Callable[[ActionItemState], bool]) -> ActionItemState:
    for _ in range(200):
        item = await handle.query(ActionItemWorkflow.get_item)
        if predicate(item):
            return item
        await asyncio.sleep(0.05)
    raise AssertionError(f"action item never reached the condition: {item}")


def done_by(by: str, role: Role, action_id: str) -> HumanAction:
    return HumanAction(by=by, role=role, action_id=action_id, comment="shipped")


async def test_items_are_reminded_escalated_and_closed_by_their_owner(ts_env: WorkflowEnvironment, task_queue: str,
                                                                     tmp_path: Path, home: Path) -> None:
    playbook = write_playbook(tmp_path, "[review]\naction_item_reminder_hours = 24\naction_item_escalate_after = 2\n")
    async with worker(ts_env.client, task_queue, playbook, home) as ctx:
        handle, state = await open_incident(ts_env, task_queue)
        number = str(state.number)
        await handle.signal(IncidentWorkflow.resolve, Resolution(by="ian", role=Role.INCIDENT_COMMANDER))
        await wait_for(handle, lambda s: s.retrospective_path is not None)
        now = await ts_env.get_current_time()
        await handle.signal(IncidentWorkflow.retrospective_done, RetrospectiveNotes(
            by="ian", role=Role.INCIDENT_COMMANDER, root_cause="missing guardrail",
            action_items=[ActionItem(what="add toxicity regression suite", owner="olu", due=now + timedelta(days=2)),
                          ActionItem(what="review logging policy", owner="sam")]))
        # Poll rather than wait for results: on the time-skipping server a result wait skips time for everyone.
        final = await wait_for(handle, lambda s: s.status.value == "closed")
        assert "2 action item(s) tracked until done" in [e.what for e in final.timeline]

        first = started(ts_env.client.get_workflow_handle_for(ActionItemWorkflow.run, f"action-{number}-1"))
        second = started(ts_env.client.get_workflow_handle_for(ActionItemWorkflow.run, f"action-{number}-2"))
        assert (await first.query(ActionItemWorkflow.get_item)).reminders_sent == 0

        await ts_env.sleep(timedelta(days=2, hours=1))  # due: the first reminder
        item = await first.query(ActionItemWorkflow.get_item)
        assert item.reminders_sent == 1 and not item.escalated
        await ts_env.sleep(timedelta(days=2))  # two overdue reminders more: the commander is told
        item = await first.query(ActionItemWorkflow.get_item)
        assert item.reminders_sent == 3 and item.escalated
        pages = read_jsonl(ctx.store.root / number / "notifications.jsonl")
        assert [p["to"] for p in pages if "add toxicity regression suite" in p["subject"]] == [
            ["olu"], ["olu"], ["olu"], ["ian"]]
        assert "action item due" in pages[-4]["subject"] and "still open" in pages[-1]["subject"]

        # The undated item is first chased after a week.
        assert (await second.query(ActionItemWorkflow.get_item)).reminders_sent == 0
        await ts_env.sleep(timedelta(days=3, hours=1))
        assert (await second.query(ActionItemWorkflow.get_item)).reminders_sent == 1

        # Done: by the owner, not by someone else; the incident commander may close it for its owner.
        await first.signal(ActionItemWorkflow.mark_done, done_by("sam", Role.DOMAIN_SME, "x1"))
        await first.signal(ActionItemWorkflow.mark_done, done_by("olu", Role.AI_OPS, "x2"))
        result = await item_when(first, lambda i: i.status == "done")
        assert result.done_by == "olu" and result.note == "shipped"
        refused = next(o for o in result.outcomes if o.action_id == "x1")
        assert not refused.accepted and "only the owner (olu) or an incident commander" in refused.message
        await second.signal(ActionItemWorkflow.mark_done, done_by("ian", Role.INCIDENT_COMMANDER, "x3"))
        assert (await item_when(second, lambda i: i.status == "done")).done_by == "ian"
