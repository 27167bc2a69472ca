"""The templated incident brief (the seed's 'communicate' step): what happened, impact, actions, next steps."""

from __future__ import annotations

from datetime import datetime

from playbook.models import Brief, IncidentStatus
from playbook.state import IncidentState

_NEXT_STEPS = {
    IncidentStatus.OPEN: "Waiting for the incident commander to acknowledge.",
    IncidentStatus.ACKNOWLEDGED: "Working through stabilise, contain, investigate and remediate.",
    IncidentStatus.MONITORING: "Mitigations are in place; monitoring before resolving.",
    IncidentStatus.RESOLVED: "Resolved; the retrospective is due within 48 hours.",
    IncidentStatus.CLOSED: "Closed.",
}


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "not scheduled"


def draft_brief(state: IncidentState, seq: int, drafted_at: datetime, next_update_due: datetime | None) -> Brief:
    d = state.detection
    number = state.number or state.workflow_id
    metrics = ", ".join(f"{k}={v:g}" for k, v in sorted(d.metrics.items())) or "none reported"
    actions = [f"- {m.step.value}: {m.action} — {m.outcome}{f' ({m.detail})' if m.detail else ''}"
               for m in state.mitigations] or ["- none yet"]
    title = f"[{state.severity.value}] {number} update #{seq}: {d.kind.value} on {', '.join(d.services)}"
    text = "\n".join([
        f"# {title}",
        "",
        "## What happened",
        f"{d.summary or d.kind.value + ' detected'} (detected {_when(d.detected_at)} by {d.source}; "
        f"{state.alert_count} alert(s)).",
        "",
        "## Impact",
        f"Affected services: {', '.join(d.services)}. Model: {d.model or 'unknown'}. "
        f"Prompt: {d.prompt_name or 'unknown'}"
        f"{f' v{d.prompt_version}' if d.prompt_version is not None else ''}. Metrics: {metrics}.",
        "",
        "## Actions taken",
        *actions,
        "",
        "## Next steps",
        f"Status: {state.status.value}; current step: {state.step.value}. {_NEXT_STEPS[state.status]}",
        "",
        f"Next update: {_when(next_update_due)}.",
    ])
    return Brief(incident_number=number, seq=seq, severity=state.severity, status=state.status, title=title,
                 text=text, drafted_at=drafted_at, next_update_due=next_update_due)
