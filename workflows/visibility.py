"""What an incident publishes for listings: its pending requests (Current Details: playbook/current_details.py).

Workflow code, deterministic, called from IncidentWorkflow._publish. PendingApprovals (search attribute) and the
`pending` memo (playbook/pending.py) are new commands, so they are behind PENDING_LISTING: histories recorded
before it replay unchanged, and a run started before it never publishes them (the listings ask such an incident
with a query instead, client/pending.py).
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from playbook import search_attributes as sa
    from playbook.pending import MEMO_KEY, pending_entries
    from playbook.state import IncidentState

PENDING_LISTING = "pending-listing-v1"


def pending_values(state: IncidentState, published: dict[str, Any]) -> dict[str, Any]:
    """The PendingApprovals search attribute's value (upserted by the caller with the others); the memo is
    upserted here when the list changed. `published` is the caller's record of what it last published."""
    if not workflow.patched(PENDING_LISTING):
        return {}
    pending = state.pending_approvals()
    entries = pending_entries(pending)
    if published.get(MEMO_KEY) != entries:
        workflow.upsert_memo({MEMO_KEY: entries})
        published[MEMO_KEY] = entries
    return {sa.PENDING_APPROVALS.name: len(pending)}
