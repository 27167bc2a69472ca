"""The `firebreak` CLI as real subprocesses against the real dev server and a real worker process."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import string
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support import free_port, stop_process, write_playbook

FIREBREAK = str(Path(sys.executable).parent / "firebreak")
PLAYBOOK_BODY = """
[[severity.rules]]
kinds = ["toxicity"]
severity = "SEV2"
[actions.rollback_prompt]
kind = "manual"
instructions = "Roll ${service} back to ${known_good_prompt_name} v${known_good_prompt_version}"
[services."*"]
known_good = { prompt_name = "support-answer", prompt_version = 12 }
stabilise = ["rollback_prompt"]
"""


def run(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FIREBREAK, *args], env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def cli_env(dev_env: WorkflowEnvironment, tmp_path: Path) -> dict[str, str]:
    # Tests share one namespace but not one number ledger: a prefix of their own keeps INC numbers apart.
    prefix = "T" + "".join(random.choices(string.ascii_uppercase, k=6))
    playbook = write_playbook(tmp_path, PLAYBOOK_BODY + f'[tickets]\nnumber_prefix = "{prefix}"\n')
    return {**os.environ, "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "FIREBREAK_HOME": str(tmp_path / "home"), "FIREBREAK_PLAYBOOK": str(playbook),
            "FIREBREAK_TASK_QUEUE": f"cli-{uuid.uuid4()}"}


@pytest.fixture
def worker_process(cli_env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([FIREBREAK, "worker"], env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, stdin=subprocess.DEVNULL)
    yield proc
    stop_process(proc)


def test_incident_lifecycle_from_the_cli(cli_env: dict[str, str], worker_process: subprocess.Popen[str],
                                         tmp_path: Path) -> None:
    fingerprint = f"cli-{uuid.uuid4().hex[:8]}"
    declared = run(cli_env, "declare", "--service", "support-bot", "--kind", "toxicity", "--metric",
                   "toxicity_p95=0.91", "--deploy", "d-123", "--summary", "toxic replies", "--fingerprint",
                   fingerprint, "--alert-id", "a-1")
    assert declared.returncode == 0, declared.stderr
    number = declared.stdout.split()[0]
    assert re.fullmatch(r"T[A-Z]{6}-\d{4}-\d{4}", number) and "SEV2" in declared.stdout  # the test's own prefix

    listed = run(cli_env, "ls", "--json")
    row = next(r for r in json.loads(listed.stdout) if r["number"] == number)
    assert (row["severity"], row["service"], row["kind"]) == ("SEV2", "support-bot", "toxicity")

    stranger = run(cli_env, "ack", number, "--as", "mallory", "--role", "incident_commander")
    assert stranger.returncode == 1 and "not on the roster" in stranger.stderr
    wrong_role = run(cli_env, "ack", number, "--as", "sam")
    assert wrong_role.returncode == 1 and "only ai_ops or incident_commander may acknowledge" in wrong_role.stderr
    assert run(cli_env, "ack", number, "--as", "ian").returncode == 0

    deadline = time.monotonic() + 30
    pending: list[dict[str, str]] = []
    while time.monotonic() < deadline and not pending:
        pending = json.loads(run(cli_env, "pending", number, "--json").stdout)
    assert pending and pending[0]["request_id"] == "stabilise-1"
    assert "Roll support-bot back to support-answer v12" in pending[0]["subject"]

    by_sme = run(cli_env, "approve", number, "stabilise-1", "--as", "sam")
    assert by_sme.returncode == 1 and "needs the role ai_ops" in by_sme.stderr
    assert run(cli_env, "approve", number, "stabilise-1", "--as", "olu", "--comment", "done").returncode == 0
    twice = run(cli_env, "approve", number, "stabilise-1", "--as", "olu")
    assert twice.returncode == 1 and "already approved" in twice.stderr

    assert run(cli_env, "severity", number, "SEV1", "--as", "ian", "--reason", "spreading").returncode == 0
    assert run(cli_env, "note", number, "customers noticed", "--as", "olu").returncode == 0
    in_place = run(cli_env, "show", number).stdout
    assert "Mitigations in place (keep or undo each" in in_place
    assert "rollback_prompt (stabilise): confirmed by a person; undo: no undo configured -> in place" in in_place
    no_undo = run(cli_env, "resolve", number, "--as", "ian", "--undo", "rollback_prompt")
    assert no_undo.returncode == 1 and "rollback_prompt has no undo configured" in no_undo.stderr
    resolved = run(cli_env, "resolve", number, "--as", "ian", "--summary", "rolled back", "--keep", "rollback_prompt")
    assert resolved.returncode == 0, resolved.stderr
    assert "rollback_prompt (stabilise): confirmed by a person; undo: no undo configured -> kept, chosen by ian" in (
        resolved.stdout)
    retro = run(cli_env, "retro", number, "--as", "ian", "--root-cause", "prompt v13 lost its guardrail",
                "--factor", "no regression test", "--prevent", "promptfoo gate",
                "--action", "add toxicity suite|olu|2026-12-01")
    assert retro.returncode == 0, retro.stderr

    shown = ""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "closed" not in shown.split("\n")[0]:
        shown = run(cli_env, "show", number).stdout
    header = shown.split("\n")[0]
    assert number in header and "SEV1" in header and "closed" in header
    for expected in ("refused: acknowledge", "severity SEV2 -> SEV1", "olu (ai_ops): note — customers noticed",
                     "resolved", "retrospective held", "rollback_prompt -> done"):
        assert expected in shown
    retro_md = Path(cli_env["FIREBREAK_HOME"], "artefacts", number, "retrospective.md").read_text()
    assert "prompt v13 lost its guardrail" in retro_md and "add toxicity suite — owner olu" in retro_md
    closed = json.loads(run(cli_env, "ls", "--all", "--json").stdout)
    assert any(r["number"] == number and r["status"] == "closed" for r in closed)

    items = json.loads(run(cli_env, "actions", "--incident", number, "--json").stdout)
    assert [(i["id"], i["item"]["owner"], i["status"]) for i in items] == [(f"action-{number}-1", "olu", "open")]
    not_owner = run(cli_env, "done", f"action-{number}-1", "--as", "sam")
    assert not_owner.returncode == 1 and "only the owner (olu)" in not_owner.stderr
    assert run(cli_env, "done", f"action-{number}-1", "--as", "olu", "--note", "suite merged").returncode == 0
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and "no open action items" not in run(cli_env, "actions", "--incident",
                                                                              number).stdout:
        time.sleep(0.2)
    assert "no open action items" in run(cli_env, "actions", "--incident", number).stdout


def test_declare_from_a_detection_file_joins_by_fingerprint(cli_env: dict[str, str],
                                                           worker_process: subprocess.Popen[str],
                                                           tmp_path: Path) -> None:
    fingerprint = f"file-{uuid.uuid4().hex[:8]}"
    for alert in ("x-1", "x-2", "x-1"):
        path = tmp_path / f"{alert}.json"
        path.write_text(json.dumps({"source": "script", "kind": "pii_in_logs", "services": ["search-api"],
                                    "fingerprint": fingerprint, "alert_id": alert, "summary": "emails in logs"}))
        result = run(cli_env, "declare", "--file", str(path))
        assert result.returncode == 0, result.stderr
    shown = json.loads(run(cli_env, "show", result.stdout.split()[0], "--json").stdout)
    assert shown["alert_count"] == 2 and shown["severity"] == "SEV3"


def test_bad_input_is_refused_with_the_reason(cli_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(write_playbook(tmp_path).read_text().replace('backup = "bea"', 'backup = "nobody"', 1))
    checked = run(cli_env, "--playbook", str(bad), "check-playbook")
    assert checked.returncode == 2
    assert f"{bad}: roster.people.ian.backup: 'nobody' is not in roster.people" in checked.stderr
    worker = run({**cli_env, "FIREBREAK_PLAYBOOK": str(bad)}, "worker", timeout=30)
    assert worker.returncode == 2 and "refusing to start" in worker.stderr
    assert "roster.people.ian.backup" in worker.stderr
    missing = run(cli_env, "declare", "--kind", "toxicity")
    assert missing.returncode == 2 and "--service" in missing.stderr
    bad_file = tmp_path / "d.json"
    bad_file.write_text(json.dumps({"kind": "weather", "services": ["x"]}))
    refused = run(cli_env, "declare", "--file", str(bad_file))
    assert refused.returncode == 2 and "kind" in refused.stderr
    unknown = run(cli_env, "show", "INC-1999-0001")
    assert unknown.returncode == 1 and "no incident INC-1999-0001" in unknown.stderr
    down = run({**cli_env, "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}, "ls")
    assert down.returncode == 3 and "cannot reach Temporal" in down.stderr


def test_up_runs_everything_and_carries_on_after_a_restart(tmp_path: Path) -> None:
    port, ui_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env.update({"FIREBREAK_HOME": str(tmp_path / "home"), "FIREBREAK_PLAYBOOK": str(write_playbook(tmp_path,
                PLAYBOOK_BODY)), "FIREBREAK_TASK_QUEUE": f"up-{uuid.uuid4()}"})
    up_args = ["up", "--port", str(port), "--ui-port", str(ui_port), "--no-api"]
    client_env = {**env, "TEMPORAL_ADDRESS": f"127.0.0.1:{port}"}

    def start() -> subprocess.Popen[str]:
        proc = subprocess.Popen([FIREBREAK, *up_args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, stdin=subprocess.DEVNULL)
        assert proc.stdout is not None
        seen = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            seen.append(line)
            if "Temporal UI:" in line:
                assert f"http://localhost:{ui_port}" in line
                return proc
            if not line and proc.poll() is not None:
                break
        proc.kill()
        raise AssertionError("firebreak up did not come up:\n" + "".join(seen))

    def stop(proc: subprocess.Popen[str]) -> str:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        return out

    first = start()
    try:
        declared = run(client_env, "declare", "--service", "rag-api", "--kind", "hallucination")
        assert declared.returncode == 0, declared.stderr
        number = declared.stdout.split()[0]
        assert run(client_env, "ack", number, "--as", "ian").returncode == 0
    finally:
        assert "stopped" in stop(first)
    assert (tmp_path / "home" / "temporal.db").exists()

    second = start()
    try:
        listed = json.loads(run(client_env, "ls", "--json").stdout)
        assert [r["status"] for r in listed if r["number"] == number] == ["acknowledged"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "stabilise-1" not in run(client_env, "pending", number).stdout:
            time.sleep(0.2)
        approved = run(client_env, "approve", number, "stabilise-1", "--as", "olu")
        assert approved.returncode == 0, approved.stderr + approved.stdout
        assert "approved" in approved.stdout
    finally:
        stop(second)
