"""Running incidents outlive deploys: every recorded history must replay against today's workflow code."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from client.codec import data_converter
from workflows.incident import IncidentWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_histories_of_several_shapes() -> None:
    assert {p.stem for p in HISTORIES} >= {"quick_sev3", "sev1_approvals_cadence", "storm", "remedy",
                                           "remedy_candidate", "final_brief", "briefs_per_audience"}


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())
    # What the worker uses: with FIREBREAK_CODEC_KEYS set, these plaintext histories still replay (pass through).
    replayer = Replayer(workflows=[IncidentWorkflow], data_converter=data_converter())
    await replayer.replay_workflow(history)
