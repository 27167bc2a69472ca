"""Slack's 429 during a storm of briefs and pages: honoured through Temporal's retry with the server's delay, one
message per brief (and per page) per channel.

Slack answers a post over its rate limit with HTTP 429, `Retry-After` in seconds and `{"ok": false, "error":
"ratelimited"}`, incoming webhooks included (tests/fake_slack.py cites where). The activity raises an ApplicationError
whose next_retry_delay is that Retry-After; the wait is Temporal's, seen here in each attempt's scheduled time. This
runs on the dev server: the time-skipping test server does not honour next_retry_delay (its first retry came after
13 ms when tried), so the test waits Retry-After (3 s) for real.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from slack_sdk.http_retry import RateLimitErrorRetryHandler
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from activities.communicate import CommunicateActivities
from activities.context import ActivityContext
from integrations import slack as slack_api
from integrations.artefacts import ArtefactStore
from playbook.messages import ApprovalPost, Notification, SendBrief, SendResult
from playbook.models import Role, Severity
from tests.behaviour import open_incident, read_jsonl, terminate_leftovers, worker  # noqa: F401
from tests.fake_channels import FakeSlack, channel_secrets, serving  # noqa: F401  (autouse fixture)
from tests.support import decision, recorder, wait_for, write_playbook
from tests.test_final_brief import RESOLVE
from workflows.incident import IncidentWorkflow

RETRY_AFTER = 3
LIMITED = 4


def playbook_text(slack: FakeSlack, pager: str) -> str:
    return f"""
[channels.ops_hook]
kind = "slack_webhook"
url = "{slack.url}/services/T0/B0/BRIEFS"
[channels.ops_slack]
kind = "slack"
channel = "#incidents"
base_url = "{slack.url}/api/"
[channels.pager_hook]
kind = "webhook"
url = "{pager}/page"
[channels.pager_slack]
kind = "slack_webhook"
url = "{slack.url}/services/T0/B0/PAGES"
[communicate]
notify_channels = ["pager_hook", "pager_slack"]
approval_channels = ["ops_slack"]
[communicate.audiences.responders]
shape = "tactical"
channels = ["ops_hook", "ops_slack"]
final = true
[communicate.audiences.leadership]
shape = "executive"
channels = ["ops_hook", "ops_slack"]
final = true
"""


def test_our_slack_clients_leave_rate_limits_to_temporal() -> None:
    assert not any(isinstance(h, RateLimitErrorRetryHandler) for h in slack_api.retry_handlers())


async def test_a_rate_limited_storm_waits_retry_after_and_posts_once(
        dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path) -> None:
    attempts: list[tuple[str, str, int, datetime]] = []  # (activity, what, attempt, this attempt's scheduled time)
    lock = threading.Lock()

    def seen(what: str) -> None:
        info = activity.info()
        with lock:
            attempts.append((info.activity_type, what, info.attempt, info.current_attempt_scheduled_time))

    with serving(FakeSlack()) as slack, recorder() as pager:
        playbook = write_playbook(tmp_path, playbook_text(slack, pager.url))
        real = CommunicateActivities(ActivityContext(store=ArtefactStore(home / "artefacts"), playbook_path=playbook))

        @activity.defn(name="send_brief")
        def send_brief(request: SendBrief) -> SendResult:
            seen(request.key)
            return real.send_brief(request)

        @activity.defn(name="notify")
        def notify(request: Notification) -> int:
            seen(request.key)
            return real.notify(request)

        @activity.defn(name="post_approval_request")
        def post_approval_request(request: ApprovalPost) -> str:
            seen(request.key)
            return real.post_approval_request(request)

        replace: dict[str, Any] = {"send_brief": send_brief, "notify": notify,
                                   "post_approval_request": post_approval_request}
        async with worker(dev_env.client, task_queue, playbook, home, replace=replace):
            handle, _ = await open_incident(dev_env, task_queue, Severity.SEV1)
            slack.rate_limit(LIMITED, RETRY_AFTER)  # the storm: the closing briefs, their approvals and pages
            await handle.signal(IncidentWorkflow.resolve, RESOLVE)
            await wait_for(handle, lambda s: {a.request_id for a in s.pending_approvals()} >= {
                "brief-final", "brief-final-leadership"}, attempts=400)
            for rid in ("brief-final", "brief-final-leadership"):
                await handle.signal(IncidentWorkflow.approve, decision(rid, "sam", Role.DOMAIN_SME))
            state = await wait_for(handle, lambda s: sum(" sent to " in e.what for e in s.timeline) >= 2,
                                   attempts=400)

    limited = [path for path, error in slack.refused if error == "ratelimited"]
    assert len(limited) == LIMITED, slack.refused
    assert sorted(e.what for e in state.timeline if " sent to " in e.what) == [
        "final brief (leadership) sent to archive, ops_hook, ops_slack",
        "final brief sent to archive, ops_hook, ops_slack"]
    assert not [e.what for e in state.timeline if "failed" in e.what or "could not" in e.what]
    # One message per brief per channel: two closing briefs on each Slack channel, each approval request once.
    briefs = [m for m in slack.webhook_messages if m.get("blocks") and m["blocks"][0]["type"] == "header"]
    assert len(briefs) == 2 and len(slack.brief_messages()) == 2
    assert {m["channel_id"] for m in slack.messages} == {"C0INCIDENT"}
    assert sorted(m["text"].split(": approval needed ")[1] for m in slack.approval_requests()) == [
        "(brief-final)", "(brief-final-leadership)"]
    # One page per notification per channel, even when the other channel's 429 made the activity retry.
    pages = [m["text"] for m in slack.webhook_messages if not m.get("blocks")]
    hooked = [r["headers"]["Idempotency-Key"] for r in pager.requests]
    assert len(pages) == len(set(pages)) == len(hooked) == len(set(hooked)) >= 2
    sent_log = read_jsonl(home / "artefacts" / str(state.number) / "notifications-sent.jsonl")
    assert len(sent_log) == 2 * len(hooked)

    # Every retry was scheduled no sooner than Retry-After after the attempt before it (server time).
    by_call: dict[tuple[str, str], list[tuple[int, datetime]]] = {}
    for kind, what, attempt, scheduled in attempts:
        by_call.setdefault((kind, what), []).append((attempt, scheduled))
    retried = {call: sorted(runs) for call, runs in by_call.items() if len(runs) > 1}
    assert retried, by_call
    for call, runs in retried.items():
        assert [n for n, _ in runs] == list(range(1, len(runs) + 1)), (call, runs)
        gaps = [later - earlier for (_, earlier), (_, later) in zip(runs, runs[1:], strict=False)]
        assert all(gap >= timedelta(seconds=RETRY_AFTER) for gap in gaps), (call, gaps)
