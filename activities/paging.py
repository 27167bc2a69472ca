"""Paging's side effects: PagerDuty events (trigger, acknowledge, resolve) and reading who is on call.

Both run as activities so that the workflow only ever sees their results: the schedules are read at the moment of
paging and the answer is recorded in the history (and on the timeline), so a replay never reads them again.
A PagerDuty 429 waits at least the server's Retry-After before the next attempt; a refusal (a wrong or revoked
key, an invalid event) fails at once, for the workflow to write on the timeline and go on.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ActivityContext
from integrations import oncall, pagerduty, slack
from integrations.channels import ChannelError
from integrations.store import read_lines
from playbook.config import SlackChannel
from playbook.paging import OnCallRequest, OnCallResult, PagerDutyEvent, PagesAcknowledged
from playbook.redact import outbound


class PagingActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="pagerduty_event")
    def pagerduty_event(self, event: PagerDutyEvent) -> str:
        """One event to PagerDuty; its summary and details redacted on the way out (playbook/redact.py)."""
        event = outbound(event, keep=("action", "dedup_key", "severity", "config"))
        try:
            return pagerduty.send_event(event)
        except pagerduty.RateLimited as err:
            raise ApplicationError(f"{err}; retrying after {err.retry_after:g} s", type="RateLimited",
                                   next_retry_delay=timedelta(seconds=max(err.retry_after, 1.0))) from err
        except pagerduty.Refused as err:
            raise ApplicationError(str(err), type="PagerDutyRefused", non_retryable=True) from err
        except pagerduty.PagerDutyError as err:
            raise ApplicationError(str(err), type="PagerDutyError") from err

    @activity.defn(name="who_is_on_call")
    def who_is_on_call(self, request: OnCallRequest) -> OnCallResult:
        return oncall.on_call(request, self.ctx.playbook_path.parent)

    @activity.defn(name="replace_slack_pages")
    def replace_slack_pages(self, request: PagesAcknowledged) -> int:
        """chat.update every Slack page of the incident: the same page, its button replaced by who acknowledged.
        Idempotent (the same update again changes nothing); the pages are the ones the notify activity kept."""
        lines = read_lines(self.ctx.store, f"{request.incident_number}/notifications-sent.jsonl")
        replaced, failures = 0, []
        for line in lines:
            cfg = request.channels.get(str(line.get("channel")))
            if not isinstance(cfg, SlackChannel) or not line.get("slack_ts"):
                continue
            page = self.ctx.store.find_once(f"{request.incident_number}/notifications.jsonl",
                                            str(line["key"]).rsplit("/", 1)[0]) or {}
            blocks = slack.page_blocks(request.incident_number, str(page.get("subject", "")),
                                       str(page.get("text", "")), list(page.get("to", [])), acknowledge=False,
                                       acknowledged_by=request.acknowledged_by)
            try:
                slack.update_message(cfg, slack.Posted(str(line["slack_channel"]), str(line["slack_ts"])),
                                     f"{request.incident_number}: acknowledged by {request.acknowledged_by}", blocks)
            except ChannelError as err:
                failures.append(str(err))
                continue
            replaced += 1
        if failures:
            raise ApplicationError("; ".join(failures), type="ChannelError")
        return replaced
