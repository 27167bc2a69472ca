"""One notification group, several alerts: the incident takes the model, prompt and version a later alert names
when it does not know them yet, and lists every model and prompt its alerts named (state, `firebreak show`, the
Temporal UI's current details). Through the real intake, the real dev server and a real worker."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from embedded.binaries import temporal_cli
from playbook.alert_labels import SeenLabels, merge
from tests.intake.support import AM_TOKEN, Running, am_alert, am_message, bearer
from tests.support import detection, wait_for

FIREBREAK = str(Path(sys.executable).parent / "firebreak")


async def _post(api: Running, body: dict) -> str:  # type: ignore[type-arg]
    answer = await api.http.post("/v1/alerts/alertmanager", json=body, headers=bearer(AM_TOKEN))
    assert answer.status_code == 202, answer.text
    [incident] = answer.json()["incidents"]
    return str(incident["workflow_id"])


def _without_model(alert: dict) -> dict:  # type: ignore[type-arg]
    alert["labels"].pop("model")
    return alert


async def run(*argv: str, env: dict[str, str] | None = None) -> str:
    """A command as a person runs it (asynchronously: the worker under test shares this event loop)."""
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, out.decode()
    return out.decode()


async def test_a_later_alerts_model_and_prompt_reach_the_incident(api: Running, worker: None, home: Path,
                                                                  dev_env: WorkflowEnvironment) -> None:
    group = f'{{}}:{{alertname="LLMToxicitySpike", service="support-bot", run="{uuid.uuid4().hex}"}}'
    # One message, two alerts; only the second names a model (as Alertmanager 0.25 sent it to a new user).
    wid = await _post(api, am_message([_without_model(am_alert(uuid.uuid4().hex[:16])),
                                       am_alert(uuid.uuid4().hex[:16], model="gpt-4o-mini")], group_key=group))
    handle = dev_env.client.get_workflow_handle(wid)
    state = await wait_for(handle, lambda s: s.ticket is not None and s.alert_count == 2)
    assert state.detection.model == "gpt-4o-mini"
    ticket = json.loads((home / "artefacts" / str(state.number) / "ticket.json").read_text())
    assert ticket["model"] == "gpt-4o-mini"

    # Later messages of the same group: a prompt and its version arrive; a known model is not replaced.
    assert await _post(api, am_message([am_alert(uuid.uuid4().hex[:16], prompt="support-answer",
                                                 prompt_version="7")], group_key=group)) == wid
    assert await _post(api, am_message([am_alert(uuid.uuid4().hex[:16], model="claude-3-5-haiku",
                                                 prompt="support-answer", prompt_version="8")],
                                       group_key=group)) == wid
    state = await wait_for(handle, lambda s: s.alert_count == 4)
    d = state.detection
    assert (d.model, d.prompt_name, d.prompt_version) == ("gpt-4o-mini", "support-answer", 7)
    assert state.labels_seen.models == ["gpt-4o-mini", "gpt-4o", "claude-3-5-haiku"]
    assert state.labels_seen.prompts == ["support-answer v7", "support-answer v8"]

    env = {**os.environ, "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host}
    shown = await run(FIREBREAK, "show", wid, env=env)
    assert "model: gpt-4o-mini   prompt: support-answer v7" in shown
    named = ("named in alerts: models gpt-4o-mini, gpt-4o, claude-3-5-haiku; "
             "prompts support-answer v7, support-answer v8")
    assert named in shown
    # The Temporal UI's Current Details, read with the `temporal` CLI.
    assert named in await run(temporal_cli(), "workflow", "metadata", "--address", env["TEMPORAL_ADDRESS"],
                              "--workflow-id", wid)


def test_merge_fills_gaps_only() -> None:
    first = detection(model=None, prompt_name=None, prompt_version=None, deploy_id=None)
    merged, seen = merge(first, SeenLabels(), detection(model=None, prompt_version=3, deploy_id=None))
    assert (merged.prompt_name, merged.prompt_version) == (None, None)  # a version without its prompt is not taken
    merged, seen = merge(merged, seen, detection(model="m1", prompt_name="p", prompt_version=None, deploy_id="d-9"))
    assert (merged.model, merged.prompt_name, merged.prompt_version, merged.deploy_id) == ("m1", "p", None, "d-9")
    merged, seen = merge(merged, seen, detection(model="m2", prompt_name="p", prompt_version=4, deploy_id="d-10"))
    assert (merged.model, merged.prompt_version, merged.deploy_id) == ("m1", 4, "d-9")  # the version of that prompt
    merged, seen = merge(merged, seen, detection(model="m2", prompt_name="other", prompt_version=1))
    assert (merged.prompt_name, merged.prompt_version) == ("p", 4)
    assert seen.models == ["m1", "m2"] and seen.prompts == ["p", "p v4", "other v1"] and seen.more == 0
    for n in range(30):
        merged, seen = merge(merged, seen, detection(model=f"x{n}"))
    assert len(seen.models) == 20 and seen.more == 12
