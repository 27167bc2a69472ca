"""The channel fakes answer as the real services do, checked against what those services publish: Slack's answers
through slack_sdk's own clients and SlackResponse validation (tests/fake_slack.py cites the docs it follows).

Statuspage has no SDK we use; its answer's names are pinned here from Statuspage's OpenAPI description (as generated
into PyPI atlassian-statuspage 1.0.2, models/incident.py, component.py, incident_update.py).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient

from integrations import slack as slack_api
from integrations import statuspage
from playbook.config import SlackChannel, StatuspageChannel
from playbook.models import IncidentStatus
from tests.fake_channels import (  # noqa: F401  (channel_secrets is an autouse fixture)
    SLACK_TOKEN,
    FakeSlack,
    FakeStatuspage,
    channel_secrets,
    serving,
)

# Statuspage's Incident, Component and IncidentUpdate models (attribute_map of the generated client).
INCIDENT_FIELDS = {"id", "components", "created_at", "impact", "impact_override", "incident_updates", "metadata",
                   "monitoring_at", "name", "page_id", "resolved_at", "shortlink", "status"}
COMPONENT_FIELDS = {"id", "page_id", "group_id", "created_at", "updated_at", "group", "name", "description",
                    "position", "status", "showcase", "only_show_if_degraded", "automation_email", "start_date"}
UPDATE_FIELDS = {"id", "incident_id", "affected_components", "body", "created_at", "custom_tweet",
                 "deliver_notifications", "display_at", "status", "tweet_id", "twitter_updated_at", "updated_at",
                 "wants_twitter_update"}


def _check_incident(answer: dict[str, Any]) -> None:
    assert set(answer) >= INCIDENT_FIELDS, INCIDENT_FIELDS - set(answer)
    assert isinstance(answer["components"], list) and answer["components"]
    for component in answer["components"]:
        assert set(component) == COMPONENT_FIELDS
    for update in answer["incident_updates"]:
        assert set(update) == UPDATE_FIELDS


def test_statuspage_answers_with_component_objects() -> None:
    with serving(FakeStatuspage(page_components={"cmp1": "Support assistant", "cmp2": "Search"})) as fake:
        page = StatuspageChannel(kind="statuspage", page_id=fake.page_id, base_url=f"{fake.url}/v1",
                                 api_key_env="STATUSPAGE_KEY", component_ids=["cmp1"],
                                 component_status="degraded_performance")
        created = statuspage.create(page, "Degraded answers", IncidentStatus.OPEN, "We are investigating.")
        _check_incident(created)
        assert statuspage.shown(created) == {"Support assistant (cmp1)": "degraded_performance"}
        resolved = statuspage.update(page, created["id"], IncidentStatus.RESOLVED, "Fixed.")
        _check_incident(resolved)
        assert statuspage.shown(resolved) == {"Support assistant (cmp1)": "operational"}
        assert [u["status"] for u in resolved["incident_updates"]] == ["resolved", "investigating"]
        read = httpx.get(f"{fake.url}/v1/pages/{fake.page_id}/incidents/{created['id']}",
                         headers={"Authorization": "OAuth sp-test-key"}).json()
        assert read == resolved


# ---------------------------------------------------------------- Slack, through slack_sdk's own response handling


def _web(slack: FakeSlack) -> WebClient:
    return WebClient(token=SLACK_TOKEN, base_url=f"{slack.url}/api/", retry_handlers=[])


def test_slack_answers_as_slack_sdk_reads_it() -> None:
    with serving(FakeSlack(channels={"incidents": "C0INCIDENT"})) as slack:
        web = _web(slack)
        posted = web.chat_postMessage(channel="#incidents", text="hello")
        assert isinstance(posted, SlackResponse) and posted.validate() is posted
        assert posted["channel"] == "C0INCIDENT" and posted["ts"]  # the id, not the name the call used
        with pytest.raises(SlackApiError) as refused:
            web.chat_postMessage(channel="C0INCIDENT", text="x",
                                 blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": ""}}])
        assert refused.value.response["error"] == "invalid_blocks"
        with pytest.raises(SlackApiError) as refused:
            web.chat_postMessage(channel="#nowhere", text="x")
        assert refused.value.response["error"] == "channel_not_found"
        # chat.update takes the channel id and ts; a name is channel_not_found.
        with pytest.raises(SlackApiError) as refused:
            web.chat_update(channel="incidents", ts=posted["ts"], text="decided")
        assert refused.value.response["error"] == "channel_not_found"
        updated = web.chat_update(channel=posted["channel"], ts=posted["ts"], text="decided")
        assert updated.validate()["ts"] == posted["ts"]
        with pytest.raises(SlackApiError) as refused:
            web.chat_update(channel=posted["channel"], ts="1.000", text="decided")
        assert refused.value.response["error"] == "message_not_found"
        # Rate limited: 429, Retry-After, ratelimited -- for the Web API and incoming webhooks alike.
        slack.rate_limit(2, 7)
        with pytest.raises(SlackApiError) as refused:
            web.chat_postMessage(channel="C0INCIDENT", text="x")
        assert refused.value.response.status_code == 429 and refused.value.response["error"] == "ratelimited"
        assert refused.value.response.headers["Retry-After"] == "7"
        hooked = WebhookClient(f"{slack.url}/services/T0/B0/X", retry_handlers=[]).send(text="x")
        assert hooked.status_code == 429 and hooked.headers["Retry-After"] == ["7"] or \
            hooked.headers["Retry-After"] == "7"


def test_a_response_url_is_good_for_5_uses_within_30_minutes() -> None:
    now = [1_800_000_000.0]
    with serving(FakeSlack(clock=lambda: now[0])) as slack:
        url = slack.response_url()
        codes = [WebhookClient(url, retry_handlers=[]).send(text=f"use {i}").status_code for i in range(6)]
        assert codes == [200] * 5 + [404]
        late = slack.response_url()
        now[0] += 30 * 60 + 1
        assert WebhookClient(late, retry_handlers=[]).send(text="late").status_code == 404


def test_our_blocks_never_carry_an_empty_section() -> None:
    """A brief edited down to its heading: Slack refuses an empty section (invalid_blocks); we send none."""
    with serving(FakeSlack()) as slack:
        channel = SlackChannel(kind="slack", channel="#incidents", base_url=f"{slack.url}/api/")
        blocks = slack_api.brief_blocks("All clear", "# All clear", "Approved by sam.")
        posted = slack_api.post_message(channel, "All clear", blocks)
        assert posted == slack_api.Posted("C0INCIDENT", slack.messages[0]["ts"])
        slack_api.post_message(channel, "All clear", slack_api.brief_blocks("All clear", "# All clear\n\n  \n", "-"))
        assert [b["type"] for b in slack.messages[1]["blocks"]] == ["header", "context"]
        assert slack_api.decided_blocks([], "", "Approved by sam")[-1]["type"] == "context"
        slack.rate_limit(1, 9)
        with pytest.raises(slack_api.RateLimited) as limited:
            slack_api.post_message(channel, "again", blocks)
        assert limited.value.retry_after == 9
