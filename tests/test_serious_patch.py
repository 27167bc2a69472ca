"""A patch sent mid-incident (`firebreak patch`) to a serious incident waits for legal like the playbook's own
actions: Art. 73 forbids changes that could affect the evaluation of causes before the authority is informed."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from client.actions import wait_outcome
from playbook.config import SeriousCase
from playbook.models import ApprovalStatus, Role, Severity
from playbook.remedy import PatchText
from playbook.serious import SeriousMark
from tests.behaviour import open_incident, terminate_leftovers, worker  # noqa: F401
from tests.fake_langfuse import fake_langfuse
from tests.support import ROSTER, decision, wait_for, write_playbook
from tests.test_remedy import PATCH_PLAYBOOK, PROMPT
from workflows.incident import IncidentWorkflow

LEGAL = ROSTER + '\n[roster.people.lea]\nname = "Lea Legal"\nroles = ["legal"]\n'


async def test_a_patch_sent_to_a_serious_incident_waits_for_legal(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_langfuse(monkeypatch) as fake:
        fake.add_prompt(PROMPT, "known good", ["production"])
        fake.add_prompt(PROMPT, "the regression", ["production"])
        playbook = write_playbook(tmp_path, PATCH_PLAYBOOK.format(url=fake.url, prompt=PROMPT), roster=LEGAL)
        (tmp_path / "patch-support-bot.txt").write_text("known good, and never insult anyone", encoding="utf-8")
        async with worker(ts_env.client, task_queue, playbook, home):
            handle, _ = await open_incident(ts_env, task_queue, Severity.SEV2)
            await wait_for(handle, lambda s: s.approval("stabilise-1") is not None)
            await handle.signal(IncidentWorkflow.approve, decision("stabilise-1", "olu", Role.AI_OPS, "routed"))
            state = await wait_for(handle, lambda s: any(a.subject.startswith("promote patch_prompt")
                                                         for a in s.pending_approvals()))
            gate = state.pending_approvals()[0]
            await handle.signal(IncidentWorkflow.approve, decision(gate.request_id, "olu", Role.AI_OPS, "ok"))
            await wait_for(handle, lambda s: s.status.value == "monitoring")
            versions = len(fake.prompts[PROMPT])

            mark = SeriousMark(by="ian", role=Role.INCIDENT_COMMANDER, case=SeriousCase.OTHER,
                               comment="harmful advice", action_id=str(uuid.uuid4()))
            await handle.signal(IncidentWorkflow.mark_serious, mark)
            assert (await wait_outcome(handle, mark.action_id, 20)).accepted  # type: ignore[union-attr]
            text = PatchText(by="olu", role=Role.AI_OPS, text="known good, polite, and sourced",
                             action_id=str(uuid.uuid4()))
            await handle.signal(IncidentWorkflow.patch, text)
            rid = "ai-act-hold-remediate-patch_prompt"
            state = await wait_for(handle, lambda s: s.approval(rid) is not None)
            held = state.approval(rid)
            assert held is not None and held.role == Role.LEGAL and held.status == ApprovalStatus.PENDING
            assert len(fake.prompts[PROMPT]) == versions  # no candidate created while legal holds it

            await handle.signal(IncidentWorkflow.reject, decision(rid, "lea", Role.LEGAL, "after the report"))
            state = await wait_for(handle, lambda s: any(m.action == "patch_prompt" and m.outcome == "held"
                                                         for m in s.mitigations))
            assert len(fake.prompts[PROMPT]) == versions
