"""Step 1, detect & acknowledge: classify and number (the ticket: activities/tickets.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ActivityContext
from activities.tickets import open_ticket
from integrations.deploys import deploy_text, last_deploy
from integrations.service_deploys import last_service_deploy, service_deploy_text
from playbook.config import Playbook, PlaybookError
from playbook.drill import drill_playbook
from playbook.messages import OpenedIncident, OpenIncidentInput, TicketInput
from playbook.models import Detection, PlaybookRef, Ticket
from playbook.severity import classify


class DetectActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="open_incident")
    def open_incident(self, request: OpenIncidentInput) -> OpenedIncident:
        """Snapshot the playbook for this incident, classify severity, and give it a number; with open-ticket-v1
        (request.ticket_opened_at set) also open its ticket when the playbook keeps tickets locally: one activity
        where there were two (docs/performance.md). A tracker's ticket is still its own activity, with the
        tracker's timeouts and its fall-back to a local ticket."""
        try:
            playbook, digest = self.ctx.playbook()
        except PlaybookError as err:
            raise ApplicationError(str(err), type="PlaybookError") from err
        if request.drill is not None:  # a practice incident: archive only, DRILL-numbered, participants first
            playbook = drill_playbook(playbook, request.drill)
        severity, why = classify(request.detection, playbook)
        if request.drill is not None:
            why = f"DRILL of {request.drill.of} (practice: no channel or tracker is used); {why}"
        number = self.ctx.store.allocate_number(request.chain_id, playbook.tickets.number_prefix,
                                                datetime.now(UTC).year)
        d = request.detection  # logged as it came: the log formatter redacts what leaves in logs
        activity.logger.info("%s opened as %s: %s on %s: %s", number, severity.value, d.kind.value,
                             ", ".join(d.services), d.summary or "-")
        deployed = None if d.deploy_id or request.drill else self._last_deploy(d, playbook)
        return OpenedIncident(number=number, severity=severity, severity_reason=why, playbook=playbook,
                              playbook_ref=PlaybookRef(path=str(self.ctx.playbook_path), sha256=digest),
                              last_deploy=deployed, ticket=self._local_ticket(request, number, severity, deployed,
                                                                              playbook))

    def _local_ticket(self, request: OpenIncidentInput, number: str, severity: Any, deployed: str | None,
                      playbook: Playbook) -> Ticket | None:
        """The ticket create_ticket would open for this incident, the workflow's detection as it will hold it
        (the deploy log's last deploy filled in), when asked for and the playbook keeps tickets locally (a
        drill's playbook always does)."""
        if request.ticket_opened_at is None or playbook.tickets.backend != "local":
            return None
        detection = request.detection
        if deployed and not detection.deploy_id:
            detection = detection.model_copy(update={"deploy_id": deployed})
        return open_ticket(self.ctx, TicketInput(workflow_id=request.workflow_id, number=number, severity=severity,
                                                 detection=detection, opened_at=request.ticket_opened_at,
                                                 tickets=playbook.tickets))

    def _last_deploy(self, detection: Detection, playbook: Playbook) -> str | None:
        """The deploy log's last deploy of the detection's prompt (else the service's known-good prompt, which is
        what a watcher's detection concerns) at or before detection, else the last deploy of its services; None
        when unknown or unreadable."""
        prompt = detection.prompt_name or playbook.plan_for(detection.services[0]).known_good.prompt_name
        try:
            entry = last_deploy(self.ctx.store, prompt, detection.detected_at) if prompt else None
            if entry is not None:
                return deploy_text(entry)
            # Else the service's last deploy (PagerDuty change events, the CI webhook).
            served = last_service_deploy(self.ctx.store, detection.services, detection.detected_at)
        except (OSError, ValueError) as err:  # an unreadable log must not keep the incident from opening
            activity.logger.warning("could not read the deploy log of %s: %s", prompt or detection.services, err)
            return None
        return service_deploy_text(served) if served else None
