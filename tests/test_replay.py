"""Running workflows outlive deploys: every recorded history must replay against today's workflow code.

tests/histories/record.py records them: incident shapes, a chain of incident runs joined by continue-as-new (each
later run starts from the carried state), an action item and watch runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from client.codec import data_converter
from worker import workflow_runner
from workflows.action_items import ActionItemWorkflow
from workflows.incident import IncidentWorkflow
from workflows.watch import WatchWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_histories_of_several_shapes() -> None:
    assert {p.stem for p in HISTORIES} >= {"quick_sev3", "sev1_approvals_cadence", "storm", "remedy",
                                           "remedy_candidate", "final_brief", "briefs_per_audience",
                                           "action_items_incident", "action_item", "watch_breach", "watch_quiet",
                                           "watch_read_failed", "pending_unreadable", "alert_sources",
                                           "continue_as_new_1", "continue_as_new_2", "serious",
                                           "light_quick_sev3", "light_sev1_approvals_cadence"}


def test_every_workflow_type_has_a_history() -> None:
    types = {WorkflowHistory.from_json(p.stem, p.read_text()).events[0]
             .workflow_execution_started_event_attributes.workflow_type.name for p in HISTORIES}
    assert types == {"IncidentWorkflow", "ActionItemWorkflow", "WatchWorkflow"}


def test_a_run_started_from_continue_as_new_is_recorded() -> None:
    carried = [p.stem for p in HISTORIES if WorkflowHistory.from_json(p.stem, p.read_text()).events[0]
               .workflow_execution_started_event_attributes.continued_execution_run_id]
    assert len(carried) >= 3, "runs carried while open, while monitoring and while the review waits"


@pytest.mark.parametrize("strict", [False, True], ids=["passed-through", "strict"])
@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path, strict: bool) -> None:
    history = WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())
    # What the worker uses: with FIREBREAK_CODEC_KEYS set, these plaintext histories still replay (pass through).
    # Both sandboxes: the production one (workflow code passed through) and the strict one, which re-imports the
    # workflow code per run so every call it makes on the way is checked for non-determinism.
    replayer = Replayer(workflows=[IncidentWorkflow, ActionItemWorkflow, WatchWorkflow],
                        data_converter=data_converter(), workflow_runner=workflow_runner(strict=strict))
    await replayer.replay_workflow(history)
