"""Approval gates and who may decide them: a request to a role, escalated once to the paged person's backup,
then expired; approvals and rejections checked against the request's role, its escalation and the brief rules
(an edited text only with a brief's SME approval; an external brief released by a second person)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.incident.core import IncidentCore

with workflow.unsafe.imports_passed_through():
    import workflows.briefing as briefing
    from playbook.freeze import override_problem
    from playbook.models import ApprovalRequest, ApprovalStatus, Decision, Role, Step


async def gate(core: IncidentCore, step: Step, subject: str, why: str, role: Role, timeout: timedelta | None = None,
               request_id: str | None = None, until_resolved: bool = True) -> ApprovalStatus:
    """Ask `role` to decide; on timeout escalate to the backup once; then expire. The resolution cancels it
    unless `until_resolved` is False (the closing brief's gates, asked after the resolution)."""
    pb = core.playbook()
    timeout = timeout or timedelta(minutes=pb.approvals.timeout_minutes)
    rid = request_id or f"{step.value}-{len(core.state.approvals) + 1}"
    req = ApprovalRequest(request_id=rid, step=step, subject=subject, why=why, role=role,
                          requested_at=workflow.now(), deadline=workflow.now() + timeout,
                          severity=core.state.severity)
    core.state.approvals.append(req)
    core.system(step, f"approval requested: {subject}", {"request_id": rid, "role": role.value,
                                                          "deadline": req.deadline.isoformat()})
    core.publish()
    primary = core.primary(role)
    await core.notify(f"approval-{rid}", [primary], f"{core.number()}: approval needed ({rid})",
                      f"{subject}\nWhy: {why}\nDecide by {req.deadline:%H:%M} UTC: "
                      f"firebreak approve {core.number()} {rid}")

    def cancelled() -> bool:
        return until_resolved and core.resolved()

    def decided() -> bool:
        return req.status != ApprovalStatus.PENDING or cancelled()

    if not await core.wait(decided, timeout, f"approval {rid} deadline"):
        backup = core.escalation_chain(primary)[1:2]
        if backup:
            req.escalated_to.extend(backup)
            req.deadline = workflow.now() + timeout
            core.system(step, f"approval {rid} timed out; escalated to {backup[0]}")
            core.publish()
            await core.notify(f"approval-{rid}-escalated", backup, f"ESCALATION: {core.number()} {rid}",
                              f"{primary} did not decide in time. {subject}\nWhy: {why}")
            await core.wait(decided, timeout, f"approval {rid} escalated deadline")
    if req.status == ApprovalStatus.PENDING:
        req.status = ApprovalStatus.CANCELLED if cancelled() else ApprovalStatus.EXPIRED
        req.decided_at = workflow.now()
        core.system(step, f"approval {rid} {req.status.value}"
                    + ("" if cancelled() else f"; policy on expiry: {pb.approvals.on_expiry}"))
    core.publish()
    return req.status


async def decide(core: IncidentCore, decision: Decision, status: ApprovalStatus) -> None:
    """The `approve` and `reject` signals."""
    verb = "approve" if status == ApprovalStatus.APPROVED else "reject"
    req = core.state.approval(decision.request_id)
    escalated = req.escalated_to if req else []
    if not await core.admit(decision, f"{verb} {decision.request_id}", set(), allow_escalated=escalated):
        return
    if req is None:
        known = ", ".join(a.request_id for a in core.state.pending_approvals()) or "none pending"
        core.refuse(decision, verb, f"no approval request '{decision.request_id}' (pending: {known})")
        return
    if req.status != ApprovalStatus.PENDING:
        core.refuse(decision, verb, f"request {req.request_id} is already {req.status.value}"
                    + (f" by {req.decided_by}" if req.decided_by else ""))
        return
    if decision.role != req.role and decision.by not in req.escalated_to:
        core.refuse(decision, verb, f"request {req.request_id} needs the role {req.role.value}; "
                    f"{decision.by} acted as {decision.role.value}")
        return
    if briefing.is_release(req.request_id) and status == ApprovalStatus.APPROVED:
        sme = core.state.approval(req.request_id.removesuffix(briefing.RELEASE))
        if sme is not None and sme.decided_by == decision.by:
            core.refuse(decision, verb, f"{decision.by} approved this brief as domain SME; its release needs "
                        f"a second person in the communications role")
            return
    no_reason = override_problem(req.request_id, status == ApprovalStatus.APPROVED, decision.comment or "")
    if no_reason:
        core.refuse(decision, verb, no_reason)
        return
    if decision.text is not None:
        problem = edit_problem(req, status, decision.text)
        if problem:
            core.refuse(decision, verb, problem)
            return
        req.text = decision.text
    req.status, req.decided_by, req.decided_at = status, decision.by, workflow.now()
    req.comment = decision.comment
    core.accept(decision, req.step, f"{req.request_id} {status.value}", {"subject": req.subject,
                                                                         "comment": decision.comment}
                | ({"edited": True} if decision.text is not None else {}))


def edit_problem(req: ApprovalRequest, status: ApprovalStatus, text: str) -> str | None:
    """Why an approval may not carry this edited text, or None when it may."""
    if status != ApprovalStatus.APPROVED:
        return "edited text goes with an approval, not a rejection"
    if req.step != Step.COMMUNICATE or not briefing.is_brief_approval(req.request_id):
        return (f"request {req.request_id} takes no text: only a brief's approval by the domain SME "
                f"may carry an edited brief")
    if not text.strip():
        return "the edited brief is empty"
    return None
