"""Figures across incidents, from their retrospective records: how fast, how steady, where time went.

Pure functions over the JSON that `write_retrospective` stores, so `firebreak report` needs no Temporal.
"""

from __future__ import annotations

import re
import statistics
from datetime import datetime
from typing import Any

STEPS = ("detect", "stabilise", "contain", "investigate", "remediate", "review")


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _minutes(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds() / 60, 1)


def step_minutes(timeline: list[dict[str, Any]]) -> dict[str, float]:
    """Minutes from each step's first timeline entry to the next step's first entry."""
    firsts: dict[str, datetime] = {}
    for entry in timeline:
        if entry["step"] in STEPS and entry["step"] not in firsts:
            firsts[entry["step"]] = _at(entry["at"])
    ordered = sorted(firsts.items(), key=lambda kv: kv[1])
    return {step: _minutes(start, ordered[i + 1][1]) for i, (step, start) in enumerate(ordered[:-1])}


# "brief #3 drafted", "brief #3 (leadership) sent to ops_room, mail": one brief per tick and audience.
_BRIEF = re.compile(r"^(brief #\d+(?: \([^)]*\))?) (drafted|sent to (.+))$")


def brief_delays(timeline: list[dict[str, Any]]) -> tuple[int, list[float]]:
    """(briefs due, minutes from due to sent for each one sent). A brief is due when it is drafted; each audience's
    brief of a tick is its own."""
    drafted: dict[str, datetime] = {}
    delays: list[float] = []
    for entry in timeline:
        found = _BRIEF.match(entry["what"]) if entry["step"] == "communicate" else None
        if found is None:
            continue
        brief, sent_to = found.group(1), found.group(3)
        if found.group(2) == "drafted":
            drafted[brief] = _at(entry["at"])
        elif sent_to != "no channel" and brief in drafted:
            delays.append(_minutes(drafted[brief], _at(entry["at"])))
    return len(drafted), delays


def approval_minutes(approvals: list[dict[str, Any]]) -> list[float]:
    return [_minutes(_at(a["requested_at"]), _at(a["decided_at"])) for a in approvals
            if a["status"] in ("approved", "rejected") and a.get("decided_at")]


def _summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "median": None, "p90": None, "max": None}
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return {"n": len(values), "median": round(statistics.median(values), 1), "p90": p90, "max": ordered[-1]}


def figures(records: list[dict[str, Any]], on_time_minutes: float = 15.0) -> dict[str, Any]:
    """Across incidents: acknowledge / resolve times, minutes per step, cadence adherence, approval latency."""
    ack = [r["impact"]["minutes_to_acknowledge"] for r in records if r["impact"]["minutes_to_acknowledge"] is not None]
    resolve = [r["impact"]["minutes_to_resolve"] for r in records if r["impact"]["minutes_to_resolve"] is not None]
    per_step: dict[str, list[float]] = {}
    due, delays, approvals = 0, list[float](), list[float]()
    for r in records:
        for step, minutes in step_minutes(r["timeline"]).items():
            per_step.setdefault(step, []).append(minutes)
        n, d = brief_delays(r["timeline"])
        due, delays = due + n, delays + d
        approvals += approval_minutes(r["approvals"])
    on_time = sum(1 for d in delays if d <= on_time_minutes)
    return {
        "incidents": len(records),
        "minutes_to_acknowledge": _summary(ack),
        "minutes_to_resolve": _summary(resolve),
        "minutes_per_step": {s: _summary(per_step[s]) for s in STEPS if s in per_step},
        "cadence": {"briefs_due": due, "briefs_sent": len(delays), "sent_on_time": on_time,
                    "on_time_share": round(on_time / due, 3) if due else None, "on_time_minutes": on_time_minutes},
        "approval_minutes": _summary(approvals),
        "resolve_by_incident": {r["incident"]: r["impact"]["minutes_to_resolve"] for r in records},
    }


def bar_chart(values: dict[str, float | None], width: int = 40) -> str:
    """A text bar chart: where a picture reads better than a column of numbers."""
    present = {k: v for k, v in values.items() if v is not None}
    if not present:
        return "(nothing to chart)"
    top = max(present.values()) or 1.0
    label = max(len(k) for k in present)
    return "\n".join(f"{k.ljust(label)}  {'#' * max(1, round(width * v / top)) if v else ''} {v:g}"
                     for k, v in present.items())
