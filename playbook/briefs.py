"""The templated incident briefs (the seed's 'communicate' step), one per audience, in two shapes.

- tactical (responders): what happened, the metrics, the actions taken and by whom, what waits for whom, next steps;
- executive (leadership, legal, customers): impact, risk and decisions in plain words, without the operational
  detail. Legal gets the data and the evidence kept; customers get only what may be said in public (no models,
  prompts, metrics, deploys or people).

An audience the templates do not know by name gets its shape's general template (responders' or leadership's).

A brief drafted once the incident is resolved is its closing brief, in the same shapes: tactical says what
happened, what was done, which mitigations were kept or undone and the follow-ups (the retrospective's due date);
executive the impact's duration, the status and the retrospective; legal adds the data obligations to close;
customers get the public "resolved" wording only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from playbook.models import Brief, IncidentStatus
from playbook.state import IncidentState
from playbook.times import utc_text

_NEXT_STEPS = {
    IncidentStatus.OPEN: "Waiting for the incident commander to acknowledge.",
    IncidentStatus.ACKNOWLEDGED: "Working through stabilise, contain, investigate and remediate.",
    IncidentStatus.MONITORING: "Mitigations are in place; monitoring before resolving.",
    IncidentStatus.RESOLVED: "Resolved; the retrospective is due within 48 hours.",
    IncidentStatus.CLOSED: "Closed.",
}
_RISK = {
    "guardrail_breach": "Users may have received harmful, wrong or non-compliant answers: customer harm, "
                        "reputation and compliance risk.",
    "latency_or_cost": "Slow or failed answers and runaway spend: availability and budget risk.",
    "data_exposure": "Personal or restricted data may have been exposed: legal, regulatory and trust risk.",
    "other": "Service quality risk; the impact is being assessed.",
}
_PUBLIC_STATUS = {
    IncidentStatus.OPEN: "We are investigating",
    IncidentStatus.ACKNOWLEDGED: "We are investigating and working on a fix for",
    IncidentStatus.MONITORING: "A fix is in place and we are monitoring",
    IncidentStatus.RESOLVED: "We have resolved",
    IncidentStatus.CLOSED: "We have resolved",
}
_PUBLIC_WHAT = {
    "guardrail_breach": "some answers from our AI assistant that did not meet our quality and safety standards",
    "latency_or_cost": "slow or failing answers from our AI assistant",
    "data_exposure": "a problem that may have affected the handling of some data",
    "other": "a problem affecting our AI assistant",
}


def _when(value: datetime | None) -> str:
    return utc_text(value, "%Y-%m-%d %H:%M UTC", "not scheduled")


def _actions(state: IncidentState) -> list[str]:
    return [f"- {m.step.value}: {m.action} — {m.outcome}{f' ({m.detail})' if m.detail else ''}"
            for m in state.mitigations] or ["- none yet"]


def _tactical(state: IncidentState, seq: int, next_due: datetime | None, audience: str) -> tuple[str, list[str]]:
    d = state.detection
    number = state.number or state.workflow_id
    metrics = ", ".join(f"{k}={v:g}" for k, v in sorted(d.metrics.items())) or "none reported"
    label = "" if audience == "responders" else f" ({audience})"
    title = f"[{state.severity.value}] {number} update #{seq}{label}: {d.kind.value} on {', '.join(d.services)}"
    waiting = [f"- {a.request_id}: {a.subject[:100]} (waits for {a.role.value})" for a in state.pending_approvals()]
    owners = f"Incident commander: {state.acknowledged_by or 'not acknowledged yet'}."
    return title, [
        "## What happened",
        f"{d.summary or d.kind.value + ' detected'} (detected {_when(d.detected_at)} by {d.source}; "
        f"{state.alert_count} alert(s)).",
        "",
        "## Impact",
        f"Affected services: {', '.join(d.services)}. Model: {d.model or 'unknown'}. "
        f"Prompt: {d.prompt_name or 'unknown'}"
        f"{f' v{d.prompt_version}' if d.prompt_version is not None else ''}. Metrics: {metrics}."
        + (f" Last deploy: {d.deploy_id}." if d.deploy_id else ""),
        *_findings(state),
        "",
        "## Actions taken",
        *_actions(state),
        "",
        "## Next steps",
        f"Status: {state.status.value}; current step: {state.step.value}. {_NEXT_STEPS[state.status]} {owners}",
        *(["", "## Waiting for decisions", *waiting] if waiting else []),
        "",
        f"Next update: {_when(next_due)}.",
    ]


def _findings(state: IncidentState) -> list[str]:
    """The investigate step's one-line findings (blast radius, last deploys), for internal audiences only."""
    return [f"- {line}" for line in state.findings]


