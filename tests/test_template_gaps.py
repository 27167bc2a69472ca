"""An approval text never reads "Move the production label of  back to version  for ...".

A known_good value a planned action needs and its plan lacks is refused when the playbook loads; a value the
incident lacks is named in the text people read.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from playbook.models import Severity
from tests.behaviour import open_incident, terminate_leftovers, worker  # noqa: F401  (autouse)
from tests.support import wait_for, write_playbook

FIREBREAK = str(Path(sys.executable).parent / "firebreak")
ROLLBACK = """
[actions.rollback_prompt]
kind = "manual"
instructions = "Move the production label of ${known_good_prompt_name} back to version \
${known_good_prompt_version} for ${service}."
[actions.unused]
kind = "http"
url = "https://control.example/${known_good_model}"
"""


def test_a_plan_without_the_known_good_its_action_needs_is_refused_at_load(tmp_path: Path) -> None:
    lacking = write_playbook(tmp_path, ROLLBACK + '[services.rag-api]\nstabilise = ["rollback_prompt"]\n'
                                       '[services.support-bot]\nknown_good = { prompt_name = "answer" }\n'
                                       'stabilise = ["rollback_prompt"]\n')
    checked = subprocess.run([FIREBREAK, "--playbook", str(lacking), "check-playbook"], capture_output=True,
                             text=True, timeout=60, env=os.environ)
    assert checked.returncode == 2
    assert checked.stderr.startswith(
        f"firebreak: {lacking}: services.rag-api.stabilise: action 'rollback_prompt' needs "
        "${known_good_prompt_name} (in its instructions), but this plan's known_good has no prompt_name: set "
        "known_good = { prompt_name = ... } for 'rag-api', or plan an action that does not need it")
    assert "(and 2 more problem(s))" in checked.stderr  # rag-api's version, support-bot's version

    whole = write_playbook(tmp_path, ROLLBACK + '[services.rag-api]\nstabilise = ["rollback_prompt"]\n'
                                     'known_good = { prompt_name = "answer", prompt_version = 3 }\n')
    checked = subprocess.run([FIREBREAK, "--playbook", str(whole), "check-playbook"], capture_output=True,
                             text=True, timeout=60, env=os.environ)
    assert checked.returncode == 0, checked.stderr  # and the unplanned action's ${known_good_model} is no one's


async def test_a_value_the_incident_lacks_is_named_in_the_approval_text(ts_env: WorkflowEnvironment, task_queue: str,
                                                                        tmp_path: Path, home: Path) -> None:
    body = """
[actions.patch_prompt]
kind = "manual"
instructions = "Patch ${prompt_name} v${prompt_version} for ${service} (deploy ${deploy_id})."
[services.support-bot]
stabilise = ["patch_prompt"]
"""
    async with worker(ts_env.client, task_queue, write_playbook(tmp_path, body), home):
        handle, _ = await open_incident(ts_env, task_queue, Severity.SEV2)  # a detection without a prompt
        state = await wait_for(handle, lambda s: bool(s.pending_approvals()))
    subject = state.pending_approvals()[0].subject
    assert subject == ("patch_prompt: Patch [missing: prompt_name] v[missing: prompt_version] for support-bot "
                       "(deploy d-123).")
