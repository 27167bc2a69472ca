"""Approval gates and acknowledgement: the right person passes, everyone else is refused on the record,
and silence escalates along the roster's backups before the playbook's safe default applies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from playbook.models import ApprovalStatus, IncidentStatus, Role, Severity
from playbook.state import IncidentState
from tests.behaviour import (  # noqa: F401  (terminate_leftovers is an autouse fixture)
    advance_to,
    open_incident,
    read_jsonl,
    terminate_leftovers,
    whats,
    worker,
)
from tests.support import Recorder, decision, human, recorder, state_of, wait_for, write_playbook
from workflows.incident import IncidentWorkflow

GATED = """
[actions.rollback]
kind = "http"
url = "{url}/rollback/${{service}}"
[approvals]
timeout_minutes = 15
on_expiry = "{on_expiry}"
[approvals.actions.rollback]
SEV2 = "approve:ai_ops"
[services.support-bot]
stabilise = ["rollback"]
"""


@asynccontextmanager
async def gated_incident(env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path,
                         on_expiry: str = "skip") -> AsyncIterator[tuple[WorkflowHandle[Any, Any], IncidentState,
                                                                         Recorder, Path]]:
    """A SEV2 incident waiting at the stabilise gate: `rollback` needs ai_ops (primary bea, whose backup is ian)."""
    with recorder() as control_plane:
        playbook = write_playbook(tmp_path, GATED.format(url=control_plane.url, on_expiry=on_expiry))
        async with worker(env.client, task_queue, playbook, home) as ctx:
            handle, _ = await open_incident(env, task_queue, Severity.SEV2)
            state = await wait_for(handle, lambda s: bool(s.pending_approvals()))
            assert [(a.request_id, a.role) for a in state.pending_approvals()] == [("stabilise-1", Role.AI_OPS)]
            yield handle, state, control_plane, ctx.store.root / str(state.number)


async def refused(handle: WorkflowHandle[Any, Any], action_id: str) -> str:
    """The refusal's reason, after checking it is on the timeline and the request is still pending."""
    state = await wait_for(handle, lambda s: s.outcome(action_id) is not None)
    outcome = await handle.query(IncidentWorkflow.action_outcome, action_id)
    assert outcome is not None and outcome.accepted is False
    entry = next(e for e in reversed(state.timeline) if e.what.startswith("refused:")
                 and e.details.get("reason") == outcome.message)
    assert entry.what.startswith(("refused: approve", "refused: reject"))
    assert state.approval("stabilise-1").status == ApprovalStatus.PENDING  # type: ignore[union-attr]
    return outcome.message


def mitigation(state: IncidentState) -> tuple[str, str]:
    return next((m.outcome, m.detail) for m in state.mitigations if m.action == "rollback")


async def test_the_right_role_approves_and_the_action_runs(ts_env: WorkflowEnvironment, task_queue: str,
                                                           tmp_path: Path, home: Path) -> None:
    async with gated_incident(ts_env, task_queue, tmp_path, home) as (handle, state, control_plane, folder):
        notes = read_jsonl(folder / "notifications.jsonl")
        assert any(n["to"] == ["bea"] and "approval needed (stabilise-1)" in n["subject"] for n in notes)
        assert control_plane.requests == []

        ok = decision("stabilise-1", "olu", Role.AI_OPS, "go")
        await handle.signal(IncidentWorkflow.approve, ok)
        state = await wait_for(handle, lambda s: any(m.action == "rollback" for m in s.mitigations))
        outcome = await handle.query(IncidentWorkflow.action_outcome, ok.action_id)
        assert outcome is not None and outcome.accepted
        assert mitigation(state)[0] == "done"
        assert [r["path"] for r in control_plane.requests] == ["/rollback/support-bot"]
        request = state.approval("stabilise-1")
        assert request is not None and (request.status, request.decided_by) == (ApprovalStatus.APPROVED, "olu")
        entry = next(e for e in state.timeline if e.what == "stabilise-1 approved")
        assert (entry.actor, entry.role, entry.details["comment"]) == ("olu", "ai_ops", "go")

        # A second decision on the same request is refused and changes nothing.
        again = decision("stabilise-1", "bea", Role.AI_OPS)
        await handle.signal(IncidentWorkflow.approve, again)
        await wait_for(handle, lambda s: s.outcome(again.action_id) is not None)
        outcome = await handle.query(IncidentWorkflow.action_outcome, again.action_id)
        assert outcome is not None and not outcome.accepted
        assert outcome.message == "request stabilise-1 is already approved by olu"
        assert len(control_plane.requests) == 1


