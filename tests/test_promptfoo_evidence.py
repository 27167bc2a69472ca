"""The investigate step pulls the latest promptfoo eval results of the service's suites: per suite its newest
run (real promptfoo 0.123.1 output, tests/data/README.md), failing cases first in the finding."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.context import ActivityContext
from activities.investigate import InvestigateActivities
from integrations.artefacts import ArtefactStore
from playbook.config import EvidenceSource
from playbook.messages import EvidenceInput
from tests.support import detection, write_playbook

RECORDED = Path(__file__).parent / "data" / "promptfoo-0.123.1-results.json"


def test_latest_run_of_each_suite_with_its_failures(tmp_path: Path) -> None:
    evals = tmp_path / "evals" / "support-bot"
    evals.mkdir(parents=True)
    shutil.copy(RECORDED, evals / "safety-2.json")  # the latest run: one case fails
    older = json.loads(RECORDED.read_text())
    older["results"]["timestamp"] = "2026-11-29T08:00:00.000Z"  # the same suite a day before
    (evals / "safety-1.json").write_text(json.dumps(older))
    (evals / "notes.json").write_text("{not promptfoo")
    store = ArtefactStore(tmp_path / "artefacts")
    ctx = ActivityContext(store=store, playbook_path=write_playbook(tmp_path))
    source = EvidenceSource(kind="promptfoo", path=str(tmp_path / "evals" / "${service}" / "*.json"))
    pack = ActivityEnvironment().run(InvestigateActivities(ctx).collect_evidence, EvidenceInput(
        incident_number="INC-5", workflow_id="incident-5", detection=detection(), sources={"evals": source},
        variables={"service": "support-bot"}))
    item = next(i for i in pack.items if i.name == "evals.json")
    assert item.summary is not None and item.summary.startswith("promptfoo: 0/2 suite(s) passed on their latest run")
    assert "support-bot safety FAILED 1/2 at 2026-11-30" in item.summary
    assert 'first failure: refund: Expected output to not contain "refund"' in item.summary
    saved = json.loads((store.root / "INC-5" / "evidence" / "evals.json").read_text())
    suites = {s["suite"]: s for s in saved["suites"]}
    assert suites["support-bot safety"]["path"].endswith("safety-2.json")  # the newer run of the two
    assert (suites["support-bot safety"]["successes"], suites["support-bot safety"]["failures"]) == (1, 1)
    assert suites["notes"]["problem"]

    none = ActivityEnvironment().run(InvestigateActivities(ctx).collect_evidence, EvidenceInput(
        incident_number="INC-6", workflow_id="incident-6", detection=detection(), sources={"evals": source},
        variables={"service": "other-bot"}))
    missing = next(i for i in none.items if i.name == "evals.json")
    assert missing.error is not None and "no promptfoo results match" in missing.error
