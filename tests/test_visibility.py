"""What people watching the Temporal UI see: summary, current details, search attributes, named step activities."""

from __future__ import annotations

from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from client.temporal import raise_detection
from playbook import search_attributes as sa
from playbook.models import Role
from tests.support import detection, human, incident_worker, wait_for, write_playbook
from workflows.incident import IncidentWorkflow


async def test_ui_shows_summary_details_search_attributes_and_steps(dev_env: WorkflowEnvironment, task_queue: str,
                                                                   tmp_path: Path, home: Path) -> None:
    playbook = write_playbook(tmp_path, """
[[severity.rules]]
kinds = ["pii_in_logs"]
severity = "SEV1"
""")
    client = dev_env.client
    async with incident_worker(client, task_queue, playbook, home):
        handle = await raise_detection(client, detection(kind="pii_in_logs", services=["search-api"],
                                                         summary="emails in request logs"), task_queue=task_queue)
        await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
        state = await wait_for(handle, lambda s: s.status.value == "monitoring")

        description = await handle.describe()
        assert await description.static_summary() == "pii_in_logs on search-api: emails in request logs"
        static_details = await description.static_details() or ""
        assert static_details.startswith("**pii_in_logs** (data exposure) on **search-api**")
        assert "- summary: emails in request logs" in static_details and "`toxicity_p95=0.91`" in static_details
        attrs = description.typed_search_attributes
        assert attrs.get(sa.INCIDENT_NUMBER) == state.number
        assert attrs.get(sa.INCIDENT_SEVERITY) == "SEV1"
        assert attrs.get(sa.INCIDENT_STATUS) == "monitoring"
        assert attrs.get(sa.AFFECTED_SERVICE) == "search-api"
        assert attrs.get(sa.SIGNAL_KIND) == "pii_in_logs"
        assert attrs.get(sa.ALERT_COUNT) == 1
        assert attrs.get(sa.DETECTED_AT) is not None

        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert metadata.current_details.startswith(f"**{state.number}** · SEV1 · monitoring")
        assert "next brief due" in metadata.current_details
        assert "acknowledged by ian at " in metadata.current_details
        assert "**Mitigations in place**" in metadata.current_details

        found = [w.id async for w in client.list_workflows(
            f"IncidentSeverity = 'SEV1' AND AffectedService = 'search-api' AND IncidentNumber = '{state.number}'")]
        assert found == [handle.id]

        names, timers = [], []
        converter = DataConverter.default
        upserts = tasks = 0  # tasks: the activations workflow tasks ran (one more per local activity's result)
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:  # the SDK's own upsert
                fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
                upserts += set(fields) != {"TemporalChangeVersion"}  # of each patch marker is not ours
            tasks += event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
            local = event.marker_recorded_event_attributes.marker_name == "core_local_activity"
            tasks += local  # light-runs-v1: a quick step is a local activity, its result one more activation
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED or local:
                names.append((await converter.decode([event.user_metadata.summary]))[0])
            elif event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
                timers.append((await converter.decode([event.user_metadata.summary]))[0])
        # Firebreak upserts its search attributes at most once per activation (one-upsert-v1), not per change.
        assert 0 < upserts <= tasks, (upserts, tasks)
        # One activity numbers the incident and opens its local ticket (open-ticket-v1).
        assert names[0] == "Detect: classify severity, number the incident, open its ticket"
        assert f"Detect: notify ian: {state.number} needs acknowledgement" in names
        assert f"Detect: update ticket {state.ticket.key}: Acknowledged by ian" in names  # type: ignore[union-attr]
        assert "Investigate: collect the evidence pack" in names
        # Every activity call says which step it serves, as the UI's timeline shows it; every timer says what for.
        steps = ("Detect", "Stabilise", "Contain", "Investigate", "Remediate", "Communicate", "Review")
        assert all(name.split(": ", 1)[0] in steps for name in names), names
        assert timers and all(timers), timers
