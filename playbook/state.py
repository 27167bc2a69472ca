"""An incident's whole state: what the state query returns and what continue-as-new carries.

The timeline is append-only and written through `IncidentState.record` alone, so the UI, `firebreak show`
and the retrospective all read the same story.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from playbook.alert_labels import SeenLabels
from playbook.config import Playbook
from playbook.drill import DrillInfo
from playbook.incident_channel import IncidentRoom
from playbook.models import (
    ActionItem,
    ActionOutcome,
    ApprovalRequest,
    ApprovalStatus,
    Detection,
    IncidentStatus,
    MitigationRecord,
    PlaybookRef,
    RetrospectiveNotes,
    Role,
    Severity,
    Step,
    Ticket,
    TimelineEntry,
)
from playbook.paging import PagingState
from playbook.remedy import AppliedMitigation, PatchResult, PatchText, RegressionRun
from playbook.serious import SeriousIncident

# Distinct alerts after this many are counted but summarised on the timeline, so a storm cannot flood it.
ALERTS_ON_TIMELINE = 20
ALERT_SUMMARY_EVERY = 100
# Outcomes of human actions kept for senders to read back.
OUTCOMES_KEPT = 200


class IncidentState(BaseModel):
    workflow_id: str
    number: str | None = None
    detection: Detection
    severity: Severity = Severity.SEV3
    severity_reason: str = ""
    status: IncidentStatus = IncidentStatus.OPEN
    step: Step = Step.DETECT
    playbook: Playbook | None = None
    playbook_ref: PlaybookRef | None = None
    ticket: Ticket | None = None
    alert_count: int = 0
    seen_alert_ids: list[str] = Field(default_factory=list)
    source_acknowledged_ids: list[str] = Field(default_factory=list,
                                               description="notes from the source, not alerts: acknowledgements "
                                                           "(PagerDuty), monitor states (Langfuse NO_DATA ...)")
    resolved_alert_ids: list[str] = Field(default_factory=list, description="alerts the source says resolved")
    labels_seen: SeenLabels = Field(default_factory=SeenLabels,
                                    description="every model and prompt the incident's alerts named")
    assignments: dict[str, list[Role]] = Field(default_factory=dict, description="roles given in this incident")
    timeline: list[TimelineEntry] = Field(default_factory=list)
    approvals: list[ApprovalRequest] = Field(default_factory=list)
    mitigations: list[MitigationRecord] = Field(default_factory=list)
    in_place: list[AppliedMitigation] = Field(default_factory=list,
                                              description="the undo registry: applied mitigations and their undo")
    regressions: list[RegressionRun] = Field(default_factory=list, description="regression suite runs, in order")
    candidates: list[PatchResult] = Field(default_factory=list, description="prompt patch candidates made")
    regression_override: str = Field(default="", description="why the incident was resolved with failing regressions")
    pending_retests: int = Field(default=0, description="accepted `firebreak retest` requests not run yet (kept "
                                 "here so they survive continue-as-new)")
    pending_patches: list[PatchText] = Field(default_factory=list, description="accepted `firebreak patch` texts "
                                             "not turned into candidates yet")
    patches_received: int = Field(default=0, description="how many `firebreak patch` texts were accepted (their seq)")
    steps_done: list[Step] = Field(default_factory=list)
    outcomes: list[ActionOutcome] = Field(default_factory=list)
    opened_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    ack_paged: bool = False
    ack_escalated_to: list[str] = Field(default_factory=list)
    ack_exhausted: bool = False
    paging: PagingState | None = None  # set when paging ran under the paging-v1 marker
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution_summary: str = ""
    closed_at: datetime | None = None
    brief_seq: int = 0
    briefs_sent: int = 0
    next_brief_due: datetime | None = None
    channel_refs: dict[str, str] = Field(default_factory=dict,
                                         description="per brief channel, what later briefs update "
                                                     "(the Statuspage incident id)")
    evidence_manifest: str | None = None
    findings: list[str] = Field(default_factory=list,
                                description="one-line summaries from the evidence pack (blast radius, last deploys)")
    retrospective_due: datetime | None = None
    review_reminders_sent: int = 0
    review_escalated: bool = False
    retrospective: RetrospectiveNotes | None = None
    retrospective_path: str | None = None
    serious: SeriousIncident | None = Field(default=None, description="marked a serious incident (EU AI Act Art. 73)")
    incident_room: IncidentRoom | None = Field(default=None, description="the incident's own Slack channel, once "
                                                                         "[communicate.incident_channel] made it")
    drill: DrillInfo | None = Field(default=None, description="a practice incident replaying a closed one")

    @property
    def service(self) -> str:
        return self.detection.services[0]

    def record(self, at: datetime, step: Step, actor: str, role: str, what: str,
               details: dict[str, Any] | None = None) -> TimelineEntry:
        entry = TimelineEntry(at=at, step=step, actor=actor, role=role, what=what, details=details or {})
        self.timeline.append(entry)
        return entry

    def paged_for(self, role: Role) -> str | None:
        """Who is paged for `role`: the last person given it in this incident, else the roster's first holder; None
        before the playbook is loaded, or for an optional role nobody holds (legal)."""
        assigned = [p for p, roles in self.assignments.items() if role in roles]
        if assigned:
            return assigned[-1]
        holders = self.playbook.roster.holders(role) if self.playbook else []
        return holders[0] if holders else None

    def pending_approvals(self) -> list[ApprovalRequest]:
        return [a for a in self.approvals if a.status == ApprovalStatus.PENDING]

    def approval(self, request_id: str) -> ApprovalRequest | None:
        return next((a for a in self.approvals if a.request_id == request_id), None)

    def roles_of(self, person: str) -> set[Role]:
        roles: set[Role] = set(self.assignments.get(person, []))
        if self.playbook and person in self.playbook.roster.people:
            roles.update(self.playbook.roster.people[person].roles)
        return roles

    def for_activity(self) -> IncidentState:
        """A copy without the dedup id lists, action outcomes and pending patch texts, which briefs and
        retrospectives never read: after a storm those lists hold thousands of ids, and every brief would carry
        them to the worker."""
        return self.model_copy(update={"seen_alert_ids": [], "resolved_alert_ids": [],
                                       "source_acknowledged_ids": [], "outcomes": [], "pending_patches": []})

    def outcome(self, action_id: str) -> ActionOutcome | None:
        return next((o for o in reversed(self.outcomes) if o.action_id == action_id), None)

    def remember_outcome(self, outcome: ActionOutcome) -> None:
        if not outcome.action_id:
            return
        self.outcomes.append(outcome)
        del self.outcomes[:-OUTCOMES_KEPT]


class IncidentInput(BaseModel):
    """Start input: the first detection, or the carried state when continuing as new."""

    detection: Detection
    carried: IncidentState | None = None
    drill: DrillInfo | None = None


class IncidentSummary(BaseModel):
    """What the workflow returns when the incident closes."""

    workflow_id: str
    number: str | None
    severity: Severity
    status: IncidentStatus
    alert_count: int
    briefs_sent: int
    retrospective_path: str | None


class ActionItemInput(BaseModel):
    """One retrospective action item to chase until its owner marks it done."""

    incident_number: str
    incident_workflow_id: str
    seq: int
    item: ActionItem
    assigned_at: datetime
    playbook: Playbook
    escalate_to: str
    incident_ticket: Ticket | None = Field(default=None, description="the incident's ticket: in a tracker, the "
                                           "item gets an issue of its own linked to it")
    item_ticket: Ticket | None = Field(default=None, description="the item's issue, carried across "
                                       "continue-as-new")


class ClosedInTracker(BaseModel):
    """The item's issue was closed in the tracker (intake/tracker_webhooks.py): the item is done in Firebreak."""

    tracker: str
    key: str
    by: str = Field(description="who closed it, as the tracker names them")
    url: str = ""


class ActionItemState(BaseModel):
    incident_number: str
    seq: int
    item: ActionItem
    status: str = "open"  # open | done
    reminders_sent: int = 0
    escalated: bool = False
    done_by: str | None = None
    done_at: datetime | None = None
    note: str = ""
    outcomes: list[ActionOutcome] = Field(default_factory=list)
    ticket: Ticket | None = Field(default=None, description="the item's issue in the tracker")
    closed_in_tracker: bool = False
