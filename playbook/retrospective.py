"""The retrospective document, built from the incident's state: timeline, RCA, actions, comms index."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from playbook.models import Step
from playbook.risk import atlas_for, classify_risk
from playbook.serious_report import serious_lines, serious_summary
from playbook.state import IncidentState


def _minutes(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds() / 60, 1) if start and end else None


def _step_done(state: IncidentState, step: Step) -> datetime | None:
    """When the step's last mitigation was recorded: the moment it was stabilised, or contained."""
    times = [m.at for m in state.mitigations if m.step == step]
    return max(times) if times else None


def retrospective_record(state: IncidentState, final: bool,
                         blast_radius: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The record; `blast_radius` holds the investigate step's reach summaries (traces, users, sessions)."""
    d = state.detection
    reach = blast_radius or []
    notes = state.retrospective
    mode, harm, harm_severity, owasp, nist = classify_risk(d.kind, state.severity, notes.risk if notes else None)
    return {
        "incident": state.number,
        "workflow_id": state.workflow_id,
        "status": "final" if final else "draft",
        "severity": state.severity.value,
        "kind": d.kind.value,
        "services": d.services,
        "impact": {
            "alerts": state.alert_count,
            "detected_at": d.detected_at.isoformat(),
            "minutes_to_acknowledge": _minutes(state.opened_at, state.acknowledged_at),
            "minutes_to_stabilise": _minutes(state.opened_at, _step_done(state, Step.STABILISE)),
            "minutes_to_contain": _minutes(state.opened_at, _step_done(state, Step.CONTAIN)),
            "traces_affected": sum(r.get("traces_affected", 0) for r in reach) if reach else None,
            "users_affected": sum(r.get("users_affected", 0) for r in reach) if reach else None,
            "sessions_affected": sum(r.get("sessions_affected", 0) for r in reach) if reach else None,
            "minutes_to_resolve": _minutes(state.opened_at, state.resolved_at),
            "briefs_sent": state.briefs_sent,
        },
        "root_cause": notes.root_cause if notes else None,
        "contributing_factors": notes.contributing_factors if notes else [],
        "preventative_actions": notes.preventative_actions if notes else [],
        "action_items": [item.model_dump(mode="json") for item in notes.action_items] if notes else [],
        "went_well": notes.went_well if notes else [],
        "went_badly": notes.went_badly if notes else [],
        "lessons": notes.lessons if notes else [],
        "drill_of": state.drill.of if state.drill else None,
        "mitigations": _mitigations(state),
        "regressions": [r.model_dump(mode="json") for r in state.regressions],
        "regression_override": state.regression_override or None,
        "approvals": [a.model_dump(mode="json") for a in state.approvals],
        "timeline": [e.model_dump(mode="json") for e in state.timeline],
        "evidence_manifest": state.evidence_manifest,
        "serious_incident": serious_summary(state.serious),
        "risk": {"failure_mode": mode, "harm_type": harm, "harm_severity": harm_severity, "owasp_llm": owasp,
                 "nist_ai_600_1": nist, "mitre_atlas": atlas_for(d.kind, notes.risk if notes else None)},
    }


def _mitigations(state: IncidentState) -> list[dict[str, Any]]:
    """Each mitigation record; the ones that were in place at resolution say what became of them."""
    registry = {(m.step, m.name): m for m in state.in_place}
    out = []
    for m in state.mitigations:
        row = m.model_dump(mode="json")
        applied = registry.get((m.step, m.action)) if m.outcome == "done" else None
        if applied is not None:
            row["at_resolution"] = applied.resolution_text()
            row["undo"] = applied.undo.description if applied.undo else None
        out.append(row)
    return out


def _bullets(items: list[str], empty: str) -> list[str]:
    return [f"- {i}" for i in items] or [f"- {empty}"]


def retrospective_markdown(record: dict[str, Any]) -> str:
    todo = "_to be filled in at the review_"
    impact = record["impact"]
    lines = [
        f"# Retrospective {record['incident']} ({record['status']})",
        "",
        f"{record['severity']} {record['kind']} on {', '.join(record['services'])}.",
        "",
        "## Impact",
        f"- alerts: {impact['alerts']}",
        f"- detected at: {impact['detected_at']}",
        f"- minutes to acknowledge: {impact['minutes_to_acknowledge']}",
        f"- minutes to stabilise: {impact['minutes_to_stabilise']}",
        f"- minutes to contain: {impact['minutes_to_contain']}",
        f"- traces / users / sessions affected: {impact['traces_affected']} / {impact['users_affected']} / "
        f"{impact['sessions_affected']}" + ("" if impact["traces_affected"] is not None
                                           else " (no Langfuse evidence source collected the reach)"),
        f"- minutes to resolve: {impact['minutes_to_resolve']}",
        f"- briefs sent: {impact['briefs_sent']}",
        "",
        "## Root cause",
        record["root_cause"] or todo,
        "",
        "### Contributing factors",
        *_bullets(record["contributing_factors"], todo),
        "",
        "## Preventative actions",
        *_bullets(record["preventative_actions"], todo),
        "",
        "## Action items",
        *([f"- [ ] {a['what']} — owner {a['owner']}, due {a['due'] or 'unset'}" for a in record["action_items"]]
          or [f"- {todo}"]),
        "",
        "## What went well",
        *_bullets(record["went_well"], todo),
        "",
        "## What went badly",
        *_bullets(record["went_badly"], todo),
        "",
        *serious_lines(record.get("serious_incident")),
        "## What responders should learn",
        *_bullets(record.get("lessons") or [], todo),
        "",
        *([f"_A drill replaying {record['drill_of']}: compared in drill-comparison.md._", ""]
          if record.get("drill_of") else []),
        "## Risk register",
        f"- failure mode: {record['risk']['failure_mode']}; harm: {record['risk']['harm_type']} "
        f"({record['risk']['harm_severity']})",
        f"- OWASP LLM Top 10: {', '.join(record['risk']['owasp_llm']) or 'none'}",
        f"- NIST AI 600-1: {'; '.join(record['risk']['nist_ai_600_1']) or 'none'}",
        f"- MITRE ATLAS: {', '.join(record['risk'].get('mitre_atlas') or []) or 'none'}",
        "",
        "## Mitigations",
        *([f"- {m['step']}: {m['action']} — {m['outcome']} {m['detail']}"
           + (f"; at resolution: {m['at_resolution']}" if m.get("at_resolution") else "")
           for m in record["mitigations"]] or ["- none"]),
        "",
        "## Regression suite",
        *([f"- run #{r['seq']} ({r['action']})" + (f" on {r['candidate']}, before its promotion gate"
                                                     if r.get("candidate") else "")
           + ": " + ("passed" if r["passed"] else "FAILED")
           + f", {r['successes']} passed, {r['failures']} failed, {r['errors']} errors"
           + (f"; could not run: {r['error']}" if r["error"] else "")
           + (f"; results: {r['results_path']}" if r["results_path"] else "")
           for r in record.get("regressions", [])] or ["- no regression suite ran"]),
        *([f"- resolved despite failing regressions: {record['regression_override']}"]
          if record.get("regression_override") else []),
        "",
        "## Timeline",
        "| at | step | who | role | what |",
        "|---|---|---|---|---|",
        *[f"| {e['at']} | {e['step']} | {e['actor']} | {e['role']} | {e['what']} |" for e in record["timeline"]],
        "",
        "## Evidence and comms",
        f"- evidence manifest: {record['evidence_manifest'] or 'none collected'}",
        "- comms archive: comms/archive.jsonl beside this file",
        "",
    ]
    return "\n".join(lines)
