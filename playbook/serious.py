"""A serious incident under the EU AI Act (Art. 73): its case, when the provider became aware, the reporting
deadline that follows, and what was reported to the market surveillance authority, when, under which reference.

Pure data and rules; the workflow's serious room (workflows/incident/serious.py) keeps the clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from playbook.config import Playbook, SeriousCase, SeriousConfig
from playbook.models import Detection, HumanAction
from playbook.severity import matches

AI_ACT_PREFIX = "ai-act-"  # approval requests of a serious incident (reports, holds), decidable after closing
HOLD_PREFIX = "ai-act-hold-"  # approval requests holding a system-altering action for legal


class AwareEdit(BaseModel):
    at: datetime
    by: str
    before: datetime
    after: datetime
    reason: str


class AuthorityReport(BaseModel):
    kind: Literal["initial", "complete"]
    reference: str
    reported_at: datetime
    recorded_by: str


class SeriousIncident(BaseModel):
    case: SeriousCase
    aware_at: datetime = Field(description="when the provider became aware; the deadline counts from here")
    marked_at: datetime
    marked_by: str
    reason: str = ""
    aware_edits: list[AwareEdit] = Field(default_factory=list)
    reminders_sent: list[str] = Field(default_factory=list, description="labels of the reminders sent")
    reports: list[AuthorityReport] = Field(default_factory=list)
    initial_report_path: str | None = None
    complete_report_path: str | None = None

    @property
    def deadline(self) -> datetime:
        return self.aware_at + timedelta(days=self.case.days)

    def reported(self, kind: Literal["initial", "complete"]) -> AuthorityReport | None:
        """The authority was informed: a complete report also counts as the initial one."""
        kinds = {"initial": ("initial", "complete"), "complete": ("complete",)}[kind]
        return next((r for r in self.reports if r.kind in kinds), None)


class SeriousMark(HumanAction):
    """`firebreak serious INC --case ...`: mark (or re-classify) a serious incident; `comment` says why."""

    case: SeriousCase
    aware_at: datetime | None = Field(default=None, description="when the provider became aware (default: now)")


class AwareChange(HumanAction):
    """`firebreak serious INC --aware-at T --reason R`: correct when the provider became aware."""

    aware_at: datetime


class ReportFiled(HumanAction):
    """`firebreak serious INC --reported REF`: the report went to the authority under this reference."""

    kind: Literal["initial", "complete"] = "initial"
    reference: str = Field(min_length=1, max_length=200)
    reported_at: datetime | None = Field(default=None, description="when it was sent (default: now)")


def rule_case(detection: Detection, playbook: Playbook) -> SeriousCase | None:
    """The strictest serious-incident case named by a severity rule the detection matches."""
    cases = [r.serious for r in playbook.severity.rules if r.serious is not None and matches(r, detection)]
    return min(cases, key=lambda c: c.days) if cases else None


def reminder_times(serious: SeriousIncident, cfg: SeriousConfig, now: datetime) -> list[tuple[str, datetime]]:
    """Every reminder up to the first one after `now`, in order: before the deadline, at it, then overdue."""
    deadline = serious.deadline
    times = [(f"before-{h:g}h", deadline - timedelta(hours=h)) for h in cfg.reminder_hours_before]
    times.append(("deadline", deadline))
    n = 1
    while times[-1][1] <= now:
        times.append((f"overdue-{n}", deadline + timedelta(hours=cfg.overdue_every_hours * n)))
        n += 1
    return times
