"""What every ticket backend shares: the Protocol, the errors an activity turns into Temporal's retry or a clear
refusal, and the labels that find an incident's ticket (and an action item's issue) again after a lost attempt.

The label is how "exactly one ticket per incident" holds: a backend looks its label up before it creates, so an
attempt that created the issue but never heard the answer (a timeout, a worker gone) is found by the next one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from playbook.messages import ItemTicketClose, ItemTicketInput, TicketInput, TicketUpdate
from playbook.models import Ticket

LABEL_PREFIX = "firebreak-"
ITEM_LABEL_PREFIX = "firebreak-action-"


class TrackerError(Exception):
    """The tracker failed in a way a later attempt may not (a timeout, a 5xx): retried."""

    retryable = True


class TrackerRateLimited(TrackerError):
    """429 (or GitHub's secondary limit, 403 with Retry-After): retried after the tracker's own delay."""

    def __init__(self, message: str, retry_after: timedelta) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TrackerRefused(TrackerError):
    """The tracker refused the request as made (400, 404, 422, a transition it does not offer): not retried."""

    retryable = False


class TrackerCredentialRefused(TrackerRefused):
    """The credential is missing, expired or lacks a permission (401, 403): not retried; people must act."""


class TicketBackend(Protocol):
    """One per kind of tracker (integrations/tickets.py keeps the registry). Every method is safe to repeat."""

    name: str

    def create(self, request: TicketInput) -> Ticket:
        """The incident's ticket: the one already there for this incident, else a new one."""
        ...

    def update(self, request: TicketUpdate) -> bool:
        """Add the update once (keyed by request.key); move the ticket on resolve/close. True when added now."""
        ...

    def open_item(self, request: ItemTicketInput) -> Ticket | None:
        """The action item's issue, linked to the incident's ticket; None where the backend keeps none."""
        ...

    def close_item(self, request: ItemTicketClose) -> bool:
        """Say the item is done and close its issue; True when it was open."""
        ...

    def item_closed_by(self, ticket: Ticket) -> str | None:
        """Who closed the item's issue in the tracker (the tracker's name when it does not say); None while open."""
        ...


def incident_label(number: str) -> str:
    """The label that finds an incident's ticket: `firebreak-INC-2026-0001`."""
    return f"{LABEL_PREFIX}{number}"


def item_label(workflow_id: str) -> str:
    """The label of an action item's issue, naming its ActionItemWorkflow (`action-INC-2026-0001-2`)."""
    return f"{LABEL_PREFIX}{workflow_id}"


def item_workflow_id(labels: list[str]) -> str | None:
    """The ActionItemWorkflow an issue with these labels belongs to, if any (the tracker webhooks' lookup)."""
    for label in labels:
        if label.startswith(ITEM_LABEL_PREFIX):
            return label[len(LABEL_PREFIX):]
    return None


def ticket_title(request: TicketInput) -> str:
    d = request.detection
    return f"{request.number}: {request.severity.value} {d.kind.value} on {', '.join(d.services)}"[:250]


def item_title(request: ItemTicketInput) -> str:
    return f"{request.incident_number} action item {request.seq}: {request.what}"[:250]


def item_text(request: ItemTicketInput, incident_ref: str) -> str:
    due = request.due.date().isoformat() if request.due else "not set"
    return (f"Action item {request.seq} from the retrospective of {request.incident_number} ({incident_ref}).\n\n"
            f"Owner: {request.owner}\nDue: {due}\n\n"
            f"Closing this issue marks the item done in Firebreak; marking it done in Firebreak closes this issue.")
