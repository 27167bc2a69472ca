"""[roster] and [approvals]: who holds which role, their backups, and which actions need whose approval."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from playbook.approval import ApprovalMode
from playbook.config.base import _Strict
from playbook.models import Role, Severity


class Person(_Strict):
    name: str
    roles: list[Role] = Field(min_length=1)
    contact: str = ""
    backup: str | None = None
    slack_id: str | None = Field(default=None, description="Slack user id (U...) whose buttons act as this person; "
                                                           "a contact of 'slack:U...' works too")
    pagerduty_user: str | None = Field(default=None, description="PagerDuty user id (P...): an acknowledgement in "
                                                                 "PagerDuty by this user acknowledges as this person")

    @property
    def slack_user(self) -> str | None:
        if self.slack_id:
            return self.slack_id
        return self.contact.removeprefix("slack:") if self.contact.startswith("slack:") else None


class Roster(_Strict):
    people: dict[str, Person] = Field(min_length=1)

    def holders(self, role: Role) -> list[str]:
        return [pid for pid, p in self.people.items() if role in p.roles]

    def primary(self, role: Role) -> str:
        return self.holders(role)[0]


class ApprovalPolicy(_Strict):
    timeout_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] = 15
    on_expiry: Literal["skip", "proceed"] = Field(
        default="skip", description="what a gated action does when nobody decides, even after escalation")
    default: str = "approve:incident_commander"
    actions: dict[str, dict[Severity, str]] = Field(default_factory=dict)

    def mode_for(self, action: str, severity: Severity) -> ApprovalMode:
        return self.own_mode(action, severity) or ApprovalMode.of(self.default)

    def own_mode(self, action: str, severity: Severity) -> ApprovalMode | None:
        """The action's own policy at this severity; None when it falls back to the default."""
        return ApprovalMode.of(own) if (own := self.actions.get(action, {}).get(severity)) else None
