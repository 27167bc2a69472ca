"""[channels] and [communicate]: where briefs and pages go (webhook, Slack, Teams, e-mail, Statuspage) and the audiences
briefed."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from playbook.config.base import _Strict
from playbook.models import Severity, SignalKind


class WebhookChannel(_Strict):
    """JSON POST with an Idempotency-Key header (per incident, brief and channel)."""

    kind: Literal["webhook"] = "webhook"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0


class _SecretUrl(_Strict):
    url: str | None = Field(default=None, description="the URL itself; prefer url_env, the URL is a secret")
    url_env: str | None = Field(default=None, description="the environment variable holding the URL")

    @model_validator(mode="after")
    def _one_url(self) -> _SecretUrl:
        if bool(self.url) == bool(self.url_env):
            raise ValueError("give 'url' or 'url_env' (the environment variable holding the URL), not both")
        return self


class SlackWebhookChannel(_SecretUrl):
    """A Slack incoming webhook (one Slack channel fixed by the URL). Slack has no idempotency key for it, so the
    comms archive is checked before each send."""

    kind: Literal["slack_webhook"] = "slack_webhook"
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0


class TeamsChannel(_SecretUrl):
    """Microsoft Teams: a Workflows ("When a Teams webhook request is received") or incoming-webhook URL that posts
    an Adaptive Card into one channel or chat. Teams cannot post a button's click back to a webhook sender, so the
    card links to Firebreak (`link_url`) to approve or acknowledge there. No idempotency key: the comms archive is
    checked before each brief."""

    kind: Literal["teams"] = "teams"
    link_url: str | None = Field(default=None, description="the card's 'Open in Firebreak' link; {incident} is "
                                                            "replaced by the incident's number (none: no link)")
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0


class SlackChannel(_Strict):
    """Slack Web API chat.postMessage with Block Kit, through slack_sdk; brief approval requests posted here carry
    Approve / Reject buttons for POST /v1/slack/actions."""

    kind: Literal["slack"] = "slack"
    channel: str = Field(description="channel id (C...) or name the bot is in")
    token_env: str = Field(default="SLACK_BOT_TOKEN", description="the environment variable holding the bot token")
    base_url: str | None = Field(default=None, description="default: slack_sdk's (https://slack.com/api/)")
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0


class EmailChannel(_Strict):
    """E-mail over SMTP (smtplib); each message's Message-ID comes from the incident, brief and channel."""

    kind: Literal["email"] = "email"
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    starttls: bool = False
    username_env: str | None = None
    password_env: str | None = None
    sender: str = Field(description="the From address")
    to: list[str] = Field(min_length=1)
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 20.0


ComponentStatus = Literal["operational", "under_maintenance", "degraded_performance", "partial_outage",
                          "major_outage"]


class StatuspageChannel(_Strict):
    """Atlassian Statuspage: the first brief creates one Statuspage incident per Firebreak incident, later briefs
    update it. Public, so only audiences with `external = true` may use it."""

    kind: Literal["statuspage"] = "statuspage"
    page_id: str
    api_key_env: str = Field(default="STATUSPAGE_API_KEY", description="sent as 'Authorization: OAuth <key>'")
    base_url: str = "https://api.statuspage.io/v1"
    component_ids: list[str] = Field(default_factory=list)
    component_status: ComponentStatus | None = Field(default=None, description="set on the components while open")
    impact_override: Literal["none", "minor", "major", "critical"] | None = None
    deliver_notifications: bool = True
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0


def _channel_kind(value: Any) -> str:
    """A channel's kind; "webhook" when not given, as before other kinds existed."""
    return str(value.get("kind", "webhook") if isinstance(value, dict) else getattr(value, "kind", "webhook"))


Channel = Annotated[Annotated[WebhookChannel, Tag("webhook")] | Annotated[SlackWebhookChannel, Tag("slack_webhook")]
                    | Annotated[SlackChannel, Tag("slack")] | Annotated[EmailChannel, Tag("email")]
                    | Annotated[StatuspageChannel, Tag("statuspage")] | Annotated[TeamsChannel, Tag("teams")],
                    Discriminator(_channel_kind)]
CHANNEL_KINDS_FOR_PAGES = ("webhook", "slack_webhook", "slack", "email", "teams")


class Audience(_Strict):
    """Who a brief is for: its shape, how often, where it goes and who approves it."""

    shape: Literal["tactical", "executive"] = Field(
        description="tactical: the responders' detail (metrics, actions, owners); executive: impact, risk, "
                    "decisions, next update")
    channels: list[str] = Field(default_factory=list, description="besides the comms archive, which always gets it")
    every: Annotated[int, Field(ge=1, le=48)] = Field(
        default=1, description="a brief on every Nth cadence tick (1: every tick; the first tick always)")
    severities: list[Severity] = Field(default_factory=lambda: list(Severity),
                                       description="the severities this audience is briefed at")
    kinds: list[SignalKind] = Field(default_factory=list, description="only incidents of these kinds (empty: all)")
    external: bool = Field(default=False, description="leaves the company: the communications role must approve "
                                                      "it too, after the domain SME")
    final: bool | None = Field(
        default=None, description="the closing 'resolved' brief at resolution: unset, when this audience received a "
                                  "brief during the incident; true, also when it did not (at its severities and "
                                  "kinds); false, never")


class IncidentChannelConfig(_Strict):
    """A Slack channel of its own per incident: created when it opens, the responders invited, the timeline posted
    as it grows (batched), archived when the incident closes."""

    enabled: bool = False
    channel: str | None = Field(default=None, description="a kind = \"slack\" channel in [channels] whose bot token "
                                                          "(token_env) and base_url are used")
    prefix: str = Field(default="", max_length=20, description="put before the lower-cased incident number in the "
                                                               "channel's name (\"\": inc-2026-0007)")
    post_every_seconds: Annotated[int, Field(ge=5, le=3600)] = Field(
        default=60, description="at most one timeline message per this many seconds")


class CommunicateConfig(_Strict):
    channels: list[str] = Field(default_factory=list,
                                description="the responders' channels when [communicate.audiences] is not given")
    notify_channels: list[str] = Field(default_factory=list, description="where pages to responders go")
    approval_channels: list[str] = Field(
        default_factory=list, description="Slack (kind = \"slack\") channels where each brief's approval request is "
                                          "posted with the draft and Approve / Reject buttons")
    approval_timeout_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 10
    release_timeout_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = Field(
        default=15, description="the communications role's window to release an external brief, then their backup's")
    audiences: dict[str, Audience] | None = Field(
        default=None, description="who gets briefs; default: the responders, tactical, on communicate.channels")
    incident_channel: IncidentChannelConfig = Field(default_factory=IncidentChannelConfig)

    def audience_map(self) -> dict[str, Audience]:
        """The audiences briefed, in the playbook's order; without [communicate.audiences], the responders."""
        if self.audiences is not None:
            return self.audiences
        return {"responders": Audience(shape="tactical", channels=list(self.channels))}
