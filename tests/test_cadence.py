"""Step 6, communicate: briefs on the severity's cadence, each approved by the domain SME, sent once, archived once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from playbook.models import ApprovalStatus, Resolution, Role, Severity, SeverityChange
from tests.behaviour import (  # noqa: F401  (terminate_leftovers is an autouse fixture)
    advance_to,
    approve_briefs_until,
    near,
    open_incident,
    read_jsonl,
    terminate_leftovers,
    whats,
    worker,
)
from tests.support import decision, state_of, wait_for, write_playbook
from workflows.incident import IncidentWorkflow


@pytest.mark.parametrize(("severity", "expected"), [(Severity.SEV1, 6), (Severity.SEV2, 3)])
async def test_briefs_follow_the_severity_cadence(ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                                                   home: Path, severity: Severity, expected: int) -> None:
    playbook = write_playbook(tmp_path)
    async with worker(ts_env.client, task_queue, playbook, home) as ctx:
        handle, state = await open_incident(ts_env, task_queue, severity)
        assert state.severity == severity
        acked = state.acknowledged_at
        assert acked is not None
        # Three hours of briefs, plus a few minutes for the SME to approve the one due at the three-hour mark.
        approved = await approve_briefs_until(handle, ts_env, acked + timedelta(hours=3, minutes=9))
        state = await state_of(handle)

        assert approved == [f"brief-{n}" for n in range(1, expected + 1)]
        assert state.briefs_sent == expected
        assert all(whats(state).count(f"brief #{n} sent to archive") == 1 for n in range(1, expected + 1))
        cadence = timedelta(minutes=30 if severity == Severity.SEV1 else 60)
        drafted = [e.at for e in state.timeline if e.what.startswith("brief #") and e.what.endswith("drafted")]
        assert len(drafted) == expected
        assert all(near(at, acked + cadence * n) for n, at in enumerate(drafted, start=1))

        comms = ctx.store.root / str(state.number) / "comms"
        assert sorted(p.name for p in comms.glob("*-brief.md")) == [f"{n:04d}-brief.md"
                                                                    for n in range(1, expected + 1)]
        assert "Approved by sam" in (comms / "0001-brief.md").read_text()
        archive = read_jsonl(comms / "archive.jsonl")
        assert [(r["seq"], r["kind"], r["approved_by"]) for r in archive] == [
            (n, "brief", "sam") for n in range(1, expected + 1)]


async def test_raising_the_severity_brings_the_next_brief_forward(ts_env: WorkflowEnvironment, task_queue: str,
                                                                  tmp_path: Path, home: Path) -> None:
    playbook = write_playbook(tmp_path)
    async with worker(ts_env.client, task_queue, playbook, home):
        handle, state = await open_incident(ts_env, task_queue, Severity.SEV2)
        acked = state.acknowledged_at
        assert acked is not None and near(state.next_brief_due, acked + timedelta(minutes=60))

        await advance_to(ts_env, acked + timedelta(minutes=10))
        await handle.signal(IncidentWorkflow.set_severity, SeverityChange(
            by="ian", role=Role.INCIDENT_COMMANDER, severity=Severity.SEV1, comment="spreading"))
        state = await wait_for(handle, lambda s: s.severity == Severity.SEV1)
        # SEV1's 30-minute cadence, counted from the acknowledgement (no brief has gone out yet).
        state = await wait_for(handle, lambda s: near(s.next_brief_due, acked + timedelta(minutes=30)))

        await advance_to(ts_env, acked + timedelta(minutes=31))
        pending = await handle.query(IncidentWorkflow.pending_approvals)
        assert [a.request_id for a in pending] == ["brief-1"]


async def test_lowering_the_severity_spaces_the_briefs_out(ts_env: WorkflowEnvironment, task_queue: str,
                                                           tmp_path: Path, home: Path) -> None:
    playbook = write_playbook(tmp_path)
    async with worker(ts_env.client, task_queue, playbook, home):
        handle, state = await open_incident(ts_env, task_queue, Severity.SEV1)
        acked = state.acknowledged_at
        assert acked is not None
        await approve_briefs_until(handle, ts_env, acked + timedelta(minutes=35))
        state = await wait_for(handle, lambda s: s.briefs_sent == 1)

        await handle.signal(IncidentWorkflow.set_severity, SeverityChange(
            by="ian", role=Role.INCIDENT_COMMANDER, severity=Severity.SEV2, comment="contained"))
        # SEV2's 60-minute cadence from the last brief (drafted at +30), not SEV1's 30 minutes.
        state = await wait_for(handle, lambda s: near(s.next_brief_due, acked + timedelta(minutes=90)))
        await approve_briefs_until(handle, ts_env, acked + timedelta(minutes=85))
        assert (await state_of(handle)).brief_seq == 1
        await approve_briefs_until(handle, ts_env, acked + timedelta(minutes=95))
        assert (await state_of(handle)).briefs_sent == 2


async def test_severity_change_by_someone_other_than_the_commander_is_refused(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path) -> None:
    playbook = write_playbook(tmp_path)
    async with worker(ts_env.client, task_queue, playbook, home):
        handle, state = await open_incident(ts_env, task_queue, Severity.SEV2)
        change = SeverityChange(by="olu", role=Role.AI_OPS, severity=Severity.SEV1, action_id="sev-olu")
        await handle.signal(IncidentWorkflow.set_severity, change)
        await wait_for(handle, lambda s: s.outcome("sev-olu") is not None)
        outcome = await handle.query(IncidentWorkflow.action_outcome, "sev-olu")
        assert outcome is not None and not outcome.accepted and "incident_commander" in outcome.message
        state = await state_of(handle)
        assert state.severity == Severity.SEV2 and state.acknowledged_at is not None
        assert near(state.next_brief_due, state.acknowledged_at + timedelta(hours=1))


@pytest.mark.parametrize("on_expiry", ["skip", "proceed"])
async def test_a_brief_nobody_approves_is_not_sent_and_escalates(ts_env: WorkflowEnvironment, task_queue: str,
                                                                 tmp_path: Path, home: Path, on_expiry: str) -> None:
    # Even when the playbook lets gated *actions* proceed on expiry, an unapproved stakeholder message stays unsent.
    playbook = write_playbook(tmp_path, f'[approvals]\non_expiry = "{on_expiry}"\n')
    async with worker(ts_env.client, task_queue, playbook, home) as ctx:
        handle, state = await open_incident(ts_env, task_queue, Severity.SEV1)
        acked = state.acknowledged_at
        assert acked is not None
        await advance_to(ts_env, acked + timedelta(minutes=31))
        state = await state_of(handle)
        assert [a.request_id for a in state.pending_approvals()] == ["brief-1"]

        # communicate.approval_timeout_minutes (10) later: the SME's backup is asked.
        await advance_to(ts_env, acked + timedelta(minutes=41))
        state = await state_of(handle)
        request = state.approval("brief-1")
        assert request is not None and request.escalated_to == ["cat"]
        assert "approval brief-1 timed out; escalated to cat" in whats(state)
        notes = read_jsonl(ctx.store.root / str(state.number) / "notifications.jsonl")
        assert any(n["to"] == ["cat"] and n["subject"].startswith("ESCALATION") for n in notes)

        # Another 10 minutes with no decision: the brief expires and is not sent anywhere.
        await advance_to(ts_env, acked + timedelta(minutes=52))
        state = await state_of(handle)
        request = state.approval("brief-1")
        assert request is not None and request.status == ApprovalStatus.EXPIRED
        assert "brief #1 not sent: expired" in whats(state)
        assert state.briefs_sent == 0
        comms = ctx.store.root / str(state.number) / "comms"
        assert not (comms / "0001-brief.md").exists()
        assert read_jsonl(comms / "archive.jsonl") == []
        # The cadence carries on: the next brief is still due on time.
        assert near(state.next_brief_due, acked + timedelta(minutes=60))


async def test_the_backup_may_approve_an_escalated_brief(ts_env: WorkflowEnvironment, task_queue: str,
                                                         tmp_path: Path, home: Path) -> None:
    playbook = write_playbook(tmp_path)
    async with worker(ts_env.client, task_queue, playbook, home) as ctx:
        handle, state = await open_incident(ts_env, task_queue, Severity.SEV1)
        acked = state.acknowledged_at
        assert acked is not None
        await advance_to(ts_env, acked + timedelta(minutes=41))
        await approve_briefs_until(handle, ts_env, acked + timedelta(minutes=45), by="cat")
        state = await wait_for(handle, lambda s: s.briefs_sent == 1)
        assert state.approval("brief-1").decided_by == "cat"  # type: ignore[union-attr]
        archive = read_jsonl(ctx.store.root / str(state.number) / "comms" / "archive.jsonl")
        assert [r["approved_by"] for r in archive] == ["cat"]


async def test_lowering_to_a_severity_without_briefs_stops_them(ts_env: WorkflowEnvironment, task_queue: str,
                                                                tmp_path: Path, home: Path) -> None:
    playbook = write_playbook(tmp_path)
    async with worker(ts_env.client, task_queue, playbook, home):
        handle, state = await open_incident(ts_env, task_queue, Severity.SEV2)
        acked = state.acknowledged_at
        assert acked is not None
        await handle.signal(IncidentWorkflow.set_severity, SeverityChange(
            by="ian", role=Role.INCIDENT_COMMANDER, severity=Severity.SEV4, comment="false alarm, mostly"))
        await wait_for(handle, lambda s: s.severity == Severity.SEV4 and s.next_brief_due is None)
        await advance_to(ts_env, acked + timedelta(hours=5))
        state = await state_of(handle)
        assert state.brief_seq == 0 and state.pending_approvals() == []


async def test_resolving_while_a_brief_awaits_approval_cancels_it(ts_env: WorkflowEnvironment, task_queue: str,
                                                                  tmp_path: Path, home: Path) -> None:
    playbook = write_playbook(tmp_path)
    async with worker(ts_env.client, task_queue, playbook, home) as ctx:
        handle, state = await open_incident(ts_env, task_queue, Severity.SEV1)
        assert state.acknowledged_at is not None
        await advance_to(ts_env, state.acknowledged_at + timedelta(minutes=32))
        assert [a.request_id for a in await handle.query(IncidentWorkflow.pending_approvals)] == ["brief-1"]

        await handle.signal(IncidentWorkflow.resolve, Resolution(by="ian", role=Role.INCIDENT_COMMANDER,
                                                                 comment="fixed"))
        state = await wait_for(handle, lambda s: s.retrospective_path is not None)
        assert state.approval("brief-1").status == ApprovalStatus.CANCELLED  # type: ignore[union-attr]
        assert "brief #1 not sent: cancelled" in whats(state)
        assert state.pending_approvals() == [] and state.next_brief_due is None
        late = decision("brief-1", "sam", Role.DOMAIN_SME)
        await handle.signal(IncidentWorkflow.approve, late)
        await wait_for(handle, lambda s: s.outcome(late.action_id) is not None)
        acked = state.acknowledged_at
        assert acked is not None
        await advance_to(ts_env, acked + timedelta(hours=3))
        state = await state_of(handle)
        assert state.briefs_sent == 0 and state.brief_seq == 1
        assert not (ctx.store.root / str(state.number) / "comms" / "0001-brief.md").exists()
