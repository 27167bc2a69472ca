"""[serious]: the EU AI Act Art. 73 serious-incident clock (reminders to legal) and the hold on system changes."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from playbook.config.base import _Strict


class SeriousCase(StrEnum):
    """Art. 73's cases and their reporting deadlines, in days from when the provider became aware."""

    WIDESPREAD = "widespread"                      # widespread infringement: 2 days
    CRITICAL_INFRASTRUCTURE = "critical_infrastructure"  # serious and irreversible disruption: 2 days
    DEATH = "death"                                # the death of a person: 10 days
    OTHER = "other"                                # any other serious incident: 15 days

    @property
    def days(self) -> int:
        return {"widespread": 2, "critical_infrastructure": 2, "death": 10, "other": 15}[self.value]


class SeriousConfig(_Strict):
    reminder_hours_before: list[Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: [24.0, 4.0], description="reminders to legal this many hours before the deadline")
    overdue_every_hours: Annotated[float, Field(gt=0, le=24 * 7)] = Field(
        default=24.0, description="once overdue, legal and the incident commander are reminded this often")
    hold_changes: bool = Field(default=True, description="actions that alter the AI system wait for legal's "
                                                         "approval until the authority is informed")

    @model_validator(mode="after")
    def _ordered(self) -> SeriousConfig:
        self.reminder_hours_before = sorted(self.reminder_hours_before, reverse=True)
        return self
