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
from integrations import oncall, pagerduty
from playbook.paging import OnCallRequest, OnCallResult, PagerDutyEvent


class PagingActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="pagerduty_event")
    def pagerduty_event(self, event: PagerDutyEvent) -> str:
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