def _executive(state: IncidentState, seq: int, next_due: datetime | None, audience: str) -> tuple[str, list[str]]:
    d = state.detection
    number = state.number or state.workflow_id
    family = d.kind.family
    done = [m for m in state.mitigations if m.outcome == "done"]
    title = f"[{state.severity.value}] {number} executive update #{seq}" + (
        "" if audience == "leadership" else f" ({audience})") + f": {d.kind.value.replace('_', ' ')} on " \
        f"{', '.join(d.services)}"
    decisions = [f"- {a.subject[:100]} (waits for {a.role.value})" for a in state.pending_approvals()
                 if not a.request_id.startswith("brief-")]
    return title, [
        "## Summary",
        f"{state.severity.value} incident on {', '.join(d.services)} since {_when(d.detected_at)}: "
        f"{d.summary or d.kind.value.replace('_', ' ')}. Status: {state.status.value}.",
        "",
        "## Business impact and risk",
        _RISK[family],
        *_findings(state),
        "",
        "## What we have done",
        f"{len(done)} mitigation(s) in place" + (f": {', '.join(m.action.replace('_', ' ') for m in done)}."
                                                 if done else "; the response team is on it."),
        "",
        "## Decisions",
        *(decisions or ["- none needed from you now"]),
        "",
        f"Next update: {_when(next_due)}.",
    ]


def _legal(state: IncidentState, seq: int, next_due: datetime | None, audience: str) -> tuple[str, list[str]]:
    title, body = _executive(state, seq, next_due, audience)
    d = state.detection
    exposure = d.kind.family == "data_exposure"
    return title.replace("executive update", "legal update"), [
        *body[:-2],
        "## Data and obligations",
        ("Personal or restricted data may be involved (" + d.kind.value.replace("_", " ") + "). Assess notification "
         "obligations (regulators, customers, partners) and their deadlines now.") if exposure else
        "No personal-data exposure is indicated so far; output-quality and compliance exposure is being assessed.",
        "",
        "## Evidence kept",
        f"Evidence pack: {state.evidence_manifest}." if state.evidence_manifest else
        "The evidence pack is being collected (investigate step).",
        "",
        *body[-1:],
    ]


def _customers(state: IncidentState, seq: int, next_due: datetime | None, audience: str) -> tuple[str, list[str]]:
    d = state.detection
    family = d.kind.family
    title = f"{_PUBLIC_STATUS[state.status]} {_PUBLIC_WHAT[family]}"
    services = ", ".join(d.services)
    return title, [
        f"{_PUBLIC_STATUS[state.status]} {_PUBLIC_WHAT[family]} ({services}), first seen {_when(d.detected_at)}.",
        "",
        "We have taken steps to limit the impact and will share more as we learn it."
        if state.status in (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED) else
        "The affected behaviour has been stopped; we continue to watch closely.",
        "",
        f"Next update by {_when(next_due)}.",
    ]


