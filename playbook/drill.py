"""Drills: a closed incident's detections replayed as a practice incident, so responders train on what really
happened. A drill is numbered DRILL-<year>-<n>, says so in its summary, timeline and briefs, pages and briefs
only the archive (no channel, no tracker) and puts its participants first in every role; at its end its timings
and decisions are compared with the real incident's.

Pure functions; `firebreak drill INC` starts it (cli/drill.py), the detect and review activities apply them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from playbook.config import Playbook

DRILL_PREFIX = "DRILL"
TIMINGS = ("minutes_to_acknowledge", "minutes_to_stabilise", "minutes_to_contain", "minutes_to_resolve")


class DrillInfo(BaseModel):
    of: str = Field(description="the real incident's number")
    of_workflow_id: str
    participants: list[str] = Field(default_factory=list, description="roster ids asked first in every role")
    started_by: str


def drill_playbook(pb: Playbook, drill: DrillInfo) -> Playbook:
    """The playbook as a drill runs it: no channels (pages and briefs go to the archive only), the local tracker
    with tickets numbered DRILL-..., no PagerDuty or on-call schedule, and the participants first among the
    holders of every role (so they are the ones asked)."""
    first = [p for p in drill.participants if p in pb.roster.people]
    people = {p: pb.roster.people[p] for p in first} | {p: v for p, v in pb.roster.people.items() if p not in first}
    audiences = pb.communicate.audiences
    communicate = pb.communicate.model_copy(update={
        "channels": [], "notify_channels": [], "approval_channels": [],
        "audiences": None if audiences is None else {n: a.model_copy(update={"channels": []})
                                                     for n, a in audiences.items()}})
    update: dict[str, Any] = {
        "channels": {}, "communicate": communicate,
        "roster": pb.roster.model_copy(update={"people": people}),
        "tickets": pb.tickets.model_copy(update={"number_prefix": DRILL_PREFIX, "backend": "local"})}
    # A playbook with [paging] (PagerDuty, on-call schedules; on main since issue 14): a drill triggers nothing in
    # PagerDuty and no schedule decides who is asked (the participants are).
    paging = getattr(pb, "paging", None)
    if paging is not None:
        pagerduty = getattr(paging, "pagerduty", None)
        update["paging"] = paging.model_copy(update={
            "oncall": {}, **({"pagerduty": pagerduty.model_copy(update={"enabled": False})} if pagerduty else {})})
    return pb.model_copy(update=update)


def compare(drill: dict[str, Any], real: dict[str, Any]) -> dict[str, Any]:
    """The drill's timings and decisions beside the real incident's (both retrospective records)."""
    timings = {k: {"real": real["impact"].get(k), "drill": drill["impact"].get(k)} for k in TIMINGS}
    for row in timings.values():
        row["delta"] = (round(row["drill"] - row["real"], 1) if isinstance(row["drill"], int | float)
                        and isinstance(row["real"], int | float) else None)
    real_decisions = {a["request_id"]: a for a in real.get("approvals", [])}
    drill_decisions = {a["request_id"]: a for a in drill.get("approvals", [])}
    decisions = [{"request": rid, "subject": (real_decisions.get(rid) or drill_decisions[rid])["subject"][:100],
                  "real": (real_decisions.get(rid) or {}).get("status", "not asked"),
                  "drill": (drill_decisions.get(rid) or {}).get("status", "not asked")}
                 for rid in dict.fromkeys([*real_decisions, *drill_decisions])]
    for d in decisions:
        d["same"] = d["real"] == d["drill"]
    return {"drill": drill["incident"], "real": real["incident"], "timings": timings, "decisions": decisions,
            "lessons": real.get("lessons", [])}


def comparison_markdown(c: dict[str, Any]) -> str:
    lines = [f"# Drill {c['drill']} against {c['real']}", "", "## Timings (minutes from opening)",
             "| measure | real | drill | drill - real |", "|---|---|---|---|"]
    lines += [f"| {k.removeprefix('minutes_to_')} | {v['real']} | {v['drill']} | {v['delta']} |"
              for k, v in c["timings"].items()]
    lines += ["", "## Decisions", "| request | what | real | drill |", "|---|---|---|---|"]
    lines += [f"| {d['request']} | {d['subject']} | {d['real']} | {d['drill']}{'' if d['same'] else ' (differs)'} |"
              for d in c["decisions"]] or ["| - | none asked | | |"]
    lines += ["", "## What the real incident's responders said to learn",
              *([f"- {lesson}" for lesson in c["lessons"]] or ["- nothing recorded"]), ""]
    return "\n".join(lines)
