"""Evidence frozen before anything changes: before an action that alters the AI system runs, the incident snapshots
what it will change into the evidence pack (activities/freeze.py) and the action's record names the snapshot.

`freeze = "required"` on the action: a failed snapshot holds it for the incident commander, whose override must
carry a reason (gates.decide refuses one without); rejected, expired or cancelled, the action does not run,
whatever approvals.on_expiry says. "best_effort" (the default) runs it and records the failure; "off" skips it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.incident import gates, mitigations
from workflows.incident.core import IncidentCore

with workflow.unsafe.imports_passed_through():
    import workflows.incident.markers as markers
    from playbook.config import Action, alters_ai_system
    from playbook.freeze import FREEZE_OVERRIDE, FreezeRequest, FreezeResult
    from playbook.models import ApprovalStatus, Role, Step
    from workflows.incident.calls import cause

FREEZE_RETRIES = RetryPolicy(maximum_attempts=3, maximum_interval=timedelta(seconds=10))


@dataclass(frozen=True)
class Frozen:
    go: bool                 # False: held (a required snapshot failed and nobody overrode it)
    snapshot: str | None     # how the action's record names its snapshot


async def before_change(core: IncidentCore, step: Step, name: str, action: Action, *parts: str) -> Frozen:
    """Freeze what `action` will change, if it alters the AI system (patched for older histories)."""
    if not alters_ai_system(action) or not markers.patched(markers.FREEZE):
        return Frozen(True, None)
    policy = getattr(action, "freeze", "best_effort")
    if policy == "off":
        core.system(step, f"{name}: evidence not frozen (freeze = \"off\" for this action)")
        return Frozen(True, None)
    request = FreezeRequest(key=core.key("freeze", step.value, name, *parts), incident_number=core.number(),
                            step=step, name=name, action=action, variables=core.variables(name),
                            detection=core.state.detection)
    timeout = float(getattr(action, "timeout_seconds", 10)) * 4 + 10
    try:
        result = await workflow.execute_activity(
            "freeze_evidence", request, result_type=FreezeResult,
            summary=f"{step.value.capitalize()}: freeze evidence before {name}",
            start_to_close_timeout=timedelta(seconds=timeout), retry_policy=FREEZE_RETRIES)
    except ActivityError as err:
        return await _failed(core, step, name, policy, cause(err), parts)
    core.system(step, f"{name}: evidence frozen before the change", {"snapshot": result.path,
                                                                     "sha256": result.sha256,
                                                                     "summary": result.summary})
    return Frozen(True, result.ref())


async def _failed(core: IncidentCore, step: Step, name: str, policy: str, error: str,
                  parts: tuple[str, ...]) -> Frozen:
    core.system(step, f"{name}: evidence could not be frozen", {"error": error, "freeze": policy})
    if policy != "required":
        return Frozen(True, None)
    rid = FREEZE_OVERRIDE + "-".join([step.value, name, *parts])
    status = await gates.gate(
        core, step, f"run {name} WITHOUT frozen evidence: {error}",
        "freeze = \"required\" for this action: what it changes could not be recorded first. Approve with "
        "--comment \"reason\" to run it anyway, or reject to hold it", Role.INCIDENT_COMMANDER, request_id=rid)
    req = core.state.approval(rid)
    if status == ApprovalStatus.APPROVED and req is not None:
        core.by_person(step, req.decided_by or "", Role.INCIDENT_COMMANDER,
                       f"{name}: run without frozen evidence (override)", {"reason": req.comment, "error": error})
        return Frozen(True, None)
    mitigations.record(core, step, name, "held", f"evidence could not be frozen ({error}); the incident "
                       f"commander did not override ({status.value}), so it did not run")
    return Frozen(False, None)
