"""Start a drill: the closed incident's detections again, now, under a fingerprint of its own, as a practice
incident (playbook/drill.py says what a drill changes): the first starts it, the later alerts (read from the real
incident's history, where Temporal keeps every alert signal) follow as alerts of the drill."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client, WorkflowHandle

from client.temporal import _start_attributes, redacted, static_details, static_summary
from client.workflow_types import IncidentWorkflow
from playbook.drill import DrillInfo
from playbook.models import Detection, IncidentStatus
from playbook.state import IncidentInput, IncidentState


class NotDrillable(Exception):
    pass


async def start_drill(client: Client, real: IncidentState, participants: list[str], by: str,
                      task_queue: str) -> WorkflowHandle[Any, Any]:
    if real.status != IncidentStatus.CLOSED:
        raise NotDrillable(f"{real.number or real.workflow_id} is {real.status.value}: drills replay closed "
                           "incidents")
    if real.drill is not None:
        raise NotDrillable(f"{real.number} is itself a drill (of {real.drill.of}); drill the real incident")
    tag = uuid.uuid4().hex[:8]
    detection = redacted(real.detection.model_copy(update={
        "fingerprint": f"drill-{tag}", "alert_id": f"drill-{tag}", "detected_at": datetime.now(UTC),
        "source": f"drill of {real.number}"}))
    drill = DrillInfo(of=str(real.number), of_workflow_id=real.workflow_id, participants=participants,
                      started_by=by)
    later = await later_alerts(client, real)
    handle = await client.start_workflow(
        IncidentWorkflow.run, IncidentInput(detection=detection, drill=drill), id=f"incident-drill-{tag}",
        task_queue=task_queue, static_summary=f"DRILL of {real.number}: {static_summary(detection)}"[:200],
        static_details=static_details(detection), search_attributes=_start_attributes(detection))
    for n, alert in enumerate(later, start=2):
        await handle.signal(IncidentWorkflow.alert, redacted(alert.model_copy(update={
            "fingerprint": f"drill-{tag}", "alert_id": f"drill-{tag}-{n}", "detected_at": datetime.now(UTC),
            "source": f"drill of {real.number}"})))
    return handle


async def later_alerts(client: Client, real: IncidentState) -> list[Detection]:
    """The distinct alerts the real incident's run received after its first, in order (`alert` and
    `alert_batch` signals in its history; a payload that cannot be read is left out, as the incident did)."""
    seen = {real.detection.alert_id}
    found: list[Detection] = []
    history = await client.get_workflow_handle(real.workflow_id).fetch_history()
    for event in history.events:
        signal = event.workflow_execution_signaled_event_attributes
        if not event.HasField("workflow_execution_signaled_event_attributes") or \
                signal.signal_name not in ("alert", "alert_batch"):
            continue
        try:
            [value] = await client.data_converter.decode(
                signal.input.payloads, [Detection if signal.signal_name == "alert" else list[Detection]])
        except Exception:  # noqa: BLE001  an unreadable alert was dropped by the incident too
            continue
        for alert in [value] if isinstance(value, Detection) else value:
            if alert.alert_id is None or alert.alert_id not in seen:
                seen.add(alert.alert_id)
                found.append(alert)
    return found
