"""Inputs and results of the step activities: the fixed contract between workflows and activities.

Every input that causes a side effect carries an idempotency `key` derived from the incident and the step,
never from attempt-specific data, so a retried or replayed activity finds its earlier work instead of
repeating it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from playbook.config import Action, Channel, EvidenceSource, Playbook, SlackChannel, TicketConfig
from playbook.drill import DrillInfo
from playbook.models import Brief, Detection, IncidentStatus, PlaybookRef, Severity, Step, Ticket
from playbook.remedy import UndoPlan
from playbook.state import IncidentState


class OpenIncidentInput(BaseModel):
    workflow_id: str
    chain_id: str = Field(description="the first run id of the incident; keys the incident number")
    detection: Detection
    drill: DrillInfo | None = None
    ticket_opened_at: datetime | None = Field(default=None, description="open-ticket-v1: when set, the activity "
                                              "also opens the incident's ticket (this its opened_at) if the "
                                              "playbook keeps tickets locally; None (histories before): it does not")


class OpenedIncident(BaseModel):
    number: str
    severity: Severity
    severity_reason: str
    playbook: Playbook
    playbook_ref: PlaybookRef
    last_deploy: str | None = Field(default=None, description="the deploy log's last deploy of the incident's "
                                    "prompt before detection, when the detection names none")
    ticket: Ticket | None = Field(default=None, description="the local ticket, opened in the same activity "
                                  "(open-ticket-v1); None: the workflow opens it with create_ticket")


class TicketInput(BaseModel):
    workflow_id: str
    number: str
    severity: Severity
    detection: Detection
    opened_at: datetime
    tickets: TicketConfig | None = Field(default=None, description="the incident's [tickets]; None (histories "
                                         "before trackers): the local backend")


class TicketUpdate(BaseModel):
    ticket: Ticket
    key: str
    text: str
    severity: Severity
    status: IncidentStatus
    tickets: TicketConfig | None = Field(default=None, description="the incident's [tickets]; None: the local "
                                         "backend's, or the worker's playbook's for a tracker")


class ItemTicketInput(BaseModel):
    """An action item's own issue in the tracker, linked to the incident's ticket."""

    workflow_id: str = Field(description="the ActionItemWorkflow's id, carried in the issue's label")
    incident_number: str
    incident_ticket: Ticket
    tickets: TicketConfig
    seq: int
    what: str
    owner: str
    due: datetime | None = None


class ItemTicketClose(BaseModel):
    """Done in Firebreak: say so on the item's issue and close it."""

    ticket: Ticket
    tickets: TicketConfig
    done_by: str
    note: str = ""


class Notification(BaseModel):
    key: str
    incident_number: str
    to: list[str]
    contacts: dict[str, str] = Field(default_factory=dict)
    subject: str
    text: str
    channels: dict[str, Channel] = Field(default_factory=dict)


class ActionRun(BaseModel):
    key: str
    incident_number: str
    step: Step
    name: str
    action: Action
    variables: dict[str, str | int | None]
    snapshot: str | None = Field(default=None, description="the evidence frozen before it ran (path and sha256)")


class ActionResult(BaseModel):
    ok: bool
    detail: str
    status_code: int | None = None
    undo: UndoPlan | None = Field(default=None, description="how to reverse what the action did, when known")


class EvidenceInput(BaseModel):
    incident_number: str
    workflow_id: str
    detection: Detection
    sources: dict[str, EvidenceSource]
    variables: dict[str, str | int | None]


class EvidenceItem(BaseModel):
    name: str
    source: str
    fetched_at: datetime
    sha256: str | None = None
    path: str | None = None
    size: int = 0
    error: str | None = None
    summary: str | None = Field(default=None, description="one line on what the item holds (e.g. the last deploys)")


class EvidencePack(BaseModel):
    manifest_path: str
    items: list[EvidenceItem]


class BriefInput(BaseModel):
    state: IncidentState
    seq: int
    next_update_due: datetime | None
    audience: str = "responders"
    shape: str = "tactical"


class SendBrief(BaseModel):
    key: str
    channel: str
    channel_config: Channel | None = None
    brief: Brief
    approved_by: str
    released_by: str | None = Field(default=None, description="who in the communications role released it")
    external_id: str | None = Field(default=None, description="e.g. the Statuspage incident this channel updates")


class SendResult(BaseModel):
    channel: str
    delivered: bool
    detail: str
    archive_path: str | None = None
    external_id: str | None = None


class ApprovalPost(BaseModel):
    """An approval request posted to Slack with Approve / Reject buttons."""

    key: str
    incident_number: str
    request_id: str
    channel: str
    channel_config: SlackChannel
    subject: str
    why: str
    text: str
    editable: bool = True  # a brief's text may be edited before approving (the message says how); an action's not


class ApprovalDecided(ApprovalPost):
    """An approval request decided (from any source) or expired: its Slack messages lose their buttons."""

    line: str  # who decided and when, e.g. "Approved by olu (ai_ops) at 2026-11-30 04:41 UTC"


class RetrospectiveInput(BaseModel):
    state: IncidentState
    final: bool
