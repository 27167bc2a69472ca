"""Record the evidence-freeze history: `.venv/bin/python -m tests.histories.record_freeze` writes freeze.json here.

An incident under the freeze-v1 marker: a prompt's model switched to the known-good one (langfuse_prompt_model,
its target frozen into the evidence pack first); an Unleash flag change with freeze = "required" whose snapshot fails
(no token on the worker) held for the incident commander, an override without a reason refused, one with a reason
taken (the action then fails for the same missing token); the model switch undone at resolution. Kept apart from
record.py so the other shapes are recorded as before.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from pathlib import Path

from client.temporal import raise_detection
from playbook.models import Resolution, Role, Severity
from tests.fake_langfuse import fake_langfuse
from tests.histories.record import RETRO, _save
from tests.support import (
    decision,
    detection,
    human,
    incident_worker,
    recorder,
    time_skipping_env,
    wait_for,
    write_playbook,
)
from workflows.incident import IncidentWorkflow

PLAYBOOK = """
[actions.model_to_known_good]
kind = "langfuse_prompt_model"
base_url = "{langfuse}"
[actions.disable_tools]
kind = "unleash_flag"
base_url = "{control}"
feature = "${{service}}.tools"
token_env = "RECORD_UNSET_UNLEASH_TOKEN"
freeze = "required"
[approvals.actions.model_to_known_good]
SEV3 = "auto"
[approvals.actions.disable_tools]
SEV3 = "auto"
[services.freeze-bot]
known_good = {{ model = "good-model", prompt_name = "freeze-bot" }}
stabilise = ["model_to_known_good"]
contain = ["disable_tools"]
"""
OVERRIDE = "freeze-override-contain-disable_tools"


async def main() -> None:
    with fake_langfuse() as langfuse, recorder() as control:
        os.environ.update(langfuse.env())
        os.environ.pop("RECORD_UNSET_UNLEASH_TOKEN", None)
        langfuse.add_prompt("freeze-bot", "v1", ["production"], config={"model": "bad-model"})
        env = await time_skipping_env()
        async with env:
            with tempfile.TemporaryDirectory() as tmp:
                playbook = write_playbook(Path(tmp), PLAYBOOK.format(langfuse=langfuse.url, control=control.url))
                tq = f"record-{uuid.uuid4()}"
                async with incident_worker(env.client, tq, playbook, Path(tmp) / "home"):
                    handle = await raise_detection(env.client, detection(services=["freeze-bot"],
                                                                         severity_hint=Severity.SEV3), task_queue=tq)
                    await wait_for(handle, lambda s: s.ticket is not None)
                    await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
                    await wait_for(handle, lambda s: any(a.request_id == OVERRIDE for a in s.pending_approvals()),
                                   attempts=600)
                    await handle.signal(IncidentWorkflow.approve,  # refused: no reason
                                        decision(OVERRIDE, "ian", Role.INCIDENT_COMMANDER))
                    await handle.signal(IncidentWorkflow.approve,
                                        decision(OVERRIDE, "ian", Role.INCIDENT_COMMANDER, "harm now"))
                    await wait_for(handle, lambda s: s.status.value == "monitoring", attempts=600)
                    await handle.signal(IncidentWorkflow.resolve, Resolution(
                        by="ian", role=Role.INCIDENT_COMMANDER, comment="ok", undo=["model_to_known_good"]))
                    await wait_for(handle, lambda s: s.retrospective_path is not None)
                    await handle.signal(IncidentWorkflow.retrospective_done, RETRO)
                    await _save("freeze", handle)


if __name__ == "__main__":
    asyncio.run(main())
