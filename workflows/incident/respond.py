"""Steps 2-5, the response: stabilise, contain and remediate run the service plan's actions under the approval
policy; investigate collects the evidence pack. A resolution skips what has not started yet."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.incident.core import IncidentCore
from workflows.incident.gates import Gates
from workflows.incident.mitigations import Mitigations
from workflows.incident.remedy import Remediation

with workflow.unsafe.imports_passed_through():
    import workflows.incident.markers as markers
    from playbook.config import (
        LangfusePromptPatchAction,
        ManualAction,
        PromptfooRegressionAction,
        render_template,
    )
    from playbook.messages import ActionResult, ActionRun, EvidenceInput, EvidencePack
    from playbook.models import ApprovalStatus, Role, Step
    from workflows.incident.calls import cause, http_call

RESPONSE_STEPS = (Step.STABILISE, Step.CONTAIN, Step.INVESTIGATE, Step.REMEDIATE)


class Response:
    def __init__(self, core: IncidentCore, gates: Gates, mitigations: Mitigations, remedy: Remediation) -> None:
        self.core, self.gates, self.mitigations, self.remedy = core, gates, mitigations, remedy

    async def respond(self) -> None:
        core = self.core
        for step in RESPONSE_STEPS:
            if step in core.state.steps_done:
                continue
            if core.resolved():
                core.system(step, "skipped: the incident was resolved first")
            else:
                core.set(step=step)
                if step == Step.INVESTIGATE:
                    await self._investigate()
                else:
                    await self._run_actions(step)
            core.state.steps_done.append(step)

    async def _run_actions(self, step: Step) -> None:
        core = self.core
        names = core.playbook().actions_for(core.state.service, step)
        if not names:
            core.system(step, f"no {step.value} actions in the playbook for {core.state.service}")
            return
        for name in names:
            if core.resolved():
                self.mitigations.record(step, name, "skipped", "incident resolved")
                continue
            await self._run_action(step, name)

    async def _run_action(self, step: Step, name: str) -> None:
        core = self.core
        pb, severity = core.playbook(), core.state.severity
        action = pb.actions[name]
        mode = pb.approvals.mode_for(name, severity)
        if isinstance(action, ManualAction):
            # A person does it, so the person confirms it: AI Ops unless this action's policy names a role.
            own = pb.approvals.own_mode(name, severity)
            doer = (own.role if own else None) or Role.AI_OPS
            instructions = render_template(action.instructions, core.variables(name))
            status = await self.gates.gate(step, f"{name}: {instructions}",
                                           "manual runbook step: approve once it is done", doer)
            done = status == ApprovalStatus.APPROVED
            self.mitigations.record(step, name, "done" if done else status.value,
                                    "confirmed by a person" if done else "not confirmed")
            if done:
                self.mitigations.register(step, name, "confirmed by a person",
                                          self.mitigations.manual_undo(name, action),
                                          by=self.mitigations.confirmed_by(step, name))
            return
        if isinstance(action, LangfusePromptPatchAction) and workflow.patched(markers.REMEDY):
            await self.remedy.run_prompt_patch(step, name, action, mode)
            return
        if mode.needs_approval:
            status = await self.gates.gate(step, f"run {name}" + (f": {action.description}" if action.description
                                                                   else ""),
                                           f"playbook policy for {severity.value}: {mode}",
                                           mode.role or Role.AI_OPS)
            proceed_anyway = status == ApprovalStatus.EXPIRED and pb.approvals.on_expiry == "proceed"
            if status != ApprovalStatus.APPROVED and not proceed_anyway:
                self.mitigations.record(step, name, status.value, "not run")
                return
        if isinstance(action, PromptfooRegressionAction) and workflow.patched(markers.REMEDY):
            await self.remedy.run_regression(step, name, action)
            return
        run = ActionRun(key=core.key(step.value, name), incident_number=core.number(), step=step, name=name,
                        action=action, variables=core.variables(name))
        try:
            result = await workflow.execute_activity("run_action", run, result_type=ActionResult,
                                                     summary=f"{step.value.capitalize()}: {name}",
                                                     **http_call(action.timeout_seconds))
        except ActivityError as err:
            await self.mitigations.failed(step, name, cause(err))
            return
        self.mitigations.record(step, name, "done", result.detail)
        self.mitigations.register(step, name, result.detail, result.undo)
        if mode.kind == "auto_with_notice":
            await core.notify(f"notice-{step.value}-{name}", [core.primary(Role.INCIDENT_COMMANDER)],
                              f"{core.number()}: {name} ran automatically", result.detail)

    async def _investigate(self) -> None:
        core = self.core
        pack = await workflow.execute_activity(
            "collect_evidence", EvidenceInput(incident_number=core.number(), workflow_id=core.state.workflow_id,
                                              detection=core.state.detection, sources=core.playbook().evidence,
                                              variables=core.variables("collect_evidence")),
            result_type=EvidencePack, summary="Investigate: collect the evidence pack",
            start_to_close_timeout=timedelta(minutes=5), heartbeat_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(maximum_attempts=3))
        core.state.evidence_manifest = pack.manifest_path
        failed = [i.name for i in pack.items if i.error]
        core.system(Step.INVESTIGATE, f"evidence pack: {len(pack.items) - len(failed)} item(s) collected"
                    + (f", {len(failed)} failed" if failed else ""),
                    {"manifest": pack.manifest_path,
                     "items": [{"name": i.name, "sha256": i.sha256, "error": i.error} for i in pack.items]})
        findings = [f"{i.name}: {i.summary}" for i in pack.items if i.summary]
        if findings and workflow.patched(markers.FINDINGS):
            # The blast radius and the last deploys go to the ticket and the briefs, not only the evidence folder.
            core.state.findings = findings
            await core.ticket_update("findings", "Investigation findings:\n" + "\n".join(f"- {f}" for f in findings))
