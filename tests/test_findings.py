"""The investigate step's findings (here: the last prompt deploys) reach the ticket and the internal briefs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from integrations.deploys import record_deploy
from playbook.models import Severity
from tests.behaviour import (  # noqa: F401
    approve_briefs_until,
    artefact_text,
    open_incident,
    terminate_leftovers,
    worker,
)
from tests.support import wait_for, write_playbook

EVIDENCE = """
[evidence.deploys]
kind = "deploys"
lookback_minutes = 60
"""


async def test_findings_go_to_the_ticket_and_the_brief(ts_env: WorkflowEnvironment, task_queue: str,
                                                      tmp_path: Path, home: Path) -> None:
    playbook = write_playbook(tmp_path, EVIDENCE)
    async with worker(ts_env.client, task_queue, playbook, home) as ctx:
        at = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        record_deploy(ctx.store, "d-13", {"prompt": "support/answer", "version": 13, "action": "updated",
                                          "labels": ["production"], "at": at})
        handle, state = await open_incident(ts_env, task_queue, Severity.SEV1)
        state = await wait_for(handle, lambda s: bool(s.findings))
        assert state.findings == [
            f"deploys.json: 1 deploy(s) in the window: support/answer v13 updated [production] at {at}"]

        folder = ctx.store.root / str(state.number)
        # The ticket update is the activity after the findings reach the state: wait for it, not for the state.
        ticket = await artefact_text(folder / "ticket.md", lambda text: "Investigation findings:" in text)
        assert "Investigation findings:" in ticket and "support/answer v13 updated" in ticket

        acked = state.acknowledged_at
        assert acked is not None
        assert await approve_briefs_until(handle, ts_env, acked + timedelta(minutes=33)) == ["brief-1"]
        draft = next((folder / "briefs").glob("0001*-draft.md")).read_text()
        assert "- deploys.json: 1 deploy(s) in the window: support/answer v13" in draft
