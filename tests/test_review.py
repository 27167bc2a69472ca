"""Step 7, review: a draft at resolution, reminders, escalation at the deadline, the record, or giving up."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from playbook.models import ActionItem, IncidentStatus, Resolution, RetrospectiveNotes, Role, Severity
from tests.behaviour import (  # noqa: F401  (terminate_leftovers is an autouse fixture)
    advance_to,
    near,
    open_incident,
    read_jsonl,
    terminate_leftovers,
    whats,
    worker,
)
from tests.support import state_of, wait_for, write_playbook
from workflows.incident import IncidentWorkflow


def _notes(by: str = "ian", role: Role = Role.INCIDENT_COMMANDER, action_id: str = "") -> RetrospectiveNotes:
    return RetrospectiveNotes(
        by=by, role=role, action_id=action_id, root_cause="prompt v13 dropped the safety preamble",
        contributing_factors=["no toxicity regression test", "deploy on a Friday"],
        preventative_actions=["promptfoo gate on every prompt release"],
        action_items=[ActionItem(what="add a toxicity eval to CI", owner="olu",
                                 due=datetime(2026, 12, 1, tzinfo=UTC))])


def _resolution(comment: str) -> Resolution:
    return Resolution(by="ian", role=Role.INCIDENT_COMMANDER, comment=comment)


async def test_reminders_escalation_and_the_retrospective_record(ts_env: WorkflowEnvironment, task_queue: str,
                                                                 tmp_path: Path, home: Path) -> None:
    playbook = write_playbook(tmp_path)
    async with worker(ts_env.client, task_queue, playbook, home) as ctx:
        handle, state = await open_incident(ts_env, task_queue, Severity.SEV2)
        await handle.signal(IncidentWorkflow.resolve, _resolution("rolled back"))
        state = await wait_for(handle, lambda s: s.retrospective_path is not None)
        resolved = state.resolved_at
        assert resolved is not None and state.status == IncidentStatus.RESOLVED
        folder = ctx.store.root / str(state.number)
        draft = (folder / "retrospective.md").read_text()
        assert draft.startswith(f"# Retrospective {state.number} (draft)")
        assert "_to be filled in at the review_" in draft
        assert json.loads((folder / "retrospective.json").read_text())["status"] == "draft"
        notifications = folder / "notifications.jsonl"

        def due_notices() -> list[dict]:
            if not notifications.exists():
                return []
            return [n for n in read_jsonl(notifications) if n["subject"].endswith("retrospective due")]

        # The "retrospective due" notice is sent by an activity after the draft is written: poll for it.
        await wait_for(handle, lambda _: bool(due_notices()))
        due = due_notices()
        assert [n["to"] for n in due] == [["ian", "sam"]]

        # Nothing before the first reminder (playbook default review.reminder_hours = [24, 44]).
        await advance_to(ts_env, resolved + timedelta(hours=23, minutes=59))
        assert not any(w.startswith("reminder") for w in whats(await state_of(handle)))
        await advance_to(ts_env, resolved + timedelta(hours=24, minutes=1))
        state = await state_of(handle)
        reminders = [e for e in state.timeline if e.what.startswith("reminder")]
        assert [e.what.split(":")[0] for e in reminders] == ["reminder 1"]
        assert near(reminders[0].at, resolved + timedelta(hours=24))

        await advance_to(ts_env, resolved + timedelta(hours=44, minutes=1))
        state = await state_of(handle)
        reminders = [e for e in state.timeline if e.what.startswith("reminder")]
        assert [e.what.split(":")[0] for e in reminders] == ["reminder 1", "reminder 2"]
        assert near(reminders[1].at, resolved + timedelta(hours=44))
        sent = [n for n in read_jsonl(notifications) if n["subject"].endswith("retrospective reminder")]
        assert [n["to"] for n in sent] == [["ian", "sam"], ["ian", "sam"]]
        assert "retrospective overdue; escalated to bea" not in whats(state)

        # 48 hours: overdue, escalated to the incident commander's backup.
        await advance_to(ts_env, resolved + timedelta(hours=48, minutes=1))
        state = await state_of(handle)
        escalations = [e for e in state.timeline if e.what == "retrospective overdue; escalated to bea"]
        assert len(escalations) == 1 and near(escalations[0].at, resolved + timedelta(hours=48))
        overdue = [n for n in read_jsonl(notifications) if n["subject"].startswith("OVERDUE")]
        assert [n["to"] for n in overdue] == [["bea"]]
        assert state.status == IncidentStatus.RESOLVED

        # Only the incident commander records the retrospective.
        await handle.signal(IncidentWorkflow.retrospective_done, _notes("sam", Role.DOMAIN_SME, "retro-sam"))
        await wait_for(handle, lambda s: s.outcome("retro-sam") is not None)
        outcome = await handle.query(IncidentWorkflow.action_outcome, "retro-sam")
        assert outcome is not None and not outcome.accepted

        await handle.signal(IncidentWorkflow.retrospective_done, _notes())
        result = await handle.result()
        assert result.status == IncidentStatus.CLOSED
        state = await state_of(handle)
        assert "retrospective held" in whats(state) and "retrospective written" in whats(state)
        final = (folder / "retrospective.md").read_text()
        assert final.startswith(f"# Retrospective {state.number} (final)")
        for text in ("prompt v13 dropped the safety preamble", "- no toxicity regression test", "- deploy on a Friday",
                     "- promptfoo gate on every prompt release", "- [ ] add a toxicity eval to CI — owner olu"):
            assert text in final
        record = json.loads((folder / "retrospective.json").read_text())
        assert record["status"] == "final"
        assert record["root_cause"] == "prompt v13 dropped the safety preamble"
        assert record["contributing_factors"] == ["no toxicity regression test", "deploy on a Friday"]
        assert record["preventative_actions"] == ["promptfoo gate on every prompt release"]
        assert [(a["what"], a["owner"]) for a in record["action_items"]] == [("add a toxicity eval to CI", "olu")]
        assert any(e["what"] == "retrospective overdue; escalated to bea" for e in record["timeline"])


async def test_retrospective_before_the_deadline_closes_without_reminders(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path) -> None:
    playbook = write_playbook(tmp_path)
    async with worker(ts_env.client, task_queue, playbook, home) as ctx:
        handle, state = await open_incident(ts_env, task_queue, Severity.SEV2)
        await handle.signal(IncidentWorkflow.retrospective_done, _notes(action_id="too-early"))
        await wait_for(handle, lambda s: s.outcome("too-early") is not None)
        outcome = await handle.query(IncidentWorkflow.action_outcome, "too-early")
        assert outcome is not None and not outcome.accepted and "after the incident is resolved" in outcome.message

        await handle.signal(IncidentWorkflow.resolve, _resolution("fixed"))
        state = await wait_for(handle, lambda s: s.retrospective_path is not None)
        resolved = state.resolved_at
        assert resolved is not None
        await advance_to(ts_env, resolved + timedelta(hours=3))
        await handle.signal(IncidentWorkflow.retrospective_done, _notes())
        result = await handle.result()
        assert result.status == IncidentStatus.CLOSED
        state = await state_of(handle)
        assert near(state.closed_at, resolved + timedelta(hours=3))
        assert not any(w.startswith(("reminder", "retrospective overdue")) for w in whats(state))
        updates = read_jsonl(ctx.store.root / str(state.number) / "ticket-updates.jsonl")
        assert updates[-1]["text"] == "Closed" and updates[-1]["status"] == "closed"


async def test_nobody_records_a_retrospective_so_the_incident_closes_after_giving_up(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path) -> None:
    playbook = write_playbook(tmp_path, "[review]\ndeadline_hours = 6\nreminder_hours = [2, 4]\n"
                                        "give_up_after_hours = 12\n")
    async with worker(ts_env.client, task_queue, playbook, home) as ctx:
        handle, state = await open_incident(ts_env, task_queue, Severity.SEV2)
        await handle.signal(IncidentWorkflow.resolve, _resolution("fixed"))
        state = await wait_for(handle, lambda s: s.retrospective_path is not None)
        resolved = state.resolved_at
        assert resolved is not None

        result = await handle.result()  # the test server skips the 12 hours
        assert result.status == IncidentStatus.CLOSED
        state = await state_of(handle)
        review = [(e.what.split(":")[0], e.at) for e in state.timeline if e.step.value == "review"
                  and e.actor == "firebreak" and not e.what.startswith("could not")]
        labels = [what for what, _ in review]
        assert labels == ["reminder 1", "reminder 2", "retrospective overdue; escalated to bea",
                          "closed without a retrospective"]
        for (_, at), hours in zip(review, (2, 4, 6, 12), strict=True):
            assert near(at, resolved + timedelta(hours=hours))
        assert "closed without a retrospective: nobody recorded one within 12 hours" in whats(state)
        assert near(state.closed_at, resolved + timedelta(hours=12))
        folder = ctx.store.root / str(state.number)
        assert "(draft)" in (folder / "retrospective.md").read_text().splitlines()[0]
        updates = read_jsonl(folder / "ticket-updates.jsonl")
        assert updates[-1]["text"] == "Closed without a retrospective"
