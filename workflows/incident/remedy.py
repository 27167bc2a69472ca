"""Remediation: prompt patches as tested, gated candidates, the promptfoo regression gate, and what people ask for
while the incident is monitored (`firebreak patch`: a new candidate; `firebreak retest`: the suites again).

New commands are guarded by markers (workflows/incident/markers.py) so histories recorded before them replay.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.incident import freeze, gates, mitigations, serious
from workflows.incident.core import IncidentCore

with workflow.unsafe.imports_passed_through():
    import workflows.incident.markers as markers
    from playbook.approval import ApprovalMode
    from playbook.config import LangfusePromptPatchAction, PromptfooRegressionAction
    from playbook.models import ApprovalStatus, HumanAction, IncidentStatus, Role, Step
    from playbook.remedy import (
        PatchRequest,
        PatchResult,
        PatchText,
        RegressionRequest,
        RegressionRun,
        UndoPlan,
        connection_of,
    )
    from workflows.incident.calls import LANGFUSE_CALLS, cause

RETEST_ROLES = {Role.INCIDENT_COMMANDER, Role.AI_OPS}


# ------------------------------------------------------------------ prompt patch as a candidate

async def run_prompt_patch(core: IncidentCore, step: Step, name: str, action: LangfusePromptPatchAction,
                           mode: ApprovalMode, text: PatchText | None = None) -> None:
    """Create (or find) the candidate version, test it with the plan's regression suites, gate its promotion
    by the policy, promote and verify.

    The test before the gate runs each promptfoo_regression action of the service's plan against the
    candidate (the provider endpoint is told its prompt, version and label, `candidate`), and the approval
    request carries the result: counts and failing cases. A candidate that fails its suite is only promoted
    by an explicit approval that saw the failure: even under an `auto` policy it waits for one (from AI Ops,
    when the policy names no role), and an expired request does not promote it whatever approvals.on_expiry
    says. A regression action later in the plan still runs after the promotion as before (the run the
    resolution gate then reads); a patch sent mid-incident (`firebreak patch`) is tested once, before its
    gate, since the version it tests is the very version the promotion moves the label to, and that run is
    the one the resolution gate reads.
    """
    seq = text.seq if text else 0
    key = core.key(step.value, name) if seq == 0 else core.key(step.value, name, f"patch-{seq}")
    request = PatchRequest(key=key, incident_number=core.number(), name=name, action=action,
                           variables=core.variables(name), text=text.text if text else None)
    timeouts: dict[str, Any] = {"start_to_close_timeout": timedelta(seconds=action.timeout_seconds * 4 + 5),
                                **LANGFUSE_CALLS}
    which = f" (text #{seq} from {text.by})" if text else ""
    try:
        candidate = await workflow.execute_activity("prepare_prompt_patch", request, result_type=PatchResult,
                                                    summary=f"{step.value.capitalize()}: candidate for {name}"
                                                            f"{which}", **timeouts)
    except ActivityError as err:
        await mitigations.failed(core, step, name, cause(err), seq)
        return
    candidate.seq = seq
    core.state.candidates.append(candidate)
    core.system(step, f"{name}: {candidate.detail}{which}", {"prompt": candidate.prompt_name,
                                                             "version": candidate.version})
    tests = await _test_candidate(core, step, candidate, action) if _tests_candidates(core, text) else []
    failing = [r for r in tests if not r.passed]
    subject = (f"promote {name}: candidate version {candidate.version} of {candidate.prompt_name} to "
               f"{action.label}")
    why = f"playbook policy for {core.state.severity.value}: {mode}"
    if tests:
        subject += " (regression suite FAILED)" if failing else " (regression suite passed)"
        why = "\n".join([why, *(r.summary() for r in tests)])
    if failing:
        why += ("\nThe candidate FAILS its regression suite: approving promotes it to "
                f"{action.label} anyway (an expired request does not). Reject it and send a fixed text with "
                f"`firebreak patch {core.number()} --file FILE`.")
    if mode.needs_approval or failing:
        status = await gates.gate(core, step, subject, why, mode.role or Role.AI_OPS)
        proceed_anyway = (status == ApprovalStatus.EXPIRED and core.playbook().approvals.on_expiry == "proceed"
                          and not failing)
        if status != ApprovalStatus.APPROVED and not proceed_anyway:
            mitigations.record(core, step, name, status.value, f"candidate version {candidate.version} left "
                               f"unpromoted ({action.candidate_label})")
            return
    frozen = await freeze.before_change(core, step, name, action, *([f"patch-{seq}"] if seq else []))
    if not frozen.go:
        return
    request = request.model_copy(update={"version": candidate.version})
    try:
        promoted = await workflow.execute_activity("promote_prompt_patch", request, result_type=PatchResult,
                                                   summary=f"{step.value.capitalize()}: promote {name}",
                                                   **timeouts)
    except ActivityError as err:
        await mitigations.failed(core, step, name, cause(err), seq, frozen.snapshot)
        return
    mitigations.record(core, step, name, "done", promoted.detail, frozen.snapshot)
    if mode.kind == "auto_with_notice":
        await core.notify(f"notice-{step.value}-{name}" + (f"-{seq}" if seq else ""),
                          [core.primary(Role.INCIDENT_COMMANDER)],
                          f"{core.number()}: {name} ran automatically", promoted.detail)
    undo = None
    if promoted.moved and promoted.previous_version is not None:
        undo = UndoPlan(kind="langfuse_label", connection=connection_of(action), prompt_name=promoted.prompt_name,
                        label=action.label, restore_version=promoted.previous_version,
                        expect_version=promoted.version,
                        description=f"move {action.label} of {promoted.prompt_name} back to version "
                                    f"{promoted.previous_version}")
    mitigations.register(core, step, name, promoted.detail, undo)


def _plan(core: IncidentCore) -> list[str]:
    """The service plan's actions, in order, each once."""
    pb = core.playbook()
    return list(dict.fromkeys(n for s in (Step.STABILISE, Step.CONTAIN, Step.REMEDIATE)
                              for n in pb.actions_for(core.state.service, s)))


