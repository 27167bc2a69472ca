"""Step 6, communicate: draft briefs, send approved ones to channels, page people. All archived."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ActivityContext
from integrations.channels import ChannelError, archive, post_webhook
from playbook.briefs import draft_brief
from playbook.messages import BriefInput, Notification, SendBrief, SendResult
from playbook.models import Brief

ARCHIVE = "archive"


class CommunicateActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="draft_brief")
    def draft_brief(self, request: BriefInput) -> Brief:
        brief = draft_brief(request.state, request.seq, datetime.now(UTC), request.next_update_due)
        path, created = self.ctx.store.write_once(f"{brief.incident_number}/briefs/{brief.seq:04d}-draft.md",
                                                  brief.text)
        if not created:  # a retried draft keeps the text the approver saw
            brief = brief.model_copy(update={"text": path.read_text(encoding="utf-8")})
        return brief

    @activity.defn(name="send_brief")
    def send_brief(self, request: SendBrief) -> SendResult:
        brief = request.brief
        if request.channel == ARCHIVE:
            rel = f"{brief.incident_number}/comms/{brief.seq:04d}-brief.md"
            self.ctx.store.write_once(rel, brief.text + f"\n\n_Approved by {request.approved_by}._\n")
        elif request.channel_config is not None:
            try:
                post_webhook(request.channel_config, {"type": "incident_brief", "approved_by": request.approved_by,
                                                      **brief.model_dump(mode="json")}, request.key)
            except ChannelError as err:
                raise ApplicationError(str(err), type="ChannelError") from err
        else:
            raise ApplicationError(f"channel '{request.channel}' has no configuration", non_retryable=True)
        archive(self.ctx.store, brief.incident_number, f"{request.key}", "brief",
                {"channel": request.channel, "seq": brief.seq, "title": brief.title,
                 "approved_by": request.approved_by})
        return SendResult(channel=request.channel, delivered=True, detail="sent",
                          archive_path=str(self.ctx.store.path(f"{brief.incident_number}/comms/archive.jsonl")))

    @activity.defn(name="notify")
    def notify(self, request: Notification) -> int:
        """Page people: always into the incident's notifications log, and to each paging webhook."""
        self.ctx.store.append_once(f"{request.incident_number}/notifications.jsonl", request.key, {
            "at": datetime.now(UTC).isoformat(), "to": request.to,
            "contacts": {p: request.contacts.get(p, "") for p in request.to},
            "subject": request.subject, "text": request.text})
        failures = []
        for name, channel in sorted(request.channels.items()):
            try:
                post_webhook(channel, {"type": "incident_notification", "incident": request.incident_number,
                                       "to": request.to, "subject": request.subject, "text": request.text},
                             f"{request.key}/{name}")
            except ChannelError as err:
                failures.append(f"{name}: {err}")
        if failures:
            raise ApplicationError("; ".join(failures), type="ChannelError")
        return len(request.to)
