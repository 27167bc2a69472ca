"""Plain-text views of incidents for people at a terminal (`firebreak ls`, `firebreak show`)."""

from __future__ import annotations

from datetime import datetime

from playbook.alert_labels import seen_text
from playbook.remedy import mitigations_text
from playbook.state import IncidentState
from playbook.times import utc_text


def _t(value: datetime | None) -> str:
    return utc_text(value, "%Y-%m-%d %H:%M:%S UTC")


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def incident_text(state: IncidentState, timeline_limit: int | None = None) -> str:
    d = state.detection
    out = [
        f"{state.number or '(numbering)'}  {state.severity.value}  {state.status.value}  step: {state.step.value}",
        f"  {d.kind.value} on {', '.join(d.services)}: {d.summary or '-'}",
        f"  workflow: {state.workflow_id}",
        f"  severity reason: {state.severity_reason or '-'}",
        f"  detected: {_t(d.detected_at)}   opened: {_t(state.opened_at)}",
        f"  acknowledged: {state.acknowledged_by or '-'} {_t(state.acknowledged_at) if state.acknowledged_at else ''}",
        f"  alerts: {state.alert_count} distinct, {len(state.resolved_alert_ids)} resolved at source",
        f"  ticket: {state.ticket.key + ' ' + state.ticket.url if state.ticket else '-'}",
        f"  model: {d.model or '-'}   prompt: {d.prompt_name or '-'}"
        f"{f' v{d.prompt_version}' if d.prompt_version is not None else ''}   last deploy: {d.deploy_id or '-'}",
        *([f"  named in alerts: {seen_text(state.labels_seen)}"] if seen_text(state.labels_seen) else []),
        f"  metrics: {', '.join(f'{k}={v:g}' for k, v in sorted(d.metrics.items())) or '-'}",
        f"  briefs sent: {state.briefs_sent}   next brief due: {_t(state.next_brief_due)}",
    ]
    if state.resolved_at:
        out.append(f"  resolved: {_t(state.resolved_at)} by {state.resolved_by}; retrospective due "
                   f"{_t(state.retrospective_due)}")
    pending = state.pending_approvals()
    out += ["", "Pending approvals:" if pending else "Pending approvals: none"]
    for a in pending:
        who = a.role.value + (f" (or {', '.join(a.escalated_to)})" if a.escalated_to else "")
        out.append(f"  {a.request_id}: {a.subject}\n      why: {a.why}\n      who: {who}   by: {_t(a.deadline)}")
    if state.mitigations:
        out += ["", "Mitigations:"]
        out += [f"  {m.step.value}: {m.action} -> {m.outcome} {m.detail}".rstrip()
                + (f" [frozen before: {m.snapshot}]" if m.snapshot else "") for m in state.mitigations]
    if state.in_place:
        out += ["", "Mitigations in place (keep or undo each with `firebreak resolve --keep/--undo`):"
                if not state.resolved_at else "Mitigations at resolution:"]
        out += mitigations_text(state.in_place)
    if state.regressions:
        out += ["", "Regression suite:"]
        out += [f"  {r.summary()}" + (f" ({r.results_path})" if r.results_path else "") for r in state.regressions]
        if state.regression_override:
            out.append(f"  resolved despite failures: {state.regression_override}")
    entries = state.timeline if timeline_limit is None else state.timeline[-timeline_limit:]
    partial = ", latest shown" if len(entries) < len(state.timeline) else ""
    out += ["", f"Timeline ({len(state.timeline)} entries{partial}):"]
    for e in entries:
        said = next((str(e.details[k]) for k in ("text", "reason", "summary", "comment") if e.details.get(k)), "")
        out.append(f"  {_t(e.at)}  {e.step.value:<11} {e.actor} ({e.role}): {e.what}" + (f" — {said}" if said else ""))
    return "\n".join(out)
