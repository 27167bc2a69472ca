"""[review] and [tickets]: the retrospective's deadline and reminders, action items, ticket numbering."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from playbook.config.base import _Strict
from playbook.config.trackers import GitHubTracker, JiraTracker


class ReviewConfig(_Strict):
    deadline_hours: Annotated[int, Field(ge=1, le=24 * 30)] = 48
    reminder_hours: list[Annotated[float, Field(gt=0)]] = Field(default_factory=lambda: [24.0, 44.0])
    give_up_after_hours: Annotated[int, Field(ge=1)] = 7 * 24
    action_item_reminder_hours: Annotated[float, Field(gt=0, le=24 * 30)] = Field(
        default=24.0, description="how often an open action item's owner is reminded once it is due")
    action_item_undated_days: Annotated[float, Field(gt=0, le=365)] = Field(
        default=7.0, description="when an action item without a due date is first chased")
    action_item_escalate_after: Annotated[int, Field(ge=1, le=100)] = Field(
        default=3, description="overdue reminders before the incident commander is told")

    @model_validator(mode="after")
    def _ordered(self) -> ReviewConfig:
        self.reminder_hours = sorted(self.reminder_hours)
        if any(h >= self.deadline_hours for h in self.reminder_hours):
            raise ValueError("reminders must come before the deadline ('reminder_hours' < 'deadline_hours')")
        if self.give_up_after_hours <= self.deadline_hours:
            raise ValueError("'give_up_after_hours' must be later than 'deadline_hours'")
        return self


class TicketConfig(_Strict):
    backend: Literal["local", "jira", "github"] = "local"
    number_prefix: str = "INC"
    jira: JiraTracker | None = None
    github: GitHubTracker | None = None
    item_poll_minutes: Annotated[float, Field(ge=0, le=24 * 60)] = Field(
        default=60.0, description="how often an open action item's tracker issue is checked for having been closed "
        "there (besides the webhook); 0: webhook only")

    @model_validator(mode="after")
    def _tracker(self) -> TicketConfig:
        if self.backend == "jira" and self.jira is None:
            raise ValueError("backend = \"jira\" needs a [tickets.jira] table (url, project)")
        if self.backend == "github" and self.github is None:
            raise ValueError("backend = \"github\" needs a [tickets.github] table (repository)")
        return self

    def tracker_timeout(self) -> float:
        """The tracker's per-request timeout in seconds (the local backend's files: 10)."""
        tracker = self.jira if self.backend == "jira" else self.github if self.backend == "github" else None
        return float(tracker.timeout_seconds) if tracker is not None else 10.0

    @field_validator("number_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z][A-Z0-9]{0,9}", value):
            raise ValueError("use 1-10 capital letters or digits, starting with a letter, e.g. INC")
        return value
