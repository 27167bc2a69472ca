"""Readers stay up whatever the store holds: one odd incident or file never stops a listing for everyone."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from activities.review import RISK_REGISTER
from client.temporal import raise_detection
from playbook import search_attributes as sa
from tests.support import detection
from tests.test_cli import cli_env, run, worker_process  # noqa: F401  (fixtures)

# Accepted by the doors before they bounded timestamps; 10000-01-01 once converted to UTC.
ODD = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=23, minutes=59)))
MARKED = "9999-12-31T23:59:59-23:59 (out of range)"


async def _number(env: WorkflowEnvironment, workflow_id: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        number = (await env.client.get_workflow_handle(workflow_id).describe()).typed_search_attributes.get(
            sa.INCIDENT_NUMBER)
        if number:
            return number
        await asyncio.sleep(0.2)
    raise AssertionError(f"{workflow_id} was not numbered")


async def test_an_incident_detected_at_year_9999_does_not_break_the_readers(
        dev_env: WorkflowEnvironment, cli_env: dict[str, str],  # noqa: F811
        worker_process: subprocess.Popen[str]) -> None:  # noqa: F811
    odd = await raise_detection(dev_env.client, detection(detected_at=ODD, services=["odd-bot"]),
                                task_queue=cli_env["FIREBREAK_TASK_QUEUE"])
    plain = await raise_detection(dev_env.client, detection(services=["plain-bot"]),
                                  task_queue=cli_env["FIREBREAK_TASK_QUEUE"])
    odd_number, plain_number = await _number(dev_env, odd.id), await _number(dev_env, plain.id)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        done = run(cli_env, *args)
        assert done.returncode == 0, f"firebreak {' '.join(args)}: {done.stderr}"
        return done

    listed = await asyncio.to_thread(cli, "ls")
    lines = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert MARKED in lines[odd_number] and odd.id in lines[odd_number]
    assert plain_number in lines and "(out of range)" not in lines[plain_number]
    rows = {r["number"]: r for r in json.loads((await asyncio.to_thread(cli, "ls", "--json")).stdout)}
    assert rows[odd_number]["detected_at"] == MARKED and rows[odd_number]["service"] == "odd-bot"
    assert rows[plain_number]["detected_at"][:4].isdigit()

    shown = await asyncio.to_thread(cli, "show", odd_number)
    assert f"detected: {MARKED}" in shown.stdout

    for number in (odd_number, plain_number):
        await asyncio.to_thread(cli, "ack", number, "--as", "ian")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        waiting = json.loads((await asyncio.to_thread(cli, "pending", "--json")).stdout)["waiting"]
        if {odd_number, plain_number} <= {w["incident"] for w in waiting}:
            break
        await asyncio.sleep(0.5)
    else:
        raise AssertionError(f"not both pending: {waiting}")


def test_report_and_risks_skip_a_file_they_cannot_read(cli_env: dict[str, str]) -> None:  # noqa: F811
    artefacts = Path(cli_env["FIREBREAK_HOME"]) / "artefacts"
    good = {"incident": "INC-2026-0007", "impact": {"minutes_to_acknowledge": 4.0, "minutes_to_resolve": 95.0},
            "timeline": [], "approvals": []}
    for name, text in (("INC-2026-0007", json.dumps(good)), ("INC-2026-0008", '{"incident": "INC-2026-0008", '),
                       ("INC-2026-0009", json.dumps({"incident": "INC-2026-0009"}))):
        (artefacts / name).mkdir(parents=True)
        (artefacts / name / "retrospective.json").write_text(text)
    report = run(cli_env, "report", "--json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["resolve_by_incident"] == {"INC-2026-0007": 95.0}
    skipped = [line for line in report.stderr.splitlines() if "skipped" in line]
    assert len(skipped) == 2 and "INC-2026-0008" in skipped[0] and "INC-2026-0009" in skipped[1]

    register = artefacts / RISK_REGISTER
    register.mkdir(parents=True)
    (register / f"{uuid.uuid4().hex}.json").write_text("not json")
    risks = run(cli_env, "risks")
    assert risks.returncode == 0, risks.stderr
    assert "the risk register is empty" in risks.stdout and "skipped, cannot be read" in risks.stderr
