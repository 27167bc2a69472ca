"""The incident domain: what a detection, an approval, a timeline entry and an incident's state are.

These models cross every boundary (HTTP, CLI, Temporal payloads, artefact files), so they stay free of
side effects and import only the standard library and pydantic.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Severity(StrEnum):
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"

    @property
    def rank(self) -> int:
        """1 is the most severe."""
        return int(self.value[-1])


class SignalKind(StrEnum):
    """The seed's 'signals to watch', one value per kind of AI incident."""

    TOXICITY = "toxicity"
    HALLUCINATION = "hallucination"
    COMPLIANCE = "compliance"
    LATENCY_SPIKE = "latency_spike"
    COST_SPIKE = "cost_spike"
    AGENT_LOOP = "agent_loop"
    PII_IN_LOGS = "pii_in_logs"
    RESTRICTED_TRAINING_DATA = "restricted_training_data"
    OTHER = "other"

    @property
    def family(self) -> str:
        return {
            "toxicity": "guardrail_breach",
            "hallucination": "guardrail_breach",
            "compliance": "guardrail_breach",
            "latency_spike": "latency_or_cost",
            "cost_spike": "latency_or_cost",
            "agent_loop": "latency_or_cost",
            "pii_in_logs": "data_exposure",
            "restricted_training_data": "data_exposure",
        }.get(self.value, "other")


class Role(StrEnum):
    INCIDENT_COMMANDER = "incident_commander"
    AI_OPS = "ai_ops"
    DOMAIN_SME = "domain_sme"
    COMMUNICATIONS = "communications"


class Step(StrEnum):
    """The seed's response checklist, in its order."""

    DETECT = "detect"
    STABILISE = "stabilise"
    CONTAIN = "contain"
    INVESTIGATE = "investigate"
    REMEDIATE = "remediate"
    COMMUNICATE = "communicate"
    REVIEW = "review"


class IncidentStatus(StrEnum):
    OPEN = "open"  # detected, waiting for acknowledgement
    ACKNOWLEDGED = "acknowledged"  # working through stabilise .. remediate
    MONITORING = "monitoring"  # steps done, waiting for resolution
    RESOLVED = "resolved"  # in review, waiting for the retrospective
    CLOSED = "closed"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Detection(BaseModel):
    """One alert about an AI system, normalised from whatever sent it."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(default="manual", description="who raised it: alertmanager, grafana, langfuse, cli ...")
    kind: SignalKind
    services: list[str] = Field(min_length=1, description="affected services, first is the primary one")
    summary: str = ""
    model: str | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    deploy_id: str | None = Field(default=None, description="the last deploy before the detection")
    metrics: dict[str, float] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    links: list[str] = Field(default_factory=list)
    severity_hint: Severity | None = None
    fingerprint: str | None = Field(default=None, description="the source's own grouping key; same key, same incident")
    alert_id: str | None = Field(default=None, description="this alert's identity; repeats are counted once")
    firing: bool = Field(default=True, description="false when the source says the alert resolved")
    detected_at: datetime = Field(default_factory=utcnow)

    @field_validator("detected_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    @field_validator("services")
    @classmethod
    def _services_named(cls, value: list[str]) -> list[str]:
        cleaned = [s.strip() for s in value if s.strip()]
        if not cleaned:
            raise ValueError("name at least one affected service")
        return cleaned

    def incident_fingerprint(self) -> str:
        """The source's key when it has one, else a hash of what identifies the problem."""
        if self.fingerprint:
            return self.fingerprint
        basis = {"kind": self.kind.value, "services": sorted(self.services), "labels": self.labels,
                 "model": self.model, "prompt": self.prompt_name}
        return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]

    def identity(self) -> str:
        """The id repeats of this alert share."""
        if self.alert_id:
            return self.alert_id
        basis = {"fp": self.incident_fingerprint(), "at": self.detected_at.isoformat(), "metrics": self.metrics}
        return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]


