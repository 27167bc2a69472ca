"""The evidence pack's own copy of the detection carries no raw PII from the alert."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.context import ActivityContext
from activities.investigate import InvestigateActivities
from integrations.artefacts import ArtefactStore
from playbook.messages import EvidenceInput
from tests.support import detection


def test_detection_evidence_is_redacted(tmp_path: Path) -> None:
    ctx = ActivityContext(store=ArtefactStore(tmp_path / "artefacts"), playbook_path=tmp_path / "playbook.toml")
    leaky = detection(kind="pii_in_logs", summary="reply quoted jane.doe@example.com and card 4111 1111 1111 1111",
                      labels={"user": "jane.doe@example.com"})
    pack = ActivityEnvironment().run(InvestigateActivities(ctx).collect_evidence, EvidenceInput(
        incident_number="INC-2026-0009", workflow_id="incident-x", detection=leaky, sources={}, variables={}))
    stored = (tmp_path / "artefacts" / "INC-2026-0009" / "evidence" / "detection.json").read_text()
    assert "jane.doe@example.com" not in stored and "4111 1111 1111 1111" not in stored
    assert "[REDACTED:EMAIL]" in stored and pack.items[0].name == "detection.json"
