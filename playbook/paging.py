"""What paging carries between the workflow and its activities: a PagerDuty event, a question "who is on call",
its answer, and what the incident remembers of its PagerDuty alert and the schedules it read."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from playbook.config.channels import Channel
from playbook.config.paging import PagerDutyConfig, PagingConfig
from playbook.config.roster import Roster
from playbook.models import Role, Severity

# The comment on an acknowledgement that came from PagerDuty (intake/pagerduty_webhook.py): the workflow then does
# not send PagerDuty an acknowledge of its own.
FROM_PAGERDUTY = "acknowledged in PagerDuty"
PD_SEVERITY = {Severity.SEV1: "critical", Severity.SEV2: "error", Severity.SEV3: "warning", Severity.SEV4: "info"}
EventAction = Literal["trigger", "acknowledge", "resolve"]


class PagerDutyEvent(BaseModel):
    """One Events API v2 event. `dedup_key` is the incident's workflow id, the same on every attempt and run."""

    action: EventAction
    dedup_key: str
    summary: str = ""
    severity: Literal["critical", "error", "warning", "info"] = "critical"
    custom_details: dict[str, Any] = Field(default_factory=dict)
    config: PagerDutyConfig


class OnCallRequest(BaseModel):
    at: datetime
    paging: PagingConfig
    roster: Roster
    horizon_days: int = 14  # how far ahead the next shift is looked for


class Shift(BaseModel):
    person: str | None  # the roster id; None when the schedule names someone not on the roster
    named: str          # as the schedule names them
    start: datetime
    end: datetime
    layer: str          # the feed or schedule it came from
    override: bool = False  # a one-off event in a feed that also has recurring ones: it beats the rotation


class RoleOnCall(BaseModel):
    role: Role
    now: list[Shift] = Field(default_factory=list, description="who holds it now, one per layer, escalation order")
    next: list[Shift] = Field(default_factory=list, description="the next shift change of each layer")
    errors: list[str] = Field(default_factory=list, description="layers that could not be read, and why")

    @property
    def chain(self) -> list[str]:
        """Roster ids on call now, in layer order, each once."""
        out: list[str] = []
        for shift in self.now:
            if shift.person and shift.person not in out:
                out.append(shift.person)
        return out


class OnCallResult(BaseModel):
    at: datetime
    roles: dict[Role, RoleOnCall] = Field(default_factory=dict)


class PagingState(BaseModel):
    """What the incident knows of its paging: the PagerDuty alert's life and who the schedules put on call."""

    trigger_sent: bool = False  # tried (once per incident, whatever the answer)
    triggered: bool = False     # PagerDuty accepted the trigger
    acknowledged: bool = False
    resolved: bool = False
    oncall: dict[Role, list[str]] = Field(default_factory=dict, description="per role, the chain the schedule gave")


class PagesAcknowledged(BaseModel):
    """Replace the incident's Slack pages (their Acknowledge buttons) once someone acknowledged."""

    incident_number: str
    acknowledged_by: str
    channels: dict[str, Channel] = Field(default_factory=dict, description="the Slack channels pages went to")