def _duration(state: IncidentState) -> str:
    start, end = state.detection.detected_at, state.resolved_at
    if start is None or end is None:
        return "unknown"
    minutes = max(0, int((end - start).total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _follow_ups(state: IncidentState) -> str:
    return f"Retrospective due by {_when(state.retrospective_due)}."


def _kept_and_undone(state: IncidentState) -> list[str]:
    """What became of each mitigation in place at resolution (kept, undone ...), when the undo registry has it."""
    return [f"- {m.name} ({m.step.value}): {m.outcome.replace('_', ' ')}"
            + (f" — {m.outcome_detail}" if m.outcome_detail else "") for m in state.in_place]


def _final_tactical(state: IncidentState, seq: int, next_due: datetime | None,
                    audience: str) -> tuple[str, list[str]]:
    d = state.detection
    number = state.number or state.workflow_id
    label = "" if audience == "responders" else f" ({audience})"
    title = f"[{state.severity.value}] {number} resolved{label}: {d.kind.value} on {', '.join(d.services)}"
    kept = _kept_and_undone(state)
    return title, [
        "## What happened",
        f"{d.summary or d.kind.value + ' detected'} (detected {_when(d.detected_at)} by {d.source}; "
        f"{state.alert_count} alert(s)). Resolved {_when(state.resolved_at)} by {state.resolved_by or 'unknown'}"
        f" after {_duration(state)}" + (f": {state.resolution_summary}." if state.resolution_summary else "."),
        *_findings(state),
        "",
        "## What was done",
        *_actions(state),
        *(["", "## Mitigations at resolution", *kept] if kept else []),
        "",
        "## Follow-ups",
        f"{_follow_ups(state)} Incident commander: {state.acknowledged_by or 'not recorded'}.",
    ]


def _final_executive(state: IncidentState, seq: int, next_due: datetime | None,
                     audience: str) -> tuple[str, list[str]]:
    d = state.detection
    number = state.number or state.workflow_id
    done = [m for m in state.mitigations if m.outcome == "done"]
    title = f"[{state.severity.value}] {number} resolved" + (
        "" if audience == "leadership" else f" ({audience})") + f": {d.kind.value.replace('_', ' ')} on " \
        f"{', '.join(d.services)}"
    return title, [
        "## Summary",
        f"{state.severity.value} incident on {', '.join(d.services)}: "
        f"{d.summary or d.kind.value.replace('_', ' ')}. Status: resolved {_when(state.resolved_at)}.",
        "",
        "## Impact",
        f"Impact lasted {_duration(state)} (from {_when(d.detected_at)}). {_RISK[d.kind.family]}",
        "",
        "## What we did",
        f"{len(done)} mitigation(s)" + (f": {', '.join(m.action.replace('_', ' ') for m in done)}."
                                        if done else "."),
        "",
        "## Next",
        _follow_ups(state),
    ]


def _final_legal(state: IncidentState, seq: int, next_due: datetime | None,
                 audience: str) -> tuple[str, list[str]]:
    title, body = _final_executive(state, seq, next_due, audience)
    d = state.detection
    exposure = d.kind.family == "data_exposure"
    return title, [
        *body[:-2],
        "## Data obligations",
        ("Personal or restricted data may have been involved (" + d.kind.value.replace("_", " ") + "). Confirm "
         "that notifications owed (regulators, customers, partners) are made within their deadlines, and record "
         "the decision.") if exposure else
        "No personal-data exposure was indicated; confirm at the retrospective that no notification is owed.",
        f"Evidence pack kept: {state.evidence_manifest}." if state.evidence_manifest else
        "No evidence pack was collected.",
        "",
        *body[-2:],
    ]


def _final_customers(state: IncidentState, seq: int, next_due: datetime | None,
                     audience: str) -> tuple[str, list[str]]:
    d = state.detection
    what = _PUBLIC_WHAT[d.kind.family]
    title = f"Resolved: {what[0].upper()}{what[1:]}"
    return title, [
        f"This incident has been resolved. From {_when(d.detected_at)} to {_when(state.resolved_at)} we saw {what} "
        f"({', '.join(d.services)}).",
        "",
        "The issue is fixed and the service is working normally. We are reviewing what happened to prevent it "
        "from happening again. Thank you for your patience.",
    ]


Template = Callable[[IncidentState, int, datetime | None, str], tuple[str, list[str]]]
# Named templates and their shape; an audience uses its named template when the shapes agree.
TEMPLATES: dict[str, tuple[str, Template]] = {
    "responders": ("tactical", _tactical), "leadership": ("executive", _executive),
    "legal": ("executive", _legal), "customers": ("executive", _customers)}
SHAPES: dict[str, Template] = {"tactical": _tactical, "executive": _executive}
FINAL_TEMPLATES: dict[str, tuple[str, Template]] = {
    "responders": ("tactical", _final_tactical), "leadership": ("executive", _final_executive),
    "legal": ("executive", _final_legal), "customers": ("executive", _final_customers)}
FINAL_SHAPES: dict[str, Template] = {"tactical": _final_tactical, "executive": _final_executive}


def is_final(state: IncidentState) -> bool:
    """A brief drafted after the incident is resolved is its closing brief (the cadence stops at resolution)."""
    return state.status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED)


def draft_brief(state: IncidentState, seq: int, drafted_at: datetime, next_update_due: datetime | None,
                audience: str = "responders", shape: str = "tactical") -> Brief:
    templates, shapes = (FINAL_TEMPLATES, FINAL_SHAPES) if is_final(state) else (TEMPLATES, SHAPES)
    named = templates.get(audience)
    template = named[1] if named is not None and named[0] == shape else shapes[shape]
    title, body = template(state, seq, next_update_due, audience)
    number = state.number or state.workflow_id
    if state.drill is not None:  # a practice incident says so on every brief
        title = f"[DRILL] {title}"
        body = [f"> DRILL: a practice incident replaying {state.drill.of}. Nothing here is happening now.", "",
                *body]
    return Brief(incident_number=number, seq=seq, severity=state.severity, status=state.status, title=title,
                 text="\n".join([f"# {title}", "", *body]), drafted_at=drafted_at, next_update_due=next_update_due,
                 audience=audience, shape=shape)
