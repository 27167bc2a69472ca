"""`firebreak token` and `firebreak pending` across open incidents, as real subprocesses."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
import uuid
from pathlib import Path

from intake.tokens import TokenStore
from tests.test_cli import cli_env, run, worker_process  # noqa: F401  (fixtures)


def test_token_issue_ls_revoke(cli_env: dict[str, str]) -> None:  # noqa: F811
    issued = run(cli_env, "token", "issue", "olu")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert token.startswith("fbp_") and "shown once" in issued.stderr
    path = Path(cli_env["FIREBREAK_HOME"], "tokens.json")
    assert token not in path.read_text() and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert TokenStore(path).person_for(token) == "olu"

    stranger = run(cli_env, "token", "issue", "mallory")
    assert stranger.returncode == 2 and "not on the roster" in stranger.stderr
    listed = json.loads(run(cli_env, "token", "ls", "--json").stdout)
    assert [(t["person"], bool(t["id"]), bool(t["created_at"])) for t in listed] == [("olu", True, True)]
    assert "olu" in run(cli_env, "token", "ls").stdout

    revoked = run(cli_env, "token", "revoke", "olu")
    assert revoked.returncode == 0 and listed[0]["id"] in revoked.stdout
    assert TokenStore(path).person_for(token) is None
    again = run(cli_env, "token", "revoke", "olu")
    assert again.returncode == 1 and "no token" in again.stderr
    assert "no personal tokens" in run(cli_env, "token", "ls").stdout


def test_pending_across_open_incidents(cli_env: dict[str, str],  # noqa: F811
                                       worker_process: subprocess.Popen[str]) -> None:  # noqa: F811
    numbers = []
    for _ in range(2):
        declared = run(cli_env, "declare", "--service", "support-bot", "--kind", "toxicity", "--fingerprint",
                       f"pend-{uuid.uuid4().hex[:8]}")
        assert declared.returncode == 0, declared.stderr
        numbers.append(declared.stdout.split()[0])
        assert run(cli_env, "ack", numbers[-1], "--as", "ian").returncode == 0
    deadline = time.monotonic() + 30
    rows: list[dict[str, str]] = []
    while time.monotonic() < deadline:
        rows = [w for w in json.loads(run(cli_env, "pending", "--json").stdout)["waiting"]
                if w["incident"] in numbers]
        if len(rows) == 2:
            break
    assert sorted(r["incident"] for r in rows) == sorted(numbers)
    assert all(r["request_id"] == "stabilise-1" and r["role"] == "ai_ops" for r in rows)
    text = run(cli_env, "pending").stdout
    assert all(n in text for n in numbers) and "MAY APPROVE" in text
    one = json.loads(run(cli_env, "pending", numbers[0], "--json").stdout)
    assert [p["request_id"] for p in one] == ["stabilise-1"]
