"""What an incident teaches becomes a playbook diff a person can apply, and the patched playbook still loads."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from playbook.config import load_playbook
from playbook.models import Resolution, RetrospectiveNotes, Role, Severity, SeverityChange
from tests.behaviour import (  # noqa: F401  (terminate_leftovers is an autouse fixture)
    open_incident,
    terminate_leftovers,
    worker,
)
from tests.support import wait_for, write_playbook
from workflows.incident import IncidentWorkflow

BODY = """
[actions.disable_tools]
kind = "http"
url = "http://127.0.0.1:9/flags/${service}-tools/disable"
[actions.purge_caches]
kind = "manual"
instructions = "Purge ${service} caches"
[approvals.actions.disable_tools]
SEV1 = "auto"
SEV2 = "approve:ai_ops"
[services."*"]
contain = ["disable_tools", "purge_caches"]
"""


async def test_rerated_severity_and_expired_approval_become_a_playbook_diff(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path) -> None:
    playbook = write_playbook(tmp_path, BODY)
    original = playbook.read_text()
    async with worker(ts_env.client, task_queue, playbook, home) as ctx:
        handle, state = await open_incident(ts_env, task_queue, severity=Severity.SEV2, kind="toxicity",
                                            services=["support-bot"])
        await wait_for(handle, lambda s: bool(s.pending_approvals()))
        await ts_env.sleep(timedelta(minutes=31))  # 15 min, escalated to the backup for 15 more, then expired
        await wait_for(handle, lambda s: any(a.status.value == "expired" for a in s.approvals))
        await ts_env.sleep(timedelta(minutes=31))  # the manual purge is not confirmed either
        await wait_for(handle, lambda s: sum(a.status.value == "expired" for a in s.approvals) == 2)
        await handle.signal(IncidentWorkflow.set_severity, SeverityChange(
            by="ian", role=Role.INCIDENT_COMMANDER, severity=Severity.SEV1, comment="customers affected"))
        await handle.signal(IncidentWorkflow.resolve, Resolution(by="ian", role=Role.INCIDENT_COMMANDER))
        await wait_for(handle, lambda s: s.retrospective_path is not None)
        await handle.signal(IncidentWorkflow.retrospective_done, RetrospectiveNotes(
            by="ian", role=Role.INCIDENT_COMMANDER, root_cause="unsafe prompt"))
        await wait_for(handle, lambda s: s.status.value == "closed")

    folder = ctx.store.root / str(state.number)
    reasons = (folder / "playbook-proposal.md").read_text()
    assert "re-rated to SEV1" in reasons and "nobody approved disable_tools in time" in reasons
    assert "nobody confirmed the manual step purge_caches" in reasons
    diff = (folder / "playbook-proposal.diff").read_text()
    assert '+kinds = ["toxicity"]' in diff and '+services = ["support-bot"]' in diff and '+severity = "SEV1"' in diff
    assert '+SEV2 = "auto_with_notice"' in diff  # the severity the approval was asked at
    assert playbook.read_text() == original  # proposed, never applied by Firebreak

    applied = tmp_path / "applied"
    applied.mkdir()
    shutil.copy(playbook, applied / "playbook.toml")
    assert shutil.which("patch"), "the patch tool is part of the test's check"
    subprocess.run(["patch", str(applied / "playbook.toml"), str(folder / "playbook-proposal.diff")], check=True,
                   capture_output=True, timeout=30)
    pb, _ = load_playbook(applied / "playbook.toml")
    assert pb.approvals.actions["disable_tools"] == {Severity.SEV1: "auto", Severity.SEV2: "auto_with_notice"}
    assert any(r.severity == Severity.SEV1 and r.kinds == ["toxicity"] for r in pb.severity.rules)


async def test_a_quiet_incident_proposes_nothing(ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                                                 home: Path) -> None:
    async with worker(ts_env.client, task_queue, write_playbook(tmp_path), home) as ctx:
        handle, state = await open_incident(ts_env, task_queue)
        await handle.signal(IncidentWorkflow.resolve, Resolution(by="ian", role=Role.INCIDENT_COMMANDER))
        await wait_for(handle, lambda s: s.retrospective_path is not None)
        await handle.signal(IncidentWorkflow.retrospective_done, RetrospectiveNotes(
            by="ian", role=Role.INCIDENT_COMMANDER, root_cause="noise"))
        await wait_for(handle, lambda s: s.status.value == "closed")
    assert not (ctx.store.root / str(state.number) / "playbook-proposal.diff").exists()


WATCHED = """
[watchers.support_toxicity]
service = "support-bot"
score_names = ["toxicity"]
threshold = 0.95          # scores at or over this count
min_count = 3
"""


def test_a_breach_the_watcher_missed_proposes_the_threshold_that_would_have_caught_it(tmp_path: Path) -> None:
    from playbook.config import parse_playbook
    from playbook.proposals import propose
    from playbook.state import IncidentState
    from tests.support import detection

    playbook = write_playbook(tmp_path, WATCHED)
    text = playbook.read_text()
    pb = parse_playbook(text, str(playbook))

    def state(**overrides: object) -> IncidentState:
        return IncidentState(workflow_id="incident-x", number="INC-2026-0042", playbook=pb,
                             detection=detection(services=["support-bot"], **overrides))

    # Reported by Alertmanager at 0.91, under the watcher's 0.95: the watcher stayed quiet.
    proposed, reasons = propose(state(source="alertmanager", metrics={"toxicity_p95": 0.917}), text, str(playbook))
    assert reasons == ["INC-2026-0042 came from alertmanager with toxicity_p95=0.917, under watcher support_toxicity's "
                       "threshold 0.95, so the watcher stayed quiet: lower it to 0.91 (check the false-positive rate "
                       "on recent scores first)"]
    assert "threshold = 0.91          # scores at or over this count" in proposed
    assert parse_playbook(proposed, str(playbook)).watchers["support_toxicity"].threshold == 0.91  # type: ignore[union-attr]

    # Raised by the watcher itself, over the threshold, or another kind or service: nothing to learn.
    for quiet in (state(source="langfuse", metrics={"toxicity_p95": 0.5}),
                  state(source="alertmanager", metrics={"toxicity_p95": 0.97}),
                  state(source="alertmanager", metrics={"latency_p95": 0.5}),
                  state(source="alertmanager", kind="hallucination", metrics={"toxicity_p95": 0.5})):
        assert propose(quiet, text, str(playbook)) == (text, [])
