"""One brief to one audience: drafted, approved by the domain SME (maybe with an edit), released by the
communications role when the audience is external, and sent to each of its channels; approval requests also
posted with buttons to the Slack approval channels."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.incident import gates
from workflows.incident.core import IncidentCore

with workflow.unsafe.imports_passed_through():
    import workflows.briefing as briefing
    from playbook.config import Audience, SlackChannel
    from playbook.messages import ApprovalPost, BriefInput, SendBrief, SendResult
    from playbook.models import ApprovalStatus, Brief, Role, Step
    from workflows.incident.calls import ARCHIVE_TIMEOUT, EXTERNAL, QUICK, cause, http_call

ARCHIVE_CHANNEL = "archive"


async def brief_audience(core: IncidentCore, seq: int, name: str, audience: Audience, next_due: datetime | None,
                         closing: bool = False) -> bool:
    """Draft, SME approval (maybe with edits), communications release when external, send. True when sent.
    A closing brief's gates are not settled by the resolution (they are asked after it)."""
    pb = core.playbook()
    label, rid = briefing.label(seq, name, closing), briefing.request_id(seq, name, closing)
    try:
        brief = await workflow.execute_activity(
            "draft_brief", BriefInput(state=core.state.for_activity(), seq=seq, next_update_due=next_due,
                                      audience=name, shape=audience.shape),
            result_type=Brief, summary=f"Communicate: draft {label}", **QUICK)
    except ActivityError as err:  # the other audiences' briefs go on
        core.system(Step.COMMUNICATE, f"{label} not drafted", {"error": cause(err)})
        return False
    core.system(Step.COMMUNICATE, f"{label} drafted", {"title": brief.title, "audience": name,
                                                        "shape": audience.shape})
    why = "stakeholder messages need the domain SME's approval (approve with --text-file to send an edit)"
    status = await _gate_posted(core, brief, f"{label}: {brief.title}", why, Role.DOMAIN_SME,
                                timedelta(minutes=pb.communicate.approval_timeout_minutes), rid,
                                until_resolved=not closing)
    if status != ApprovalStatus.APPROVED:
        core.system(Step.COMMUNICATE, f"{label} not sent: {status.value}")
        return False
    request = core.state.approval(rid)
    assert request is not None
    approver = request.decided_by or ""
    if request.text is not None and request.text.strip() != brief.text.strip():
        core.by_person(Step.COMMUNICATE, approver, Role.DOMAIN_SME, f"{label} edited by {approver}",
                       briefing.diff_stat(brief.text, request.text))
        brief = brief.model_copy(update={"draft_text": brief.text, "text": request.text,
                                         "edited_by": approver})
    request.text = None  # the brief carries it from here and the comms archive keeps it; the state stays small
    released_by = None
    if audience.external:
        release = rid + briefing.RELEASE
        why = "external messages need the communications role's release after the domain SME's approval"
        subject = f"release {label} to {', '.join(audience.channels) or 'the archive'}: {brief.title}"
        status = await _gate_posted(core, brief, subject, why, Role.COMMUNICATIONS,
                                    timedelta(minutes=pb.communicate.release_timeout_minutes), release,
                                    until_resolved=not closing)
        if status != ApprovalStatus.APPROVED:
            core.system(Step.COMMUNICATE, f"{label} not sent: release {status.value}")
            return False
        released_by = core.state.approval(release).decided_by  # type: ignore[union-attr]
    delivered, failed = await deliver(core, seq, name, audience.channels, brief, approver, released_by, closing)
    core.system(Step.COMMUNICATE, f"{label} sent to {', '.join(delivered) or 'no channel'}",
                {"failed": failed} if failed else None)
    for channel, error in failed.items():
        core.system(Step.COMMUNICATE, f"{label} to {channel} failed after retries", {"error": error})
    return bool(set(delivered) - {ARCHIVE_CHANNEL}) or delivered == [ARCHIVE_CHANNEL, *audience.channels]


async def deliver(core: IncidentCore, seq: int, name: str, channels: list[str], brief: Brief, approver: str,
                  released_by: str | None = None, closing: bool = False) -> tuple[list[str], dict[str, str]]:
    """The archive and each channel, one activity each, retried on its own: the channels delivered to, and
    the error of each that failed. What a channel returns to update later (a Statuspage incident) is kept."""
    pb, label = core.playbook(), briefing.label(seq, name, closing)
    targets = [ARCHIVE_CHANNEL, *channels]

    def send(channel: str) -> Any:
        cfg = pb.channels.get(channel)
        return workflow.execute_activity(
            "send_brief", SendBrief(key=core.key(*briefing.key_parts(seq, name, closing), channel),
                                    channel=channel, channel_config=cfg, brief=brief, approved_by=approver,
                                    released_by=released_by, external_id=core.state.channel_refs.get(channel)),
            result_type=SendResult, summary=f"Communicate: {label} to {channel}",
            **(http_call(cfg.timeout_seconds) if cfg is not None
               else {**EXTERNAL, "start_to_close_timeout": ARCHIVE_TIMEOUT}))

    results = await asyncio.gather(*(send(c) for c in targets), return_exceptions=True)
    delivered = [c for c, r in zip(targets, results, strict=True) if isinstance(r, SendResult)]
    failed = {c: cause(r) for c, r in zip(targets, results, strict=True) if isinstance(r, BaseException)}
    for result in results:
        if isinstance(result, SendResult) and result.external_id:
            core.state.channel_refs[result.channel] = result.external_id
    return delivered, failed


async def _gate_posted(core: IncidentCore, brief: Brief, subject: str, why: str, role: Role, timeout: timedelta,
                       request_id: str, until_resolved: bool = True) -> ApprovalStatus:
    """The approval gate, with the request also posted to the Slack approval channels once it exists."""
    gate = asyncio.create_task(gates.gate(core, Step.COMMUNICATE, subject, why, role, timeout,
                                          request_id=request_id, until_resolved=until_resolved,
                                          posted_by_caller=True))
    await _post_approval(core, request_id, brief, subject, why)
    return await gate


async def _post_approval(core: IncidentCore, request_id: str, brief: Brief, subject: str, why: str) -> None:
    """The approval request, with the draft and buttons, in each Slack approval channel (failures noted)."""
    pb = core.playbook()
    await asyncio.sleep(0)  # let the gate record the request first, so a button pressed at once finds it
    for channel in pb.communicate.approval_channels:
        cfg = pb.channels.get(channel)
        if not isinstance(cfg, SlackChannel):
            continue
        post = ApprovalPost(key=core.key("approval", request_id, channel), incident_number=core.number(),
                            request_id=request_id, channel=channel, channel_config=cfg, subject=subject,
                            why=why, text=brief.text)
        try:
            await workflow.execute_activity("post_approval_request", post, result_type=str,
                                            summary=f"Communicate: ask for {request_id} in {channel}",
                                            **http_call(cfg.timeout_seconds))
        except ActivityError as err:
            core.system(Step.COMMUNICATE, f"could not post {request_id} to {channel}", {"error": cause(err)})
