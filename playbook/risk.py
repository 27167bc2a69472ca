"""The risk register's taxonomy: what kind of AI failure an incident was, in the terms risk teams use.

Defaults come from the signal kind (OWASP Top 10 for LLM Applications 2025, NIST AI 600-1 Generative AI
Profile risk categories); the retrospective may override any field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from playbook.models import RiskAssessment, Severity, SignalKind
from playbook.serious_report import serious_summary
from playbook.state import IncidentState

RISK_REGISTER = "_risk_register"  # its folder in the artefact store: <artefacts>/_risk_register/<number>.json


class RiskEntry(BaseModel):
    incident: str
    workflow_id: str
    recorded_at: datetime
    kind: SignalKind
    services: list[str]
    severity: Severity
    failure_mode: str
    harm_type: str
    harm_severity: str
    owasp_llm: list[str]
    nist_ai_600_1: list[str]
    mitre_atlas: list[str] = []  # MITRE ATLAS technique ids (playbook/atlas.py)
    root_cause: str | None
    regression_suite: str | None
    retrospective: str | None
    notes: str = ""
    serious_incident: dict[str, Any] | None = None  # EU AI Act Art. 73: case, deadline, reports filed


_DEFAULTS: dict[SignalKind, tuple[str, str, list[str], list[str]]] = {
    SignalKind.TOXICITY: ("harmful output", "toxic or abusive content reached users", ["LLM05"],
                          ["Dangerous, Violent, or Hateful Content", "Obscene, Degrading, and/or Abusive Content"]),
    SignalKind.HALLUCINATION: ("confabulated output", "users received false information", ["LLM09"],
                               ["Confabulation", "Information Integrity"]),
    SignalKind.COMPLIANCE: ("policy-violating output", "regulatory or policy breach", ["LLM05"],
                            ["Information Integrity"]),
    SignalKind.LATENCY_SPIKE: ("degraded service", "slow or failed responses", ["LLM10"],
                               ["Value Chain and Component Integration"]),
    SignalKind.COST_SPIKE: ("runaway consumption", "unplanned spend", ["LLM10"], ["Environmental Impacts"]),
    SignalKind.AGENT_LOOP: ("runaway agent", "unbounded tool use and spend", ["LLM06", "LLM10"],
                            ["Human-AI Configuration"]),
    SignalKind.PII_IN_LOGS: ("data exposure", "personal data disclosed", ["LLM02"], ["Data Privacy"]),
    SignalKind.RESTRICTED_TRAINING_DATA: ("restricted data use", "training on data without the right to use it",
                                          ["LLM02", "LLM04"], ["Data Privacy", "Intellectual Property"]),
    SignalKind.OTHER: ("other", "unclassified", [], []),
}

# MITRE ATLAS techniques an incident of this kind most likely shows when it was an attack; none where the kind
# is not one (a hallucination, a restricted-data finding). The retrospective overrides them (`--atlas`).
_ATLAS_DEFAULTS: dict[SignalKind, list[str]] = {
    SignalKind.TOXICITY: ["AML.T0054"],          # LLM Jailbreak
    SignalKind.COMPLIANCE: ["AML.T0051"],        # LLM Prompt Injection
    SignalKind.LATENCY_SPIKE: ["AML.T0029"],     # Denial of AI Service
    SignalKind.COST_SPIKE: ["AML.T0034"],        # Cost Harvesting
    SignalKind.AGENT_LOOP: ["AML.T0034.002"],    # Agentic Resource Consumption
    SignalKind.PII_IN_LOGS: ["AML.T0057"],       # LLM Data Leakage
}


def atlas_for(kind: SignalKind, override: RiskAssessment | None) -> list[str]:
    if override is not None and override.mitre_atlas is not None:
        return override.mitre_atlas
    return list(_ATLAS_DEFAULTS.get(kind, []))


_HARM_SEVERITY = {Severity.SEV1: "critical", Severity.SEV2: "high", Severity.SEV3: "moderate", Severity.SEV4: "low"}


def classify_risk(kind: SignalKind, severity: Severity,
                  override: RiskAssessment | None) -> tuple[str, str, str, list[str], list[str]]:
    """(failure mode, harm type, harm severity, OWASP ids, NIST risks), overrides applied."""
    mode, harm, owasp, nist = _DEFAULTS[kind]
    o = override or RiskAssessment()
    return (o.failure_mode or mode, o.harm_type or harm, o.harm_severity or _HARM_SEVERITY[severity],
            o.owasp_llm if o.owasp_llm is not None else owasp, o.nist_ai_600_1 if o.nist_ai_600_1 is not None else nist)


def risk_entry(state: IncidentState, recorded_at: datetime, regression_suite: str | None) -> RiskEntry:
    """One register entry for a closed incident, from its state and its retrospective's overrides."""
    notes = state.retrospective
    mode, harm, harm_severity, owasp, nist = classify_risk(state.detection.kind, state.severity,
                                                            notes.risk if notes else None)
    return RiskEntry(incident=state.number or state.workflow_id, workflow_id=state.workflow_id,
                     recorded_at=recorded_at, kind=state.detection.kind, services=state.detection.services,
                     severity=state.severity, failure_mode=mode, harm_type=harm, harm_severity=harm_severity,
                     owasp_llm=owasp, nist_ai_600_1=nist,
                     mitre_atlas=atlas_for(state.detection.kind, notes.risk if notes else None),
                     root_cause=notes.root_cause if notes else None,
                     regression_suite=regression_suite, retrospective=state.retrospective_path,
                     notes=notes.risk.notes if notes and notes.risk else "",
                     serious_incident=serious_summary(state.serious))
