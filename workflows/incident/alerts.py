"""Alerts joining a running incident: each counted once per alert id, storms summarised on the timeline, and
resolutions or acknowledgements at the source noted (the incident's own acknowledgement stays with the roster)."""

from __future__ import annotations

from temporalio import workflow

from workflows.incident.core import IncidentCore

with workflow.unsafe.imports_passed_through():
    from playbook.models import Detection
    from playbook.state import ALERT_SUMMARY_EVERY, ALERTS_ON_TIMELINE

SOURCE_ACTION_LABEL = "pagerduty_event_action"


class Alerts:
    def __init__(self, core: IncidentCore) -> None:
        self.core = core
        # Sets mirror the state's id lists so a storm's dedup stays O(1) per alert.
        self._seen = set(core.state.seen_alert_ids)
        self._resolved_ids = set(core.state.resolved_alert_ids)
        self._source_acked = set(core.state.source_acknowledged_ids)

    def count(self, detection: Detection) -> None:
        s, core = self.core.state, self.core
        alert_id = detection.identity()
        if not detection.firing:
            if alert_id in self._resolved_ids:
                return
            self._resolved_ids.add(alert_id)
            s.resolved_alert_ids.append(alert_id)
            if len(s.resolved_alert_ids) <= ALERTS_ON_TIMELINE:
                core.from_source(s.step, detection.source, f"alert {alert_id} resolved at the source")
            return
        if detection.labels.get(SOURCE_ACTION_LABEL) == "acknowledge":
            # The sender's own acknowledgement (PagerDuty-style); the incident's stays with the roster.
            if alert_id not in self._source_acked:
                self._source_acked.add(alert_id)
                s.source_acknowledged_ids.append(alert_id)
                if len(s.source_acknowledged_ids) <= ALERTS_ON_TIMELINE:
                    core.from_source(s.step, detection.source, f"alert {alert_id} acknowledged at the source")
            return
        if alert_id in self._seen:
            return
        self._seen.add(alert_id)
        s.seen_alert_ids.append(alert_id)
        s.alert_count += 1
        if s.alert_count <= ALERTS_ON_TIMELINE:
            core.from_source(s.step, detection.source, f"alert {alert_id} received",
                             {"summary": detection.summary, "metrics": detection.metrics})
        elif s.alert_count % ALERT_SUMMARY_EVERY == 0:
            core.from_source(s.step, detection.source, f"{s.alert_count} distinct alerts so far")