def _suites(core: IncidentCore) -> list[tuple[str, PromptfooRegressionAction]]:
    """The service plan's promptfoo regression actions, in plan order."""
    pb = core.playbook()
    return [(n, a) for n in _plan(core) if isinstance(a := pb.actions.get(n), PromptfooRegressionAction)]


def _tests_candidates(core: IncidentCore, text: PatchText | None) -> bool:
    """Test the candidate before its gate? Only when the plan has a suite; patched for older histories (a
    mid-incident text always is: no history before it has one)."""
    return bool(_suites(core)) and (text is not None or markers.patched(markers.CANDIDATE_TEST))


async def _test_candidate(core: IncidentCore, step: Step, candidate: PatchResult,
                          action: LangfusePromptPatchAction) -> list[RegressionRun]:
    """Each of the plan's suites against the unpromoted candidate. Reading only (the suite calls the
    candidate's endpoint), so it runs without the suite's own approval policy."""
    target: dict[str, str | int] = {"prompt_name": candidate.prompt_name, "version": candidate.version,
                                    "label": action.candidate_label}
    return [await run_regression(core, step, suite, suite_action, candidate=target)
            for suite, suite_action in _suites(core)]


# ------------------------------------------------------------------ the regression gate

async def run_regression(core: IncidentCore, step: Step, name: str, action: PromptfooRegressionAction,
                         candidate: dict[str, str | int] | None = None) -> RegressionRun:
    """One run of the suite. `candidate`: a test of an unpromoted candidate before its promotion gate (the
    gate shows the result, so nobody is paged about it); otherwise against the latest candidate, if any."""
    s = core.state
    seq = len(s.regressions) + 1
    latest = s.candidates[-1] if s.candidates else None
    target = candidate or ({"prompt_name": latest.prompt_name, "version": latest.version} if latest else None)
    request = RegressionRequest(
        key=core.key("regression", str(seq)), incident_number=core.number(), seq=seq, name=name,
        kind=s.detection.kind.value, action=action, candidate=target, before_promotion=candidate is not None)
    against = (f"version {candidate['version']} of {candidate['prompt_name']} ({candidate['label']})"
               if candidate else None)
    try:
        run = await workflow.execute_activity(
            "run_regression_suite", request, result_type=RegressionRun,
            summary=f"{step.value.capitalize()}: regression suite #{seq} ({name})"
                    + (f" on candidate version {candidate['version']}" if candidate else ""),
            start_to_close_timeout=timedelta(seconds=action.timeout_seconds + 60),
            heartbeat_timeout=timedelta(seconds=action.timeout_seconds + 30),
            retry_policy=RetryPolicy(maximum_attempts=3))
    except ActivityError as err:
        run = RegressionRun(seq=seq, action=name, at=workflow.now(), passed=False, error=cause(err))
    run.candidate = against
    s.regressions.append(run)
    if candidate is not None:
        core.system(step, f"{name}: candidate test {'passed' if run.passed else 'failed'}",
                    {"detail": run.summary()})
        return run
    mitigations.record(core, step, name, "done" if run.passed else "failed", run.summary())
    if not run.passed:
        await core.notify(f"regression-{seq}", [core.primary(Role.INCIDENT_COMMANDER)],
                          f"{core.number()}: regression suite fails",
                          f"{run.summary()}\nResolution is held until it passes (firebreak retest "
                          f"{core.number()}) or you resolve with --override-regressions REASON.")
    return run


