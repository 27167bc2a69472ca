"""`firebreak serious` as a real subprocess against a worker process: marking a serious incident with its case and
aware time, then reading its clock back."""

from __future__ import annotations

import asyncio
import subprocess

from temporalio.testing import WorkflowEnvironment

from client.temporal import raise_detection
from tests.support import detection, wait_for
from tests.test_cli import cli_env, run, worker_process  # noqa: F401  (fixtures)


async def test_mark_and_show_from_the_cli(dev_env: WorkflowEnvironment, cli_env: dict[str, str],  # noqa: F811
                                          worker_process: subprocess.Popen[str]) -> None:  # noqa: F811
    handle = await raise_detection(dev_env.client, detection(), task_queue=cli_env["FIREBREAK_TASK_QUEUE"])
    number = str((await wait_for(handle, lambda s: s.number is not None)).number)
    marked = await asyncio.to_thread(run, cli_env, "serious", number, "--case", "death", "--aware-at",
                                     "2026-11-30T09:15", "--reason", "a user died after the advice", "--as", "ian")
    assert marked.returncode == 0, marked.stderr
    assert "serious incident (EU AI Act Art. 73): the death of a person" in marked.stdout
    shown = (await asyncio.to_thread(run, cli_env, "serious", number)).stdout
    assert "aware at 2026-11-30T09:15:00+00:00; deadline 2026-12-10T09:15:00+00:00" in shown
    assert "initial report to the authority: not yet; in time: not yet reported" in shown
    await handle.terminate("test over")
