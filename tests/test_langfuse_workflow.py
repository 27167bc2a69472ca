"""A stabilise step rolls a Langfuse prompt back through the usual approval gate, on the time-skipping server."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from playbook.models import Role, Severity
from tests.behaviour import open_incident, read_jsonl, terminate_leftovers, worker  # noqa: F401
from tests.fake_langfuse import fake_langfuse
from tests.support import decision, wait_for, write_playbook
from workflows.incident import IncidentWorkflow

PLAYBOOK = """
[actions.rollback_prompt]
kind = "langfuse_prompt_rollback"
description = "move production back to the known-good prompt"
base_url = "{url}"
[approvals.actions.rollback_prompt]
SEV2 = "approve:ai_ops"
[services.support-bot]
known_good = {{ prompt_name = "support/answer", prompt_version = 1 }}
stabilise = ["rollback_prompt"]
"""


async def test_an_approved_stabilise_step_rolls_the_prompt_back(ts_env: WorkflowEnvironment, task_queue: str,
                                                                 tmp_path: Path, home: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_langfuse(monkeypatch) as fake:
        fake.add_prompt("support/answer", "known good", ["production"])
        fake.add_prompt("support/answer", "the regression", ["production"])
        playbook = write_playbook(tmp_path, PLAYBOOK.format(url=fake.url))
        async with worker(ts_env.client, task_queue, playbook, home) as ctx:
            handle, _ = await open_incident(ts_env, task_queue, Severity.SEV2)
            state = await wait_for(handle, lambda s: bool(s.pending_approvals()))
            assert [(a.request_id, a.role) for a in state.pending_approvals()] == [("stabilise-1", Role.AI_OPS)]
            assert fake.label_versions("support/answer", "production") == [2]
            assert not [r for r in fake.requests if r["method"] == "PATCH"]

            await handle.signal(IncidentWorkflow.approve, decision("stabilise-1", "olu", Role.AI_OPS, "roll back"))
            state = await wait_for(handle, lambda s: any(m.action == "rollback_prompt" for m in s.mitigations))
            done = next(m for m in state.mitigations if m.action == "rollback_prompt")
            assert done.outcome == "done", done.detail
            assert "from version 2 to version 1 (verified)" in done.detail
            assert fake.label_versions("support/answer", "production") == [1]
            assert [r["path"] for r in fake.requests if r["method"] == "PATCH"] == [
                "/api/public/v2/prompts/support%2Fanswer/versions/1"]
            records = read_jsonl(ctx.store.root / str(state.number) / "actions.jsonl")
            assert [(r["action"], r["prompt"], r["version"], r["previous_version"]) for r in records] == [
                ("rollback_prompt", "support/answer", 1, 2)]
