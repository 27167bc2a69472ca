"""Approval requests in Slack for every gate (actions, promotions, briefs): posted with Approve / Reject buttons to
the playbook's `[communicate] approval_channels`, and replaced by who decided (or that it expired) once decided,
from whichever source: a button, the CLI, the HTTP API. Behind markers.APPROVALS_IN_SLACK."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.incident.core import IncidentCore

with workflow.unsafe.imports_passed_through():
    from playbook.config import SlackChannel
    from playbook.messages import ApprovalDecided, ApprovalPost
    from playbook.models import ApprovalRequest, ApprovalStatus
    from workflows.incident import markers
    from workflows.incident.calls import cause, http_call


def _channels(core: IncidentCore) -> list[tuple[str, SlackChannel]]:
    pb = core.playbook()
    found = [(name, pb.channels.get(name)) for name in pb.communicate.approval_channels]
    return [(name, cfg) for name, cfg in found if isinstance(cfg, SlackChannel)]


def enabled(core: IncidentCore) -> bool:
    """Slack approval channels are configured and this run has the change (old histories replay without it)."""
    return bool(_channels(core)) and markers.patched(markers.APPROVALS_IN_SLACK)


async def post(core: IncidentCore, req: ApprovalRequest, text: str, editable: bool) -> None:
    """The request with its buttons in each approval channel; a failure is noted on the timeline."""
    for name, cfg in _channels(core):
        message = ApprovalPost(key=core.key("approval", req.request_id, name), incident_number=core.number(),
                               request_id=req.request_id, channel=name, channel_config=cfg, subject=req.subject,
                               why=req.why, text=text, editable=editable)
        try:
            await workflow.execute_activity("post_approval_request", message, result_type=str,
                                            summary=f"{req.step.value.capitalize()}: ask for {req.request_id} in "
                                                    f"{name}", **http_call(cfg.timeout_seconds))
        except ActivityError as err:
            core.system(req.step, f"could not post {req.request_id} to {name}", {"error": cause(err)})


def decided_line(req: ApprovalRequest) -> str:
    when = f"{req.decided_at:%Y-%m-%d %H:%M} UTC" if req.decided_at else ""
    if req.status in (ApprovalStatus.APPROVED, ApprovalStatus.REJECTED):
        return f"{req.status.value.capitalize()} by {req.decided_by} at {when}"
    return f"{req.status.value.capitalize()} at {when}: no decision"


async def replace(core: IncidentCore, req: ApprovalRequest) -> None:
    """Each posted message of the request, without its buttons, saying who decided and when (chat.update)."""
    for name, cfg in _channels(core):
        key = core.key("approval", req.request_id, name)
        message = ApprovalDecided(key=f"{key}/decided", incident_number=core.number(), request_id=req.request_id,
                                  channel=name, channel_config=cfg, subject=req.subject, why=req.why,
                                  text=req.text or "", line=decided_line(req))
        try:
            await workflow.execute_activity("replace_decided_approval", message, result_type=bool,
                                            summary=f"{req.step.value.capitalize()}: {req.request_id} decided, "
                                                    f"in {name}", **http_call(cfg.timeout_seconds))
        except ActivityError as err:
            core.system(req.step, f"could not replace {req.request_id}'s message in {name}", {"error": cause(err)})
