"""Step 6, communicate: draft briefs, send approved ones to channels, page people. All archived.

One send_brief activity per brief and channel, so a channel that is down is retried on its own and never holds
up the others. Each send is idempotent: webhooks carry an Idempotency-Key; Slack, e-mail and Statuspage are
checked against the comms archive first (e-mail also carries a Message-ID derived from the key, and the
Statuspage incident id is remembered per incident and channel, so later briefs update it).

Everything here leaves Firebreak, so each activity passes its content through `playbook.redact.outbound` once,
before any channel sees it: the draft (what the SME approves), the brief as sent (the SME's edit included), the
Slack approval request and each notification. Channel configuration and roster contacts are Firebreak's own and kept.
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ActivityContext
from integrations import mail, slack, statuspage
from integrations.channels import ChannelError, archive, archived, post_webhook
from playbook.briefs import draft_brief
from playbook.config import (
    EmailChannel,
    SlackChannel,
    SlackWebhookChannel,
    StatuspageChannel,
    WebhookChannel,
)
from playbook.messages import ApprovalPost, BriefInput, Notification, SendBrief, SendResult
from playbook.models import Brief
from playbook.redact import outbound

ARCHIVE = "archive"
T = TypeVar("T")


def brief_stem(brief: Brief) -> str:
    """0001 for the responders' brief (as before audiences), 0001-<audience> for the others."""
    return f"{brief.seq:04d}" + ("" if brief.audience == "responders" else f"-{brief.audience}")


def footer(request: SendBrief) -> str:
    brief = request.brief
    parts = [f"Approved by {request.approved_by}."]
    if brief.edited_by:
        parts.append(f"Edited by {brief.edited_by}.")
    if request.released_by:
        parts.append(f"Released by {request.released_by}.")
    return " ".join(parts)


class CommunicateActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="draft_brief")
    def draft_brief(self, request: BriefInput) -> Brief:
        brief = outbound(draft_brief(request.state, request.seq, datetime.now(UTC), request.next_update_due,
                                     audience=request.audience, shape=request.shape))
        path, created = self.ctx.store.write_once(f"{brief.incident_number}/briefs/{brief_stem(brief)}-draft.md",
                                                  brief.text)
        if not created:  # a retried draft keeps the text the approver saw
            brief = brief.model_copy(update={"text": path.read_text(encoding="utf-8")})
        return brief

    @activity.defn(name="send_brief")
    def send_brief(self, request: SendBrief) -> SendResult:
        redacted: Counter[str] = Counter()  # what the SME's edit (or an older draft) still carried
        request = request.model_copy(update={"brief": outbound(request.brief, counts=redacted)})
        brief, cfg, store = request.brief, request.channel_config, self.ctx.store
        number = brief.incident_number
        detail, external_id = "sent", request.external_id
        if request.channel == ARCHIVE:
            self._archive_files(request)
        elif cfg is None:
            raise ApplicationError(f"channel '{request.channel}' has no configuration", non_retryable=True)
        elif isinstance(cfg, WebhookChannel):
            self._deliver(lambda: post_webhook(cfg, {
                "type": "incident_brief", "approved_by": request.approved_by, "released_by": request.released_by,
                **brief.model_dump(mode="json", exclude={"draft_text"})}, request.key))
        elif (done := archived(store, number, request.key)) is not None:
            # Sent and archived by an earlier attempt: this channel has no idempotency key of its own.
            detail, external_id = "already sent", done.get("external_id") or external_id
        elif isinstance(cfg, SlackWebhookChannel):
            self._deliver(lambda: slack.post_webhook_message(cfg, brief.title, slack.brief_blocks(
                brief.title, brief.text, footer(request))))
        elif isinstance(cfg, SlackChannel):
            detail = "ts " + self._deliver(lambda: slack.post_message(cfg, brief.title, slack.brief_blocks(
                brief.title, brief.text, footer(request))))
        elif isinstance(cfg, EmailChannel):
            detail = self._deliver(lambda: mail.send(cfg, brief.title, f"{brief.text}\n\n-- \n{footer(request)}\n",
                                                     request.key))
        elif isinstance(cfg, StatuspageChannel):
            external_id = self._statuspage(request, cfg)
            detail = f"statuspage incident {external_id}"
        archive(store, number, request.key, "brief",
                {"channel": request.channel, "seq": brief.seq, "audience": brief.audience, "title": brief.title,
                 "approved_by": request.approved_by, "edited_by": brief.edited_by,
                 "released_by": request.released_by, "detail": detail, "external_id": external_id}
                | ({"redacted": dict(sorted(redacted.items()))} if redacted else {}))
        return SendResult(channel=request.channel, delivered=True, detail=detail, external_id=external_id,
                          archive_path=str(store.path(f"{number}/comms/archive.jsonl")))

    def _archive_files(self, request: SendBrief) -> None:
        """The approved text as sent; when the approver edited it, the draft beside it and the diff."""
        brief, store = request.brief, self.ctx.store
        base = f"{brief.incident_number}/comms/{brief_stem(brief)}"
        store.write_once(f"{base}-brief.md", brief.text + f"\n\n_{footer(request)}_\n")
        if brief.draft_text is not None:
            store.write_once(f"{base}-draft.md", brief.draft_text)
            diff = difflib.unified_diff(brief.draft_text.splitlines(keepends=True), brief.text.splitlines(
                keepends=True), f"{brief_stem(brief)}-draft.md", f"{brief_stem(brief)}-brief.md ({brief.edited_by})")
            store.write_once(f"{base}-edit.diff", "".join(diff))

    def _statuspage(self, request: SendBrief, cfg: StatuspageChannel) -> str:
        """Create the page's incident on the first brief, update it after; the id is remembered in the store."""
        brief, store = request.brief, self.ctx.store
        memory = f"{brief.incident_number}/comms/statuspage-{request.channel}.json"
        known = request.external_id
        if known is None and store.path(memory).exists():
            known = str(store.read_json(memory)["incident_id"])
        body = brief.text.split("\n", 1)[1].strip() if brief.text.startswith("# ") else brief.text
        if known is not None:
            self._deliver(lambda: statuspage.update(cfg, known, brief.status, body))
            return known
        created = self._deliver(lambda: statuspage.create(cfg, brief.title, brief.status, body))
        incident_id = str(created["id"])
        store.write(memory, json.dumps({"incident_id": incident_id, "shortlink": created.get("shortlink"),
                                        "created_by_key": request.key}))
        return incident_id

    @staticmethod
    def _deliver(send: Callable[[], T]) -> T:
        """Run one channel call; its failure as a retryable ChannelError for the activity's retry policy."""
        try:
            return send()
        except ChannelError as err:
            raise ApplicationError(str(err), type="ChannelError") from err

    @activity.defn(name="post_approval_request")
    def post_approval_request(self, request: ApprovalPost) -> str:
        """The approval request in Slack, with the draft and Approve / Reject buttons; the message's ts."""
        if (done := archived(self.ctx.store, request.incident_number, request.key)) is not None:
            return str(done.get("detail") or "")
        request = outbound(request, keep=("key", "incident_number", "request_id", "channel", "channel_config"))
        blocks = slack.approval_blocks(request.incident_number, request.request_id, request.subject, request.text,
                                       request.why)
        ts = self._deliver(lambda: slack.post_message(request.channel_config,
                                                      f"{request.incident_number}: approval needed "
                                                      f"({request.request_id})", blocks))
        archive(self.ctx.store, request.incident_number, request.key, "approval_request",
                {"channel": request.channel, "request_id": request.request_id, "detail": ts})
        return str(ts)

    @activity.defn(name="notify")
    def notify(self, request: Notification) -> int:
        """Page people: always into the incident's notifications log, and to each paging webhook."""
        request = outbound(request, keep=("key", "incident_number", "to", "contacts", "channels"))
        self.ctx.store.append_once(f"{request.incident_number}/notifications.jsonl", request.key, {
            "at": datetime.now(UTC).isoformat(), "to": request.to,
            "contacts": {p: request.contacts.get(p, "") for p in request.to},
            "subject": request.subject, "text": request.text})
        failures = []
        for name, channel in sorted(request.channels.items()):
            try:
                if isinstance(channel, WebhookChannel):
                    post_webhook(channel, {"type": "incident_notification", "incident": request.incident_number,
                                           "to": request.to, "subject": request.subject, "text": request.text},
                                 f"{request.key}/{name}")
                elif isinstance(channel, SlackWebhookChannel):
                    slack.post_webhook_message(channel, f"{request.subject}\n{request.text}", None)
            except ChannelError as err:
                failures.append(f"{name}: {err}")
        if failures:
            raise ApplicationError("; ".join(failures), type="ChannelError")
        return len(request.to)
