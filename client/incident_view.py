"""One incident as the HTTP API shows it (GET /v1/incidents/{incident}): what `firebreak show` prints, as data.

The summary is the Temporal UI's Current Details (playbook/current_details.py) with the workflow's own rule for
who is paged per role (workflows/incident/people.py), so the three views never disagree.
"""

from __future__ import annotations

from typing import Any

from playbook.current_details import current_details
from playbook.models import Role
from playbook.state import IncidentState
from workflows.incident.people import primary


def incident_view(state: IncidentState, timeline: int | None = None) -> dict[str, Any]:
    """The state as JSON (its timeline cut to the latest `timeline` entries when given), with what waits for a
    decision, the mitigations in place and the Current Details markdown."""
    data = state.model_dump(mode="json", exclude={"playbook"})
    if timeline is not None:
        data["timeline"] = data["timeline"][-timeline:] if timeline else []

    def paged(role: Role) -> str:
        return primary(state, role) if state.playbook is not None else ""

    return {"number": state.number, "workflow_id": state.workflow_id, "severity": state.severity.value,
            "status": state.status.value, "step": state.step.value,
            "pending": [a.model_dump(mode="json") for a in state.pending_approvals()],
            "mitigations": [m.model_dump(mode="json") for m in state.in_place],
            "summary": current_details(state, paged), "state": data}
