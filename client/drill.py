"""Start a drill: the closed incident's first detection again, now, under a fingerprint of its own, as a practice
incident (playbook/drill.py says what a drill changes)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client, WorkflowHandle

from client.temporal import _start_attributes, redacted, static_details, static_summary
from client.workflow_types import IncidentWorkflow
from playbook.drill import DrillInfo
from playbook.models import IncidentStatus
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
    return await client.start_workflow(
        IncidentWorkflow.run, IncidentInput(detection=detection, drill=drill), id=f"incident-drill-{tag}",
        task_queue=task_queue, static_summary=f"DRILL of {real.number}: {static_summary(detection)}"[:200],
        static_details=static_details(detection), search_attributes=_start_attributes(detection))
