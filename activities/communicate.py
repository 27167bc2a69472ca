"""Step 6, communicate: draft briefs, send approved ones to channels, page people. All archived.

One send_brief activity per brief and channel, so a channel that is down is retried on its own and never holds
up the others. Each send is idempotent: webhooks carry an Idempotency-Key; Slack, e-mail and Statuspage are
checked against the comms archive first (e-mail also carries a Message-ID derived from the key, and the
Statuspage incident id is remembered per incident and channel, so later briefs update it).

Each kind of channel sends through its sender in activities/senders.py, found by the type of its configuration.

Everything here leaves Firebreak, so each activity passes its content through `playbook.redact.outbound` once,
before any channel sees it: the draft (what the SME approves), the brief as sent (the SME's edit included), the
Slack approval request and each notification. Channel configuration and roster contacts are Firebreak's own and kept.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ActivityContext
from activities.senders import footer, sender_for
from integrations import slack
from integrations.channels import ChannelError, archive, archived
from playbook.briefs import draft_brief
from playbook.messages import ApprovalPost, BriefInput, Notification, SendBrief, SendResult
from playbook.models import Brief
from playbook.redact import outbound

ARCHIVE = "archive"
T = TypeVar("T")


def brief_stem(brief: Brief) -> str:
    """0001 for the responders' brief (as before audiences), 0001-<audience> for the others."""
    return f"{brief.seq:04d}" + ("" if brief.audience == "responders" else f"-{brief.audience}")


class CommunicateActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="draft_brief")
    def draft_brief(self, request: BriefInput) -> Brief:
        brief = outbound(draft_brief(request.state, request.seq, datetime.now(UTC), request.next_update_due,
                                     audience=request.audience, shape=request.shape))
        rel = f"{brief.incident_number}/briefs/{brief_stem(brief)}-draft.md"
        _, created = self.ctx.store.write_once(rel, brief.text)
        if not created:  # a retried draft keeps the text the approver saw
            brief = brief.model_copy(update={"text": self.ctx.store.read_bytes(rel).decode("utf-8")})
        return brief

    @activity.defn(name="send_brief")
    def send_brief(self, request: SendBrief) -> SendResult:
        redacted: Counter[str] = Counter()  # what the SME's edit (or an older draft) still carried
        request = request.model_copy(update={"brief": outbound(request.brief, counts=redacted)})
        brief, cfg, store = request.brief, request.channel_config, self.ctx.store
        number = brief.incident_number
        detail, external_id = "sent", request.external_id
        components: dict[str, str] | None = None  # a status page's components as it now shows them
        if request.channel == ARCHIVE:
            self._archive_files(request)
        elif cfg is None:
            raise ApplicationError(f"channel '{request.channel}' has no configuration", non_retryable=True)
        elif not (sender := sender_for(cfg)).keyed and (done := archived(store, number, request.key)) is not None:
            # Sent and archived by an earlier attempt: this channel has no idempotency key of its own.
            detail, external_id = "already sent", done.get("external_id") or external_id
        else:
            sent = self._deliver(lambda: sender.brief(cfg, request, store))
            detail, external_id = sent.detail, sent.external_id or external_id
            components = sent.components
        archive(store, number, request.key, "brief",
                {"channel": request.channel, "seq": brief.seq, "audience": brief.audience, "title": brief.title,
                 "approved_by": request.approved_by, "edited_by": brief.edited_by,
                 "released_by": request.released_by, "detail": detail, "external_id": external_id}
                | ({"components": components} if components is not None else {})
                | ({"redacted": dict(sorted(redacted.items()))} if redacted else {}))
        return SendResult(channel=request.channel, delivered=True, detail=detail, external_id=external_id,
                          archive_path=store.location(f"{number}/comms/archive.jsonl"))

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

    @staticmethod
    def _deliver(send: Callable[[], T]) -> T:
        """Run one channel call; its failure as a retryable ChannelError for the activity's retry policy, and a rate
        limit as one retried no sooner than the server's Retry-After (Temporal waits, not the activity)."""
        try:
            return send()
        except ChannelError as err:
            raise _retryable(err) from err

    @activity.defn(name="post_approval_request")
    def post_approval_request(self, request: ApprovalPost) -> str:
        """The approval request in Slack, with the draft and Approve / Reject buttons; the message's ts."""
        if (done := archived(self.ctx.store, request.incident_number, request.key)) is not None:
            return str(done.get("detail") or "")
        request = outbound(request, keep=("key", "incident_number", "request_id", "channel", "channel_config"))
        blocks = slack.approval_blocks(request.incident_number, request.request_id, request.subject, request.text,
                                       request.why)
        posted = self._deliver(lambda: slack.post_message(request.channel_config,
                                                          f"{request.incident_number}: approval needed "
                                                          f"({request.request_id})", blocks))
        # The channel id and ts let the intake replace the message with chat.update once it is decided.
        archive(self.ctx.store, request.incident_number, request.key, "approval_request",
                {"channel": request.channel, "request_id": request.request_id, "detail": posted.ts,
                 "slack_channel": posted.channel, "ts": posted.ts})
        return posted.ts

    @activity.defn(name="notify")
    def notify(self, request: Notification) -> int:
        """Page people: always into the incident's notifications log, and to each paging webhook."""
        request = outbound(request, keep=("key", "incident_number", "to", "contacts", "channels"))
        self.ctx.store.append_once(f"{request.incident_number}/notifications.jsonl", request.key, {
            "at": datetime.now(UTC).isoformat(), "to": request.to,
            "contacts": {p: request.contacts.get(p, "") for p in request.to},
            "subject": request.subject, "text": request.text})
        failures: list[ChannelError] = []
        sent_log = f"{request.incident_number}/notifications-sent.jsonl"
        for name, channel in sorted(request.channels.items()):
            key = f"{request.key}/{name}"
            if self.ctx.store.find_once(sent_log, key) is not None:
                continue  # delivered by an earlier attempt: a retry (after a 429 elsewhere) never pages twice
            try:
                kept = sender_for(channel).page(channel, request, key) or {}
            except ChannelError as err:
                failures.append(ChannelError(f"{name}: {err}") if not isinstance(err, slack.RateLimited) else
                                slack.RateLimited(f"{name}: {err}", err.retry_after))
                continue
            self.ctx.store.append_once(sent_log, key, {"at": datetime.now(UTC).isoformat(), "channel": name, **kept})
        if failures:
            waits = [f.retry_after for f in failures if isinstance(f, slack.RateLimited)]
            combined = slack.RateLimited("; ".join(map(str, failures)), max(waits)) if waits else \
                ChannelError("; ".join(map(str, failures)))
            raise _retryable(combined)
        return len(request.to)


def _retryable(err: ChannelError) -> ApplicationError:
    """A channel failure for Temporal's retry policy; a rate limit waits at least the server's Retry-After."""
    if isinstance(err, slack.RateLimited):
        return ApplicationError(f"{err}; retrying after {err.retry_after:g} s", type="RateLimited",
                                next_retry_delay=timedelta(seconds=max(err.retry_after, 1.0)))
    return ApplicationError(str(err), type="ChannelError")
