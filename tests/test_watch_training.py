"""Training on restricted data: the training-data watcher reads the items of the datasets used for training from
the fake Langfuse (tests/fake_langfuse.py's dataset items, written from Langfuse's dataset-items API) through the
real SDK, and raises a data-exposure incident with item ids and counts only, each item once."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from playbook.config import PlaybookError, parse_playbook
from playbook.models import SignalKind
from tests.behaviour import run_watch, started, terminate_leftovers, worker  # noqa: F401
from tests.fake_langfuse import FakeLangfuse
from tests.support import ROSTER, wait_for
from tests.test_watch_kinds import PII, _playbook, fake  # noqa: F401  (fake is a fixture)


def test_the_watcher_needs_its_datasets_and_known_pii_kinds() -> None:
    with pytest.raises(PlaybookError, match="datasets"):
        parse_playbook(ROSTER + '[watchers.t]\nkind = "training_data"\nservice = "support-bot"\n')
    with pytest.raises(PlaybookError, match="unknown PII kind"):
        parse_playbook(ROSTER + '[watchers.t]\nkind = "training_data"\nservice = "s"\ndatasets = ["d"]\n'
                       'pii_kinds = ["NAME"]\n')


async def test_restricted_training_items_raise_an_incident_with_ids_and_counts_only(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path, fake: FakeLangfuse) -> None:  # noqa: F811
    name = f"train{uuid.uuid4().hex[:6]}"
    playbook = _playbook(tmp_path, fake, name, 'kind = "training_data"\ndatasets = ["support-ft"]\n'
                         '[[severity.rules]]\nkinds = ["restricted_training_data"]\nseverity = "SEV1"\n')
    now = await ts_env.get_current_time()
    fake.add_dataset("support-ft", now - timedelta(days=3))
    for i in range(3):
        fake.add_dataset_item("support-ft", at=now - timedelta(days=2), input=f"how do I reset password {i}?",
                              expected_output="Use the reset link.", item_id=f"clean-{i}")
    async with worker(ts_env.client, task_queue, playbook, home):
        quiet = await run_watch(ts_env, task_queue, name, playbook)
        assert not quiet.decision.raise_alert and quiet.count == 0

        fake.add_dataset_item("support-ft", at=now - timedelta(hours=1), input=f"I am {PII[0]}",
                              expected_output=f"card {PII[2]}", item_id="pii-1")
        fake.add_dataset_item("support-ft", at=now - timedelta(hours=1), input="internal pricing sheet",
                              metadata={"tags": ["Confidential"]}, item_id="tagged-1")
        archived = fake.add_dataset_item("support-ft", at=now - timedelta(hours=1), input=f"mail {PII[0]}",
                                         item_id="archived-1")
        fake.update_dataset_item("support-ft", archived, at=now - timedelta(minutes=30), status="ARCHIVED")
        found = await run_watch(ts_env, task_queue, name, playbook)
        assert found.decision.raise_alert and found.count == 2 and found.incident_workflow_id
        incident = started(ts_env.client.get_workflow_handle(found.incident_workflow_id))
        state = await wait_for(incident, lambda s: s.ticket is not None)
        det = state.detection
        assert det.kind == SignalKind.RESTRICTED_TRAINING_DATA and state.severity.value == "SEV1"  # the playbook's rule
        assert sorted(det.links) == ["langfuse-dataset-item:pii-1", "langfuse-dataset-item:tagged-1"]
        assert det.metrics["flagged_items"] == 2 and det.metrics["items_read"] == 6
        assert det.metrics["email_findings"] == 1 and det.metrics["card_findings"] == 1
        assert det.metrics["restricted_tag_findings"] == 1 and det.labels["datasets"] == "support-ft"

        again = await run_watch(ts_env, task_queue, name, playbook)  # each item is reported once
        assert not again.decision.raise_alert and again.count == 0

        seen = [state.model_dump_json(), found.model_dump_json(),
                *[p.read_text(errors="replace") for p in (home / "artefacts").rglob("*") if p.is_file()]]
        for text in seen:
            for raw in (PII[0], PII[2], "internal pricing sheet"):
                assert raw not in text
        assert json.loads((home / "artefacts" / "_watchers" / f"{name}.json").read_text())["traces"] == [
            "pii-1", "tagged-1"]