# ------------------------------------------------------------------ while monitoring

async def monitor(core: IncidentCore) -> None:
    """Wait for resolution, turning patch texts sent meanwhile (`firebreak patch`) into tested, gated
    candidates, and running the regression suites again whenever someone asks (`firebreak retest`). Both
    requests wait in the state, so one accepted just before a continue-as-new runs in the next run."""
    s = core.state
    while True:
        await workflow.wait_condition(lambda: core.resolved() or core.may_continue_as_new()
                                      or s.pending_retests > 0 or bool(s.pending_patches))
        if core.resolved() or (s.pending_retests == 0 and not s.pending_patches):
            return
        while s.pending_patches and not core.resolved() and markers.patched(markers.PATCH_TEXT):
            await _run_patch_text(core, s.pending_patches.pop(0))
        if s.pending_retests > 0 and not core.resolved():
            s.pending_retests = 0
            if markers.patched(markers.REMEDY):
                await _rerun_regressions(core)


async def _run_patch_text(core: IncidentCore, text: PatchText) -> None:
    pb = core.playbook()
    action = pb.actions[text.action]
    assert isinstance(action, LangfusePromptPatchAction)
    if not await serious.hold(core, Step.REMEDIATE, text.action, action):  # a serious incident: legal first
        mitigations.record(core, Step.REMEDIATE, text.action, "held", "a serious incident: legal did not release it")
        core.publish()
        return
    await run_prompt_patch(core, Step.REMEDIATE, text.action, action,
                           pb.approvals.mode_for(text.action, core.state.severity), text)
    core.publish()


async def _rerun_regressions(core: IncidentCore) -> None:
    pb = core.playbook()
    names = list(dict.fromkeys(r.action for r in core.state.regressions))
    for name in names:
        action = pb.actions.get(name)
        if isinstance(action, PromptfooRegressionAction):
            await run_regression(core, Step.REMEDIATE, name, action)
    core.publish()


async def request_retest(core: IncidentCore, action: HumanAction) -> None:
    """The `retest` signal: run the incident's regression suites again (after the candidate was fixed)."""
    what = "run the regression suite again"
    if not await core.admit(action, what, RETEST_ROLES):
        return
    if core.resolved():
        core.refuse(action, what, "the incident is already resolved")
        return
    if not core.state.regressions:
        core.refuse(action, what, "no regression suite has run in this incident yet (it runs in the "
                    "remediate step)")
        return
    core.state.pending_retests += 1
    core.accept(action, core.state.step, "regression suite re-run requested")


async def request_patch(core: IncidentCore, text: PatchText) -> None:
    """The `patch` signal: a new patch text (IC or AI Ops), a new candidate tested and gated like the first."""
    s, what = core.state, "send a new patch text"
    if not await core.admit(text, what, RETEST_ROLES):
        return
    if core.resolved():
        core.refuse(text, what, "the incident is already resolved")
        return
    if not text.text.strip():
        core.refuse(text, what, "the patch text is empty", "invalid")
        return
    name = text.action
    if name:
        if not isinstance(core.playbook().actions.get(name), LangfusePromptPatchAction):
            core.refuse(text, what, f"'{name}' is not a langfuse_prompt_patch action in the playbook", "invalid")
            return
    else:
        pb = core.playbook()
        plan = [n for n in _plan(core) if isinstance(pb.actions.get(n), LangfusePromptPatchAction)]
        if len(plan) != 1:
            core.refuse(text, what, f"the plan for {s.service} has "
                        + (f"{len(plan)} prompt patch actions ({', '.join(plan)}): name one with --action"
                           if plan else "no langfuse_prompt_patch action: name one with --action"))
            return
        name = plan[0]
    s.patches_received += 1
    seq = s.patches_received
    s.pending_patches.append(text.model_copy(update={"seq": seq, "action": name}))
    later = "" if s.status == IncidentStatus.MONITORING else " once the response steps are done"
    core.accept(text, s.step, f"patch text #{seq} for {name} accepted: a new candidate version, "
                f"tested and gated for promotion{later}", {"characters": len(text.text)})
