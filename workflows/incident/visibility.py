"""What the Temporal UI and the listings see of an incident: its search attribute values and its pending requests
(the PendingApprovals search attribute and the `pending` memo, playbook/pending.py). The Current Details markdown
is playbook/current_details.py.

Pure functions of the state, save the memo upsert; IncidentCore.publish upserts what changed and sets the details.
PendingApprovals and the memo are new commands, so they are behind PENDING_LISTING: histories recorded before it
replay unchanged, and a run started before it never publishes them (the listings ask such an incident with a query
instead, client/pending.py).
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import playbook.search_attributes as sa
    import workflows.incident.markers as markers
    from playbook.pending import MEMO_KEY, pending_entries
    from playbook.state import IncidentState


def search_attributes(state: IncidentState, first: bool) -> dict[str, Any]:
    """The search attribute values by name; `first`: the first publication, which also sets DetectedAt."""
    s = state
    values: dict[str, Any] = {
        "IncidentSeverity": s.severity.value, "IncidentStatus": s.status.value, "IncidentStep": s.step.value,
        "AlertCount": s.alert_count, "AffectedService": s.service, "SignalKind": s.detection.kind.value,
    }
    if s.number:
        values["IncidentNumber"] = s.number
    if first:
        values["DetectedAt"] = s.detection.detected_at
    return values


def pending_values(state: IncidentState, published: dict[str, Any]) -> dict[str, Any]:
    """The PendingApprovals search attribute's value (upserted by the caller with the others); the memo is
    upserted here when the list changed. `published` is the caller's record of what it last published."""
    if not markers.patched(markers.PENDING_LISTING):
        return {}
    pending = state.pending_approvals()
    entries = pending_entries(pending)
    if published.get(MEMO_KEY) != entries:
        workflow.upsert_memo({MEMO_KEY: entries})
        published[MEMO_KEY] = entries
    return {sa.PENDING_APPROVALS.name: len(pending)}
