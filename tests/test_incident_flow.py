"""The whole path: declare -> ticket -> acknowledge -> steps -> briefs -> resolve -> retrospective."""

from __future__ import annotations

import json
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from client.temporal import raise_detection
from playbook.models import ApprovalStatus, IncidentStatus, Resolution, RetrospectiveNotes, Role, Step
from tests.support import decision, detection, human, incident_worker, recorder, wait_for, write_playbook
from workflows.incident import IncidentWorkflow


async def test_declare_to_retrospective(ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                                        home: Path) -> None:
    with recorder() as control_plane:
        playbook = write_playbook(tmp_path, f"""
[[severity.rules]]
kinds = ["toxicity"]
metric = "toxicity_p95"
above = 0.8
severity = "SEV1"
[actions.rollback_prompt]
kind = "http"
url = "{control_plane.url}/prompts/${{known_good_prompt_name}}/rollback?to=${{known_good_prompt_version}}"
body = '{{"incident": "${{incident_number}}"}}'
[actions.disable_tools]
kind = "manual"
instructions = "Disable the tools of ${{service}}"
[approvals.actions.rollback_prompt]
SEV1 = "approve:ai_ops"
[services.support-bot]
known_good = {{ prompt_name = "support-answer", prompt_version = 12 }}
stabilise = ["rollback_prompt"]
contain = ["disable_tools"]
""")
        client = ts_env.client
        async with incident_worker(client, task_queue, playbook, home) as ctx:
            handle = await raise_detection(client, detection(), task_queue=task_queue)
            state = await wait_for(handle, lambda s: s.ticket is not None)
            assert state.severity.value == "SEV1"
            number = state.number
            assert number is not None and number.startswith("INC-")
            ticket = json.loads((ctx.store.root / number / "ticket.json").read_text())
            assert ticket["deploy_id"] == "d-123" and ticket["metrics"] == {"toxicity_p95": 0.91}
            assert ticket["services"] == ["support-bot"]

            await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
            state = await wait_for(handle, lambda s: any(a.step == Step.STABILISE for a in s.pending_approvals()))
            rollback = state.pending_approvals()[0]
            assert rollback.role == Role.AI_OPS
            await handle.signal(IncidentWorkflow.approve, decision(rollback.request_id, "olu", Role.AI_OPS, "go"))
            state = await wait_for(handle, lambda s: any(a.step == Step.CONTAIN for a in s.pending_approvals()))
            assert control_plane.requests[0]["path"] == "/prompts/support-answer/rollback?to=12"
            assert json.loads(control_plane.requests[0]["body"]) == {"incident": number}
            manual = state.pending_approvals()[0]
            await handle.signal(IncidentWorkflow.approve, decision(manual.request_id, "olu", Role.AI_OPS))
            state = await wait_for(handle, lambda s: s.status == IncidentStatus.MONITORING)
            assert [(m.action, m.outcome) for m in state.mitigations] == [("rollback_prompt", "done"),
                                                                          ("disable_tools", "done")]
            assert (ctx.store.root / number / "evidence" / "manifest.json").exists()

            await handle.signal(IncidentWorkflow.resolve, Resolution(
                by="ian", role=Role.INCIDENT_COMMANDER, comment="rolled back"))
            state = await wait_for(handle, lambda s: s.retrospective_path is not None)
            assert state.status == IncidentStatus.RESOLVED
            assert (ctx.store.root / number / "retrospective.md").exists()
            await handle.signal(IncidentWorkflow.retrospective_done, RetrospectiveNotes(
                by="ian", role=Role.INCIDENT_COMMANDER, root_cause="prompt v13 dropped the safety preamble",
                contributing_factors=["no toxicity regression test"], preventative_actions=["add promptfoo gate"]))
            result = await handle.result()
            assert result.status == IncidentStatus.CLOSED
            retro = (ctx.store.root / number / "retrospective.md").read_text()
            assert "prompt v13 dropped the safety preamble" in retro
            assert "no toxicity regression test" in retro
            assert "| acknowledged |" in retro
            assert "- minutes to stabilise: " in retro and "minutes to stabilise: None" not in retro
            assert "minutes to contain: None" not in retro
            assert len(control_plane.requests) == 1
            assert all(a.status == ApprovalStatus.APPROVED for a in state.approvals)
