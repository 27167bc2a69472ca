"""Steps 2-5, the response: stabilise, contain and remediate run the service plan's actions under the approval
policy; investigate collects the evidence pack. A resolution skips what has not started yet."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.incident import freeze, gates, mitigations, remedy, serious
from workflows.incident.core import IncidentCore

with workflow.unsafe.imports_passed_through():
    import workflows.incident.markers as markers
    from playbook.config import (
        LangfusePromptPatchAction,
        ManualAction,
        PromptfooRegressionAction,
        render_for_people,
    )
    from playbook.messages import ActionResult, ActionRun, EvidenceInput, EvidencePack
    from playbook.models import ApprovalStatus, Role, Step
    from workflows.incident.calls import cause, http_call

RESPONSE_STEPS = (Step.STABILISE, Step.CONTAIN, Step.INVESTIGATE, Step.REMEDIATE)


async def respond(core: IncidentCore) -> None:
    """Steps 2-5 in order, each once (a continue-as-new resumes after the last one done)."""
    for step in RESPONSE_STEPS:
        if step in core.state.steps_done:
            continue
        if core.resolved():
            core.system(step, "skipped: the incident was resolved first")
        else:
            core.set(step=step)
            if step == Step.INVESTIGATE:
                await _investigate(core)
            else:
                await _run_actions(core, step)
        core.state.steps_done.append(step)


async def _run_actions(core: IncidentCore, step: Step) -> None:
    names = core.playbook().actions_for(core.state.service, step)
    if not names:
        core.system(step, f"no {step.value} actions in the playbook for {core.state.service}")
        return
    for name in names:
        if core.resolved():
            mitigations.record(core, step, name, "skipped", "incident resolved")
            continue
        await _run_action(core, step, name)


async def _run_action(core: IncidentCore, step: Step, name: str) -> None:
    pb, severity = core.playbook(), core.state.severity
    action = pb.actions[name]
    mode = pb.approvals.mode_for(name, severity)
    if not await serious.hold(core, step, name, action):
        mitigations.record(core, step, name, "held", "a serious incident: legal did not release it")
        return
    if isinstance(action, ManualAction):
        # A person does it, so the person confirms it: AI Ops unless this action's policy names a role.
        own = pb.approvals.own_mode(name, severity)
        doer = (own.role if own else None) or Role.AI_OPS
        instructions = render_for_people(action.instructions, core.variables(name))
        status = await gates.gate(core, step, f"{name}: {instructions}",
                                  "manual runbook step: approve once it is done", doer)
        done = status == ApprovalStatus.APPROVED
        mitigations.record(core, step, name, "done" if done else status.value,
                           "confirmed by a person" if done else "not confirmed")
        if done:
            mitigations.register(core, step, name, "confirmed by a person", mitigations.manual_undo(core, name, action),
                                 by=mitigations.confirmed_by(core, step, name))
        return
    if isinstance(action, LangfusePromptPatchAction) and markers.patched(markers.REMEDY):
        await remedy.run_prompt_patch(core, step, name, action, mode)
        return
    if mode.needs_approval:
        status = await gates.gate(core, step, f"run {name}" + (f": {action.description}" if action.description
                                                               else ""),
                                  f"playbook policy for {severity.value}: {mode}", mode.role or Role.AI_OPS)
        proceed_anyway = status == ApprovalStatus.EXPIRED and pb.approvals.on_expiry == "proceed"
        if status != ApprovalStatus.APPROVED and not proceed_anyway:
            mitigations.record(core, step, name, status.value, "not run")
            return
    if isinstance(action, PromptfooRegressionAction) and markers.patched(markers.REMEDY):
        await remedy.run_regression(core, step, name, action)
        return
    frozen = await freeze.before_change(core, step, name, action)
    if not frozen.go:
        return
    run = ActionRun(key=core.key(step.value, name), incident_number=core.number(), step=step, name=name,
                    action=action, variables=core.variables(name), snapshot=frozen.snapshot)
    try:
        result = await workflow.execute_activity("run_action", run, result_type=ActionResult,
                                                 summary=f"{step.value.capitalize()}: {name}",
                                                 **http_call(action.timeout_seconds))
    except ActivityError as err:
        await mitigations.failed(core, step, name, cause(err), snapshot=frozen.snapshot)
        return
    mitigations.record(core, step, name, "done", result.detail, frozen.snapshot)
    mitigations.register(core, step, name, result.detail, result.undo)
    if mode.kind == "auto_with_notice":
        await core.notify(f"notice-{step.value}-{name}", [core.primary(Role.INCIDENT_COMMANDER)],
                          f"{core.number()}: {name} ran automatically", result.detail)


async def _investigate(core: IncidentCore) -> None:
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
    if findings and markers.patched(markers.FINDINGS):
        # The blast radius and the last deploys go to the ticket and the briefs, not only the evidence folder.
        core.state.findings = findings
        await core.ticket_update("findings", "Investigation findings:\n" + "\n".join(f"- {f}" for f in findings))
