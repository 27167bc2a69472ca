"""Input a workflow cannot read fails visibly; a signal it cannot read is dropped with a warning, not a wedge.

Raw JSON payloads, as a sender that bypasses the doors (or an older door) could get into Temporal: a metric of
null is what pydantic writes for NaN / Infinity / 1e309.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from playbook import search_attributes as sa
from tests.behaviour import open_incident, started, terminate_leftovers, worker  # noqa: F401  (autouse)
from tests.support import wait_for, write_playbook
from tests.test_cli import run
from workflows.unreadable import UNREADABLE

BAD = {"kind": "toxicity", "services": ["support-bot"], "metrics": {"toxicity_p95": None}, "alert_id": "bad-1"}


async def test_an_incident_whose_input_cannot_be_read_fails_saying_what(
        dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with worker(dev_env.client, task_queue, write_playbook(tmp_path), home):
        handle = started(await dev_env.client.start_workflow(  # as the doors start one, search attributes too
            "IncidentWorkflow", {"detection": BAD}, id=f"incident-unreadable-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue, search_attributes=TypedSearchAttributes([
                SearchAttributePair(sa.INCIDENT_STATUS, "open"), SearchAttributePair(sa.SIGNAL_KIND, "toxicity")])))
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), 30)  # today: every workflow task fails, for ever
        # the CLI says so too
        env = {**os.environ, "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
               "FIREBREAK_HOME": str(home), "FIREBREAK_PLAYBOOK": str(tmp_path / "playbook.toml")}
        shown = await asyncio.to_thread(run, env, "show", handle.id)
        listed = await asyncio.to_thread(run, env, "ls", "--all", "--json", "--limit", "1000")
    assert shown.returncode == 1
    assert shown.stderr.startswith(f"firebreak: {handle.id} failed: the incident's start input cannot be read")
    assert [r["status"] for r in json.loads(listed.stdout) if r["workflow_id"] == handle.id] == ["open (failed)"]
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == UNREADABLE and cause.non_retryable
    assert ("the incident's start input cannot be read, so it fails instead of running: "
            "detection.metrics.toxicity_p95: Input should be a valid number (got None)") in cause.message
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
    logged = [r for r in caplog.records if "start input cannot be read" in r.getMessage()]
    assert logged and logged[0].levelno == logging.ERROR
    assert getattr(logged[0], "temporal_workflow", {}).get("workflow_id") == handle.id


async def test_an_alert_that_cannot_be_read_is_dropped_and_the_incident_goes_on(
        dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with worker(dev_env.client, task_queue, write_playbook(tmp_path), home):
        handle, state = await open_incident(dev_env, task_queue, acknowledge=False)
        assert state.alert_count == 1
        # a single alert the SDK cannot decode: dropped with an error in the log
        await handle.signal("alert", BAD)
        # a batch with one alert that cannot be read: that one is dropped, the others count
        good = {"kind": "toxicity", "services": ["support-bot"], "metrics": {"toxicity_p95": 0.95}, "alert_id": "g-2"}
        await handle.signal("alert_batch", [good, {**BAD, "alert_id": "bad-2"}])
        state = await wait_for(handle, lambda s: s.alert_count == 2)
        dropped = [e for e in state.timeline if e.what == "alert dropped: it cannot be read"]
        assert len(dropped) == 1 and "metrics.toxicity_p95: Input should be a valid number" in dropped[0].details["why"]
        # and it still acts on what comes next
        await handle.signal("alert", {**good, "alert_id": "g-3"})
        await wait_for(handle, lambda s: s.alert_count == 3)
    messages = [r.getMessage() for r in caplog.records]
    assert any("Failed deserializing signal input for alert" in m and handle.id in m for m in messages)
    assert any("an alert in a batch cannot be read and is dropped" in m for m in messages)