async def test_wrong_role_impostor_unknown_person_and_unknown_request_are_refused(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path) -> None:
    async with gated_incident(ts_env, task_queue, tmp_path, home) as (handle, state, control_plane, _):
        wrong_role = decision("stabilise-1", "ian", Role.INCIDENT_COMMANDER)
        await handle.signal(IncidentWorkflow.approve, wrong_role)
        assert await refused(handle, wrong_role.action_id) == (
            "request stabilise-1 needs the role ai_ops; ian acted as incident_commander")

        impostor = decision("stabilise-1", "ian", Role.AI_OPS)
        await handle.signal(IncidentWorkflow.approve, impostor)
        assert await refused(handle, impostor.action_id) == "ian does not hold the role ai_ops"

        stranger = decision("stabilise-1", "zed", Role.AI_OPS)
        await handle.signal(IncidentWorkflow.approve, stranger)
        assert await refused(handle, stranger.action_id) == "'zed' is not on the roster"

        wrong_rejecter = decision("stabilise-1", "sam", Role.DOMAIN_SME)
        await handle.signal(IncidentWorkflow.reject, wrong_rejecter)
        assert "needs the role ai_ops" in await refused(handle, wrong_rejecter.action_id)

        typo = decision("stabilise-9", "olu", Role.AI_OPS)
        await handle.signal(IncidentWorkflow.approve, typo)
        message = await refused(handle, typo.action_id)
        assert message == "no approval request 'stabilise-9' (pending: stabilise-1)"

        state = await state_of(handle)
        refusals = [(e.actor, e.role) for e in state.timeline if e.what.startswith("refused:")]
        assert refusals == [("ian", "incident_commander"), ("ian", "ai_ops"), ("zed", "ai_ops"),
                            ("sam", "domain_sme"), ("olu", "ai_ops")]
        assert control_plane.requests == [] and state.mitigations == []


async def test_a_rejected_action_does_not_run(ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                                              home: Path) -> None:
    async with gated_incident(ts_env, task_queue, tmp_path, home) as (handle, state, control_plane, _):
        await handle.signal(IncidentWorkflow.reject, decision("stabilise-1", "olu", Role.AI_OPS, "too risky"))
        state = await wait_for(handle, lambda s: s.status == IncidentStatus.MONITORING)
        assert mitigation(state) == ("rejected", "not run")
        assert control_plane.requests == []


async def test_timeout_escalates_to_the_backup_who_may_approve(ts_env: WorkflowEnvironment, task_queue: str,
                                                               tmp_path: Path, home: Path) -> None:
    async with gated_incident(ts_env, task_queue, tmp_path, home) as (handle, state, control_plane, folder):
        asked = state.approval("stabilise-1").requested_at  # type: ignore[union-attr]
        # Before the timeout, ian (not ai_ops) may not approve.
        early = decision("stabilise-1", "ian", Role.INCIDENT_COMMANDER)
        await handle.signal(IncidentWorkflow.approve, early)
        await refused(handle, early.action_id)

        await advance_to(ts_env, asked + timedelta(minutes=16))
        state = await state_of(handle)
        request = state.approval("stabilise-1")
        assert request is not None and request.escalated_to == ["ian"] and request.status == ApprovalStatus.PENDING
        assert "approval stabilise-1 timed out; escalated to ian" in whats(state)
        notes = read_jsonl(folder / "notifications.jsonl")
        assert any(n["to"] == ["ian"] and n["subject"].startswith("ESCALATION") for n in notes)

        late = decision("stabilise-1", "ian", Role.INCIDENT_COMMANDER, "bea is offline; go")
        await handle.signal(IncidentWorkflow.approve, late)
        state = await wait_for(handle, lambda s: any(m.action == "rollback" for m in s.mitigations))
        outcome = await handle.query(IncidentWorkflow.action_outcome, late.action_id)
        assert outcome is not None and outcome.accepted
        assert mitigation(state)[0] == "done" and len(control_plane.requests) == 1
        assert state.approval("stabilise-1").decided_by == "ian"  # type: ignore[union-attr]


@pytest.mark.parametrize(("on_expiry", "outcome", "calls"), [("skip", "expired", 0), ("proceed", "done", 1)])
async def test_a_second_timeout_expires_the_request_and_the_policy_decides(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path, on_expiry: str, outcome: str,
        calls: int) -> None:
    async with gated_incident(ts_env, task_queue, tmp_path, home, on_expiry) as (handle, state, control_plane, _):
        asked = state.approval("stabilise-1").requested_at  # type: ignore[union-attr]
        await advance_to(ts_env, asked + timedelta(minutes=29))
        state = await state_of(handle)
        assert state.approval("stabilise-1").status == ApprovalStatus.PENDING  # type: ignore[union-attr]
        assert state.mitigations == []

        await advance_to(ts_env, asked + timedelta(minutes=31))
        state = await wait_for(handle, lambda s: any(m.action == "rollback" for m in s.mitigations))
        request = state.approval("stabilise-1")
        assert request is not None and request.status == ApprovalStatus.EXPIRED
        assert f"approval stabilise-1 expired; policy on expiry: {on_expiry}" in whats(state)
        assert mitigation(state)[0] == outcome
        assert len(control_plane.requests) == calls

        # A decision after expiry is refused.
        late = decision("stabilise-1", "olu", Role.AI_OPS)
        await handle.signal(IncidentWorkflow.approve, late)
        await wait_for(handle, lambda s: s.outcome(late.action_id) is not None)
        answer = await handle.query(IncidentWorkflow.action_outcome, late.action_id)
        assert answer is not None and answer.message == "request stabilise-1 is already expired"


