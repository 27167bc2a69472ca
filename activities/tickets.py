"""The ticket activities: the incident's ticket and its action items' issues, in the backend the incident's
[tickets] names (integrations/tickets.py). Every call is safe to repeat; a tracker's failure becomes Temporal's:

- a refused credential or request (TrackerRefused): non-retryable, its message is what the timeline shows;
- a rate limit: retried after the tracker's own Retry-After (`next_retry_delay`);
- a timeout or a 5xx: retried by the activity's retry policy.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ActivityContext
from integrations.ticket_base import TrackerError, TrackerRateLimited, TrackerRefused
from integrations.tickets import ticket_backend
from playbook.config import PlaybookError, TicketConfig
from playbook.messages import ItemTicketClose, ItemTicketInput, TicketInput, TicketUpdate
from playbook.models import Ticket
from playbook.redact import outbound


def failure(err: TrackerError) -> ApplicationError:
    """The tracker's error as Temporal should treat it."""
    kind = type(err).__name__
    if isinstance(err, TrackerRateLimited):
        return ApplicationError(str(err), type=kind, next_retry_delay=err.retry_after)
    return ApplicationError(str(err), type=kind, non_retryable=isinstance(err, TrackerRefused))


def open_ticket(ctx: ActivityContext, request: TicketInput) -> Ticket:
    """The incident's ticket in its backend (create_ticket, and open_incident for a local one)."""
    # Redacted here, once for every backend: a ticket leaves Firebreak (a tracker, or files people share).
    config = request.tickets or TicketConfig()
    try:
        return ticket_backend(config.backend, ctx.store, config).create(outbound(request, keep=("number", "tickets")))
    except TrackerError as err:
        raise failure(err) from err


class TicketActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="create_ticket")
    def create_ticket(self, request: TicketInput) -> Ticket:
        return open_ticket(self.ctx, request)

    @activity.defn(name="update_ticket")
    def update_ticket(self, request: TicketUpdate) -> bool:
        try:
            return ticket_backend(request.ticket.backend, self.ctx.store, self._config(request)).update(
                outbound(request, keep=("ticket", "key", "tickets")))
        except TrackerError as err:
            raise failure(err) from err

    @activity.defn(name="open_item_ticket")
    def open_item_ticket(self, request: ItemTicketInput) -> Ticket:
        """The action item's issue in the tracker, linked to the incident's ticket."""
        try:
            ticket = ticket_backend(request.tickets.backend, self.ctx.store, request.tickets).open_item(
                outbound(request, keep=("workflow_id", "incident_number", "incident_ticket", "tickets", "seq",
                                        "due")))
        except TrackerError as err:
            raise failure(err) from err
        if ticket is None:
            raise ApplicationError(f"the {request.tickets.backend} backend keeps no issue per action item",
                                   type="TrackerRefused", non_retryable=True)
        return ticket

    @activity.defn(name="close_item_ticket")
    def close_item_ticket(self, request: ItemTicketClose) -> bool:
        try:
            return ticket_backend(request.ticket.backend, self.ctx.store, request.tickets).close_item(
                outbound(request, keep=("ticket", "tickets")))
        except TrackerError as err:
            raise failure(err) from err

    @activity.defn(name="item_ticket_closed")
    def item_ticket_closed(self, request: ItemTicketClose) -> str:
        """Who closed the item's issue in the tracker; "" while it is open (the bounded poll)."""
        try:
            return ticket_backend(request.ticket.backend, self.ctx.store, request.tickets).item_closed_by(
                request.ticket) or ""
        except TrackerError as err:
            raise failure(err) from err

    def _config(self, request: TicketUpdate) -> TicketConfig | None:
        """The incident's [tickets]; for a tracker ticket without one, the worker's playbook's."""
        if request.tickets is not None or request.ticket.backend == "local":
            return request.tickets
        try:
            return self.ctx.playbook()[0].tickets
        except PlaybookError as err:
            raise ApplicationError(str(err), type="PlaybookError") from err
