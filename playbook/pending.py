"""What waits for a decision in one incident, as the incident publishes it for listings.

Each open incident keeps its pending approval requests in its memo (and their count in the PendingApprovals
search attribute), so `firebreak pending` and GET /v1/approvals read thousands of incidents from one visibility
listing instead of querying each one (a query on an incident outside the worker's cache replays its history).
Only what a list shows is kept, cut to length, so the memo stays small.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from playbook.models import ApprovalRequest, Role

MEMO_KEY = "pending"
MEMO_ITEMS = 50
SUBJECT_CHARS = 200
WHY_CHARS = 300


class PendingEntry(BaseModel):
    request_id: str
    subject: str
    why: str
    role: Role
    escalated_to: list[str]
    requested_at: datetime
    deadline: datetime

    @classmethod
    def of(cls, req: ApprovalRequest) -> PendingEntry:
        return cls(request_id=req.request_id, subject=req.subject[:SUBJECT_CHARS], why=req.why[:WHY_CHARS],
                   role=req.role, escalated_to=list(req.escalated_to), requested_at=req.requested_at,
                   deadline=req.deadline)


def pending_entries(pending: list[ApprovalRequest]) -> list[PendingEntry]:
    """The memo's list: the requests due first, at most MEMO_ITEMS."""
    return [PendingEntry.of(r) for r in sorted(pending, key=lambda r: (r.deadline, r.request_id))[:MEMO_ITEMS]]
