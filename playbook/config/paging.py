"""[paging]: PagerDuty (Events API v2 out, webhooks v3 in, schedules and on-calls read) and who is on call per role
(iCalendar feeds or PagerDuty schedules). The secrets stay in the environment; these keys name the variables."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from playbook.config.base import _Strict
from playbook.models import Role


class PagerDutyConfig(_Strict):
    """Where PagerDuty is and which environment variables hold its credentials."""

    enabled: bool = Field(default=False, description="trigger, acknowledge and resolve a PagerDuty alert per incident")
    routing_key_env: str = Field(default="PAGERDUTY_ROUTING_KEY",
                                 description="env var with the Events API v2 integration key of the service")
    api_token_env: str = Field(default="PAGERDUTY_API_TOKEN",
                               description="env var with a read-only REST API key (schedules and on-calls)")
    webhook_secret_env: str = Field(default="PAGERDUTY_WEBHOOK_SECRET",
                                    description="env var with the v3 webhook subscription's signing secret(s), "
                                                "separated by commas while rotating")
    events_url: str = "https://events.pagerduty.com"
    api_url: str = "https://api.pagerduty.com"
    ca_file: str | None = Field(default=None, description="a PEM bundle to trust instead of the system CAs")
    source: str = Field(default="firebreak", description="payload.source of the alerts Firebreak triggers")
    timeout_seconds: Annotated[int, Field(ge=1, le=60)] = 10

    @model_validator(mode="after")
    def _https(self) -> PagerDutyConfig:
        for key in ("events_url", "api_url"):
            if not getattr(self, key).startswith("https://"):
                raise ValueError(f"'{key}' must be an https:// URL (the pagerduty client refuses others)")
        return self


class OnCallSchedule(_Strict):
    """Who holds one role now: layers in escalation order, each an iCalendar feed or a PagerDuty schedule."""

    ical: list[str] = Field(default_factory=list,
                            description="iCalendar feeds (a path relative to the playbook, or an https:// URL), one "
                                        "per layer in escalation order")
    pagerduty_schedules: list[str] = Field(default_factory=list,
                                           description="PagerDuty schedule ids, one per layer in escalation order, "
                                                       "after the iCalendar layers")

    pagerduty_escalation_policy: str | None = Field(
        default=None, description="a PagerDuty escalation policy id: its levels are the last layers, in order")

    @model_validator(mode="after")
    def _some(self) -> OnCallSchedule:
        if not self.ical and not self.pagerduty_schedules and not self.pagerduty_escalation_policy:
            raise ValueError("name at least one 'ical' feed, 'pagerduty_schedules' id or "
                             "'pagerduty_escalation_policy'")
        return self


class PagingConfig(_Strict):
    pagerduty: PagerDutyConfig = Field(default_factory=PagerDutyConfig)
    oncall: dict[Role, OnCallSchedule] = Field(default_factory=dict,
                                               description="per role: the schedule that fills it when paging")
    feed_timeout_seconds: Annotated[int, Field(ge=1, le=60)] = Field(
        default=10, description="per iCalendar feed or PagerDuty schedule read")