def workflow_id_for(detection: Detection) -> str:
    """`incident-<fingerprint>`; a fingerprint that is not safe as it is (other characters than letters, digits,
    '-', '_', '.', or too long) is cut and made safe, then gets a hash of the whole, so that two fingerprints
    never share an incident by accident (`probe fp`, `probe\\0fp` and `probe-fp` are three incidents)."""
    fingerprint = detection.incident_fingerprint()
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in fingerprint)
    if safe == fingerprint and len(safe) <= 191:
        return f"incident-{safe}"
    digest = hashlib.sha256(fingerprint.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"incident-{safe[:174]}-{digest}"


class Actor(BaseModel):
    """A person acting in a role; checked against the roster by the workflow."""

    by: str
    role: Role


class HumanAction(Actor):
    """Common fields of every human signal. action_id lets the sender find out what became of it."""

    action_id: str = ""
    comment: str = ""


BRIEF_TEXT_LIMIT = 20_000


class Decision(HumanAction):
    request_id: str
    text: str | None = Field(default=None, max_length=BRIEF_TEXT_LIMIT,
                             description="approving a brief: the edited text to send instead of the draft")


class SeverityChange(HumanAction):
    severity: Severity


class RoleAssignment(HumanAction):
    person: str
    assign_role: Role


class Resolution(HumanAction):
    """Resolve, choosing keep or undo for each mitigation still in place (no choice: keep, recorded as such)."""

    keep: list[str] = Field(default_factory=list, description="mitigations to leave in place")
    undo: list[str] = Field(default_factory=list, description="mitigations to reverse now")
    override_regressions: str = Field(default="", description="resolve although the regression suite fails: why")


class ActionItem(BaseModel):
    what: str
    owner: str
    due: datetime | None = None


# OWASP Top 10 for LLM Applications (2025) and NIST AI 600-1 risk categories, for the risk register.
OWASP_LLM_2025 = {
    "LLM01": "Prompt Injection", "LLM02": "Sensitive Information Disclosure", "LLM03": "Supply Chain",
    "LLM04": "Data and Model Poisoning", "LLM05": "Improper Output Handling", "LLM06": "Excessive Agency",
    "LLM07": "System Prompt Leakage", "LLM08": "Vector and Embedding Weaknesses", "LLM09": "Misinformation",
    "LLM10": "Unbounded Consumption",
}
NIST_AI_600_1 = (
    "CBRN Information or Capabilities", "Confabulation", "Dangerous, Violent, or Hateful Content", "Data Privacy",
    "Environmental Impacts", "Harmful Bias or Homogenization", "Human-AI Configuration", "Information Integrity",
    "Information Security", "Intellectual Property", "Obscene, Degrading, and/or Abusive Content",
    "Value Chain and Component Integration",
)


class RiskAssessment(BaseModel):
    """Fields a retrospective may set to override the defaults for the incident's signal kind."""

    failure_mode: str | None = None
    harm_type: str | None = None
    harm_severity: str | None = None
    owasp_llm: list[str] | None = Field(default=None, description="OWASP LLM Top 10 (2025) ids, e.g. LLM09")
    nist_ai_600_1: list[str] | None = Field(default=None, description="NIST AI 600-1 risk names")
    notes: str = ""

    @field_validator("owasp_llm")
    @classmethod
    def _owasp(cls, value: list[str] | None) -> list[str] | None:
        unknown = [v for v in value or [] if v not in OWASP_LLM_2025]
        if unknown:
            raise ValueError(f"unknown OWASP LLM Top 10 ids {unknown}; use {', '.join(OWASP_LLM_2025)}")
        return value

    @field_validator("nist_ai_600_1")
    @classmethod
    def _nist(cls, value: list[str] | None) -> list[str] | None:
        unknown = [v for v in value or [] if v not in NIST_AI_600_1]
        if unknown:
            raise ValueError(f"unknown NIST AI 600-1 risks {unknown}; use one of: {'; '.join(NIST_AI_600_1)}")
        return value


class RetrospectiveNotes(HumanAction):
    """What the review meeting concluded; turns the retrospective draft into the record."""

    root_cause: str
    contributing_factors: list[str] = Field(default_factory=list)
    preventative_actions: list[str] = Field(default_factory=list)
    action_items: list[ActionItem] = Field(default_factory=list)
    went_well: list[str] = Field(default_factory=list)
    went_badly: list[str] = Field(default_factory=list)
    risk: RiskAssessment | None = Field(default=None, description="overrides for the risk register entry")


class TimelineEntry(BaseModel):
    at: datetime
    step: Step
    actor: str
    role: str
    what: str
    details: dict[str, Any] = Field(default_factory=dict)


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class ApprovalRequest(BaseModel):
    request_id: str
    step: Step
    subject: str = Field(description="the action or brief waiting for a decision")
    why: str
    role: Role
    requested_at: datetime
    deadline: datetime
    escalated_to: list[str] = Field(default_factory=list)
    severity: Severity | None = Field(default=None, description="the incident's severity when it was asked")
    status: ApprovalStatus = ApprovalStatus.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str = ""
    text: str | None = Field(default=None, description="a brief's text as edited by whoever approved it")


class ActionOutcome(BaseModel):
    """What the workflow did with one human action, for the sender to read back."""

    action_id: str
    accepted: bool
    message: str


class Ticket(BaseModel):
    key: str
    url: str
    backend: str


class MitigationRecord(BaseModel):
    step: Step
    action: str
    outcome: str  # done | failed | skipped | rejected | expired | held
    detail: str = ""
    at: datetime
    snapshot: str | None = Field(default=None, description="the evidence frozen before the action (path, sha256)")


class Brief(BaseModel):
    """One templated stakeholder update."""

    incident_number: str
    seq: int
    severity: Severity
    status: IncidentStatus
    title: str
    text: str
    drafted_at: datetime
    next_update_due: datetime | None = None
    audience: str = "responders"
    shape: str = "tactical"
    draft_text: str | None = Field(default=None, description="the draft as drafted, when the approver edited it")
    edited_by: str | None = None


class PlaybookRef(BaseModel):
    """Where the worker's playbook came from, for the record."""

    path: str
    sha256: str
