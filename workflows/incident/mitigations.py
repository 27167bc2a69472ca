"""The mitigations of an incident: each action's outcome on record, the undo registry of what is in place, and at
resolution the incident commander's keep/undo choice for each, with the undos carried out last applied first."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.incident.core import IncidentCore

with workflow.unsafe.imports_passed_through():
    import workflows.incident.markers as markers
    from playbook.config import ManualAction, render_for_people
    from playbook.models import MitigationRecord, Resolution, Role, Step
    from playbook.remedy import AppliedMitigation, UndoPlan, UndoRequest, apply_choices, choose, regression_blocker
    from workflows.incident.calls import LANGFUSE_CALLS, cause


def record(core: IncidentCore, step: Step, action: str, outcome: str, detail: str,
           snapshot: str | None = None) -> None:
    """An action's outcome (done, failed, skipped, rejected ...), in the state and on the timeline; `snapshot`
    names the evidence frozen before it (workflows/incident/freeze.py)."""
    core.state.mitigations.append(MitigationRecord(step=step, action=action, outcome=outcome, detail=detail,
                                                   at=workflow.now(), snapshot=snapshot))
    core.system(step, f"{action}: {outcome}", {"detail": detail} | ({"snapshot": snapshot} if snapshot else {}))


async def failed(core: IncidentCore, step: Step, name: str, error: str, seq: int = 0,
                 snapshot: str | None = None) -> None:
    record(core, step, name, "failed", error, snapshot)
    await core.notify(f"failed-{step.value}-{name}" + (f"-{seq}" if seq else ""),
                      [core.primary(Role.INCIDENT_COMMANDER)], f"{core.number()}: {name} failed", error)


# ------------------------------------------------------------------ the undo registry

def register(core: IncidentCore, step: Step, name: str, detail: str, undo: UndoPlan | None,
             by: str | None = None) -> None:
    """A mitigation now in place, with how to undo it (None: nothing known to undo it with). One that lands
    after the resolution (its activity was in flight) had no choice offered: kept by default."""
    applied = AppliedMitigation(name=name, step=step, applied_at=workflow.now(), detail=detail, undo=undo,
                                applied_by=by)
    if core.resolved():
        applied.choice, applied.defaulted = "keep", True
        applied.outcome, applied.outcome_at = "kept", workflow.now()
        core.system(step, f"{name}: kept in place (applied after the resolution)")
    core.state.in_place.append(applied)


def confirmed_by(core: IncidentCore, step: Step, name: str) -> str | None:
    """Who approved (confirmed) the manual action `name` in `step`; a brief's gate may have come in between."""
    req = next((a for a in reversed(core.state.approvals)
                if a.step == step and a.subject.startswith(f"{name}:")), None)
    return req.decided_by if req else None


def manual_undo(core: IncidentCore, name: str, action: ManualAction) -> UndoPlan | None:
    if not action.undo_instructions:
        return None
    text = render_for_people(action.undo_instructions, core.variables(name))
    return UndoPlan(kind="manual", instructions=text, description=f"by hand: {text}")


# ------------------------------------------------------------------ resolution

def resolution_refusal(core: IncidentCore, resolution: Resolution) -> str | None:
    """Why this resolution cannot be taken (bad keep/undo choices, a failing suite without override)."""
    s = core.state
    problem = choose(s.in_place, resolution.keep, resolution.undo)
    if problem:
        return problem
    blocker = regression_blocker(s.regressions)
    if blocker and not resolution.override_regressions.strip():
        return (f"{blocker}. Fix the candidate and run `firebreak retest {core.number()}`, or resolve "
                "with --override-regressions REASON")
    return None


def take_choices(core: IncidentCore, resolution: Resolution) -> None:
    """Record the keep/undo choice for every mitigation in place; keeps take effect now, undos after."""
    s = core.state
    step, now = s.step, workflow.now()
    by, role = resolution.by, resolution.role
    blocker = regression_blocker(s.regressions)
    if blocker:
        s.regression_override = resolution.override_regressions.strip()
        core.by_person(step, by, role, "regression gate overridden",
                       {"reason": s.regression_override, "failing": blocker})
    apply_choices(s.in_place, resolution.keep, resolution.undo, by)
    for m in s.in_place:
        if m.choice == "keep" and m.outcome == "in_place":
            m.outcome, m.outcome_at = "kept", now
            core.by_person(step, by, role, f"{m.name}: kept in place",
                           {"default": m.defaulted, "undo": m.undo.description if m.undo else None})
        elif m.choice == "undo" and m.outcome == "in_place":
            core.by_person(step, by, role, f"{m.name}: undo chosen",
                           {"undo": m.undo.description if m.undo else None})


async def carry_out_undos(core: IncidentCore) -> None:
    """Undo what the incident commander chose to undo, last applied first."""
    s = core.state
    todo = [m for m in s.in_place if m.choice == "undo" and m.outcome == "in_place"]
    if not todo or not markers.patched(markers.REMEDY):
        return
    step = s.step
    for m in reversed(todo):
        assert m.undo is not None
        if m.undo.kind == "manual":
            who = m.applied_by or core.primary(Role.AI_OPS)
            await core.notify(f"undo-{m.step.value}-{m.name}", [who], f"{core.number()}: undo {m.name}",
                              f"The incident commander chose to undo {m.name}: {m.undo.instructions}")
            m.outcome, m.outcome_detail = "handed_over", f"asked {who} to: {m.undo.instructions}"
        else:
            try:
                m.outcome_detail = await workflow.execute_activity(
                    "undo_mitigation", UndoRequest(key=core.key("undo", m.step.value, m.name),
                                                   incident_number=core.number(), name=m.name, plan=m.undo),
                    result_type=str, summary=f"Resolve: undo {m.name}",
                    start_to_close_timeout=timedelta(seconds=undo_timeout(m.undo)), **LANGFUSE_CALLS)
                m.outcome = "undone"
            except ActivityError as err:
                m.outcome, m.outcome_detail = "undo_failed", cause(err)
                await core.notify(f"undo-failed-{m.step.value}-{m.name}",
                                  [core.primary(Role.INCIDENT_COMMANDER)],
                                  f"{core.number()}: undo of {m.name} failed", m.outcome_detail)
        m.outcome_at = workflow.now()
        core.system(step, f"{m.name}: {m.outcome.replace('_', ' ')}", {"detail": m.outcome_detail})
    core.publish()


def undo_timeout(plan: UndoPlan) -> float:
    if plan.request is not None:
        return plan.request.timeout_seconds + 5
    return (plan.connection.timeout_seconds if plan.connection else 10) * 3 + 5