CHAIN = """
[roster.people.ian]
name = "Ian Commander"
roles = ["incident_commander"]
backup = "bea"
[roster.people.bea]
name = "Bea Backup"
roles = ["incident_commander"]
backup = "sam"
[roster.people.olu]
name = "Olu Ops"
roles = ["ai_ops"]
[roster.people.sam]
name = "Sam Expert"
roles = ["domain_sme"]
backup = "cat"
[roster.people.cat]
name = "Cat Comms"
roles = ["communications", "domain_sme"]
"""


async def test_acknowledgement_timeout_escalates_along_the_backup_chain(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path) -> None:
    playbook = write_playbook(tmp_path, roster=CHAIN)  # SEV1: 5 minutes to acknowledge; chain ian, bea, sam, cat
    async with worker(ts_env.client, task_queue, playbook, home) as ctx:
        handle, state = await open_incident(ts_env, task_queue, Severity.SEV1, acknowledge=False)
        opened = state.opened_at
        assert opened is not None
        notifications = ctx.store.root / str(state.number) / "notifications.jsonl"

        # sam holds none of the acknowledging roles and has not been escalated to: refused.
        early = human("sam", Role.DOMAIN_SME)
        await handle.signal(IncidentWorkflow.acknowledge, early)
        await wait_for(handle, lambda s: s.outcome(early.action_id) is not None)
        answer = await handle.query(IncidentWorkflow.action_outcome, early.action_id)
        assert answer is not None and not answer.accepted
        assert answer.message == "only ai_ops or incident_commander may acknowledge; sam acted as domain_sme"

        await advance_to(ts_env, opened + timedelta(minutes=4))
        assert (await state_of(handle)).ack_escalated_to == []
        for minutes, escalated in ((6, ["bea"]), (11, ["bea", "sam"]), (16, ["bea", "sam", "cat"])):
            await advance_to(ts_env, opened + timedelta(minutes=minutes))
            assert (await state_of(handle)).ack_escalated_to == escalated
        state = await state_of(handle)
        assert [w for w in whats(state) if w.startswith("not acknowledged")] == [
            f"not acknowledged in time; escalated to {p}" for p in ("bea", "sam", "cat")]
        assert [n["to"] for n in read_jsonl(notifications) if n["key"].split("/")[-1].startswith("ack-")] == [
            ["ian"], ["bea"], ["sam"], ["cat"]]

        # cat has no backup: the chain is exhausted, and the incident keeps waiting rather than giving up.
        await advance_to(ts_env, opened + timedelta(minutes=40))
        state = await state_of(handle)
        assert whats(state).count("nobody acknowledged; every escalation is exhausted, still waiting") == 1
        assert state.status == IncidentStatus.OPEN

        # Once escalated to, sam may acknowledge in the role sam holds.
        late = human("sam", Role.DOMAIN_SME, "on it")
        await handle.signal(IncidentWorkflow.acknowledge, late)
        state = await wait_for(handle, lambda s: s.status != IncidentStatus.OPEN)
        assert state.acknowledged_by == "sam"
        assert (await handle.query(IncidentWorkflow.action_outcome, late.action_id)).accepted  # type: ignore[union-attr]


@pytest.mark.parametrize(("mode", "noticed"), [("auto", False), ("auto_with_notice", True)])
async def test_automatic_actions_run_without_asking(ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                                                    home: Path, mode: str, noticed: bool) -> None:
    with recorder() as control_plane:
        body = GATED.format(url=control_plane.url, on_expiry="skip").replace('SEV2 = "approve:ai_ops"',
                                                                            f'SEV2 = "{mode}"')
        playbook = write_playbook(tmp_path, body)
        async with worker(ts_env.client, task_queue, playbook, home) as ctx:
            handle, _ = await open_incident(ts_env, task_queue, Severity.SEV2)
            state = await wait_for(handle, lambda s: s.status == IncidentStatus.MONITORING)
            assert state.approvals == [] and mitigation(state)[0] == "done"
            assert len(control_plane.requests) == 1
            notes = read_jsonl(ctx.store.root / str(state.number) / "notifications.jsonl")
            notices = [n for n in notes if n["subject"].endswith("rollback ran automatically")]
            assert [n["to"] for n in notices] == ([["ian"]] if noticed else [])


async def test_acknowledging_twice_is_refused(ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                                              home: Path) -> None:
    async with worker(ts_env.client, task_queue, write_playbook(tmp_path), home):
        handle, _ = await open_incident(ts_env, task_queue, Severity.SEV2)
        again = human("bea", Role.AI_OPS)
        await handle.signal(IncidentWorkflow.acknowledge, again)
        await wait_for(handle, lambda s: s.outcome(again.action_id) is not None)
        answer = await handle.query(IncidentWorkflow.action_outcome, again.action_id)
        assert answer is not None and answer.message == "already acknowledged by ian"
        assert (await state_of(handle)).acknowledged_by == "ian"
