"""`firebreak serious` and `firebreak override` as real subprocesses against a worker process."""

from __future__ import annotations

import subprocess
import uuid

from tests.test_cli import cli_env, run, worker_process  # noqa: F401  (fixtures)


def test_mark_show_and_file_from_the_cli(cli_env: dict[str, str],  # noqa: F811
                                         worker_process: subprocess.Popen[str]) -> None:  # noqa: F811
    declared = run(cli_env, "declare", "--service", "support-bot", "--kind", "toxicity", "--fingerprint",
                   f"ser-{uuid.uuid4().hex[:8]}")
    assert declared.returncode == 0, declared.stderr
    number = declared.stdout.split()[0]
    marked = run(cli_env, "serious", number, "--case", "death", "--aware-at", "2026-11-30T09:15",
                 "--reason", "a user died after the advice", "--as", "ian")
    assert marked.returncode == 0, marked.stderr
    assert "serious incident (EU AI Act Art. 73): the death of a person" in marked.stdout
    shown = run(cli_env, "serious", number).stdout
    assert "aware at 2026-11-30T09:15:00+00:00; deadline 2026-12-10T09:15:00+00:00" in shown

    filed = run(cli_env, "serious", number, "--reported", "MSA-1", "--at", "2026-12-01T10:00Z", "--as", "ian")
    assert filed.returncode == 0 and "initial report sent to the authority" in filed.stdout
    shown = run(cli_env, "serious", number).stdout
    assert "initial report to the authority: MSA-1 at 2026-12-01T10:00:00Z (recorded by ian); in time: yes" in shown
