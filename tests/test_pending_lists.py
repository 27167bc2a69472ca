"""`firebreak pending` and GET /v1/approvals list every pending request, however many incidents are open."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment

from client.pending import open_approvals
from intake.app import create_app
from intake.people import People
from intake.tokens import TokenStore
from playbook import search_attributes as sa
from playbook.config import load_playbook
from playbook.models import Role
from playbook.pending import MEMO_KEY, PendingEntry
from tests.intake.support import bearer, config, secrets, serving
from tests.test_cli import cli_env, run, worker_process  # noqa: F401  (fixtures)

FILLERS = 260  # more than the 200 incidents the lists used to stop at


async def _filler(client: Client, n: int, run_tag: str) -> WorkflowHandle[object, object]:
    """An open incident as the store holds one that published one pending request (no worker runs it)."""
    now = datetime.now(UTC)
    entry = PendingEntry(request_id="stabilise-1", subject=f"run rollback {run_tag}-{n}", why="policy",
                         role=Role.AI_OPS, escalated_to=[], requested_at=now, deadline=now + timedelta(minutes=15))
    return await client.start_workflow(
        "IncidentWorkflow", {"detection": {"kind": "toxicity", "services": ["filler"]}}, id=f"filler-{run_tag}-{n}",
        task_queue=f"nobody-{run_tag}", memo={MEMO_KEY: [entry]}, search_attributes=TypedSearchAttributes([
            SearchAttributePair(sa.INCIDENT_NUMBER, f"F-2026-{n:04d}"), SearchAttributePair(sa.PENDING_APPROVALS, 1),
            SearchAttributePair(sa.INCIDENT_STATUS, "open")]))


async def test_pending_lists_every_open_incident_past_200(
        dev_env: WorkflowEnvironment, cli_env: dict[str, str],  # noqa: F811
        worker_process: subprocess.Popen[str]) -> None:  # noqa: F811
    client = dev_env.client
    declared = await asyncio.to_thread(run, cli_env, "declare", "--service", "support-bot", "--kind", "toxicity",
                                       "--fingerprint", f"many-{uuid.uuid4().hex[:8]}")
    assert declared.returncode == 0, declared.stderr
    number = declared.stdout.split()[0]
    assert (await asyncio.to_thread(run, cli_env, "ack", number, "--as", "ian")).returncode == 0
    # the incident publishes what waits in it: the count as a search attribute, the list in its memo
    deadline = time.monotonic() + 30
    while True:
        desc = await client.get_workflow_handle(declared.stdout.split("workflow ")[1].split(",")[0]).describe()
        if desc.typed_search_attributes.get(sa.PENDING_APPROVALS):
            break
        assert time.monotonic() < deadline, desc.typed_search_attributes
        await asyncio.sleep(0.2)
    assert [e["request_id"] for e in (await desc.memo())[MEMO_KEY]] == ["stabilise-1"]

    tag = uuid.uuid4().hex[:8]
    gate = asyncio.Semaphore(16)

    async def start(n: int) -> WorkflowHandle[object, object]:
        async with gate:
            return await _filler(client, n, tag)

    fillers = await asyncio.gather(*(start(n) for n in range(FILLERS)))  # newer than the real incident
    try:
        listed = await asyncio.to_thread(run, cli_env, "pending", "--json", timeout=120)
        assert listed.returncode == 0, listed.stderr
        body = json.loads(listed.stdout)
        mine = {(w["incident"], w["request_id"]) for w in body["waiting"]}
        assert (number, "stabilise-1") in mine  # the oldest of 261: the old lists cut it off at 200
        assert {f"F-2026-{n:04d}" for n in range(FILLERS)} <= {i for i, _ in mine}
        assert body["truncated"] is None
        text = await asyncio.to_thread(run, cli_env, "pending", timeout=120)
        assert number in text.stdout and "F-2026-0259" in text.stdout and "incomplete" not in text.stderr

        tokens = TokenStore(Path(cli_env["FIREBREAK_HOME"]) / "http-tokens.json")
        token, _ = tokens.issue("olu")
        people = People(tokens=tokens, roster=load_playbook(cli_env["FIREBREAK_PLAYBOOK"])[0].roster)
        cfg = config()
        async with serving(create_app(cfg, secrets(cfg), client=client, people=people)) as api:
            r = await api.http.get("/v1/approvals", headers=bearer(token), timeout=120)
        assert r.status_code == 200, r.text
        assert {(w["incident"], w["request_id"]) for w in r.json()["waiting"]} >= mine
        assert r.json()["truncated"] is None

        cut = await open_approvals(client, max_listed=100)  # a cap is said, never silent
        assert cut.truncated and "only the first 100 incidents with pending requests were read" in cut.truncated
    finally:
        await asyncio.gather(*(h.terminate() for h in fillers), return_exceptions=True)
