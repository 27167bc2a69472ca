"""Step 1, detect & acknowledge: classify and number (the ticket: activities/tickets.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import ActivityContext
from integrations.deploys import deploy_text, last_deploy
from playbook.config import Playbook, PlaybookError, load_playbook
from playbook.messages import OpenedIncident, OpenIncidentInput
from playbook.models import Detection, PlaybookRef
from playbook.severity import classify


class DetectActivities:
    def __init__(self, ctx: ActivityContext) -> None:
        self.ctx = ctx

    @activity.defn(name="open_incident")
    def open_incident(self, request: OpenIncidentInput) -> OpenedIncident:
        """Snapshot the playbook for this incident, classify severity, and give it a number."""
        try:
            playbook, digest = load_playbook(self.ctx.playbook_path)
        except PlaybookError as err:
            raise ApplicationError(str(err), type="PlaybookError") from err
        severity, why = classify(request.detection, playbook)
        number = self.ctx.store.allocate_number(request.chain_id, playbook.tickets.number_prefix,
                                                datetime.now(UTC).year)
        d = request.detection  # logged as it came: the log formatter redacts what leaves in logs
        activity.logger.info("%s opened as %s: %s on %s: %s", number, severity.value, d.kind.value,
                             ", ".join(d.services), d.summary or "-")
        return OpenedIncident(number=number, severity=severity, severity_reason=why, playbook=playbook,
                              playbook_ref=PlaybookRef(path=str(self.ctx.playbook_path), sha256=digest),
                              last_deploy=None if d.deploy_id else self._last_deploy(d, playbook))

    def _last_deploy(self, detection: Detection, playbook: Playbook) -> str | None:
        """The deploy log's last deploy of the detection's prompt (else the service's known-good prompt, which is
        what a watcher's detection concerns) at or before detection; None when unknown or unreadable."""
        prompt = detection.prompt_name or playbook.plan_for(detection.services[0]).known_good.prompt_name
        if not prompt:
            return None
        try:
            entry = last_deploy(self.ctx.store, prompt, detection.detected_at)
        except (OSError, ValueError) as err:  # an unreadable log must not keep the incident from opening
            activity.logger.warning("could not read the deploy log of prompt %s: %s", prompt, err)
            return None
        return deploy_text(entry) if entry else None
