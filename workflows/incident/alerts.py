"""Alerts joining a running incident: each counted once per alert id, storms summarised on the timeline, what a
later alert names that the incident did not know taken in (playbook/alert_labels.py), and resolutions and notes at
the source (a sender's acknowledgement, a monitor's NO_DATA ...) recorded; the incident's own acknowledgement stays
with the roster."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from workflows.incident.core import IncidentCore

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    import playbook.alert_labels as alert_labels
    import workflows.incident.markers as markers
    from playbook.models import Detection
    from playbook.state import ALERT_SUMMARY_EVERY, ALERTS_ON_TIMELINE
    from workflows.unreadable import describe


class Alerts:
    def __init__(self, core: IncidentCore) -> None:
        self.core = core
        # Sets mirror the state's id lists so a storm's dedup stays O(1) per alert.
        self._seen = set(core.state.seen_alert_ids)
        self._resolved_ids = set(core.state.resolved_alert_ids)
        self._source_acked = set(core.state.source_acknowledged_ids)

    def count_batch(self, raw: list[Any]) -> bool:
        """A batch signal's alerts (what the intake sends when it coalesces a storm), each read on its own: one that
        cannot be read is dropped with a timeline entry, the others count. False when the batch is dropped whole."""
        readable = readable_alerts(raw)
        if readable is None:
            return False
        for detection in readable[0]:
            self.count(detection)
        for problem in readable[1]:
            self.core.system(self.core.state.step, "alert dropped: it cannot be read", {"why": problem})
        return True

    def count(self, detection: Detection) -> None:
        s, core = self.core.state, self.core
        alert_id = detection.identity()
        note = alert_labels.source_note(detection)  # the sender's acknowledgement, a monitor's NO_DATA ...
        if note and (detection.firing or markers.patched(markers.SOURCE_NOTES)):
            # Not an alert (the incident's acknowledgement stays with the roster): on the timeline once per id.
            if alert_id not in self._source_acked:
                self._source_acked.add(alert_id)
                s.source_acknowledged_ids.append(alert_id)
                if len(s.source_acknowledged_ids) <= ALERTS_ON_TIMELINE:
                    core.from_source(s.step, detection.source, f"alert {alert_id} {note}",
                                     {"summary": detection.summary})
            return
        if not detection.firing:
            if alert_id in self._resolved_ids:
                return
            self._resolved_ids.add(alert_id)
            s.resolved_alert_ids.append(alert_id)
            if len(s.resolved_alert_ids) <= ALERTS_ON_TIMELINE:
                core.from_source(s.step, detection.source, f"alert {alert_id} resolved at the source")
            return
        if alert_id in self._seen:
            return
        self._seen.add(alert_id)
        s.seen_alert_ids.append(alert_id)
        s.alert_count += 1
        if markers.patched(markers.ALERT_LABELS):  # what the first alert did not name, a later one may
            s.detection, s.labels_seen = alert_labels.merge(s.detection, s.labels_seen, detection)
        if s.alert_count <= ALERTS_ON_TIMELINE:
            core.from_source(s.step, detection.source, f"alert {alert_id} received",
                             {"summary": detection.summary, "metrics": detection.metrics})
        elif s.alert_count % ALERT_SUMMARY_EVERY == 0:
            core.from_source(s.step, detection.source, f"{s.alert_count} distinct alerts so far")


def readable_alerts(raw: list[Any]) -> tuple[list[Detection], list[str]] | None:
    """The alerts of a batch that can be read, and why each other one cannot; None when some cannot be read and
    the history was recorded before READABLE_ALERTS (then the whole batch is dropped, as it was)."""
    found: list[Detection] = []
    problems: list[str] = []
    for item in raw:
        try:
            found.append(item if isinstance(item, Detection) else Detection.model_validate(item))
        except ValidationError as err:
            problems.append(describe(err))
    if problems and not markers.patched(markers.READABLE_ALERTS):
        return None
    for problem in problems:
        workflow.logger.warning("an alert in a batch cannot be read and is dropped: %s", problem)
    return found, problems
