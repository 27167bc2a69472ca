"""`python -m bench.pending`: how long the pending lists take with thousands of open incidents.

An embedded dev server (SQLite file) holds N open incidents, each with one pending approval request published as
an incident publishes it (the PendingApprovals search attribute and the `pending` memo, playbook/pending.py).
They are started without a worker: the lists read the visibility store only, so what the incidents would do
next does not matter here (tests/test_pending_lists.py shows real incidents publishing the same). Then it times
`firebreak pending --json` as a person runs it (a new process each time, start-up included), GET /v1/approvals
on a running intake, and `open_approvals` in process, each a few times, and prints the median.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

import settings
from client.pending import open_approvals
from embedded.binaries import temporal_cli
from intake.app import create_app
from intake.config import IntakeConfig
from intake.people import People
from intake.tokens import TokenStore
from playbook import search_attributes as sa
from playbook.config import parse_playbook
from playbook.models import Role
from playbook.pending import MEMO_KEY, PendingEntry

REPO = Path(__file__).resolve().parent.parent
ROSTER = """
[roster.people.olu]
name = "Olu Ops"
roles = ["incident_commander", "ai_ops", "domain_sme", "communications"]
"""


async def publish(client: Client, n: int, run: str) -> None:
    now = datetime.now(UTC)
    entry = PendingEntry(request_id="stabilise-1", subject=f"rollback_prompt: Move the production label of "
                         f"support-answer back to version 12 for svc-{n % 50}", why="playbook policy for SEV2: "
                         "approve:ai_ops", role=Role.AI_OPS, escalated_to=[], requested_at=now,
                         deadline=now + timedelta(minutes=15))
    await client.start_workflow(
        "IncidentWorkflow", {"detection": {"kind": "toxicity", "services": [f"svc-{n % 50}"]}},
        id=f"incident-bench-{run}-{n}", task_queue=f"bench-nobody-{run}", memo={MEMO_KEY: [entry]},
        search_attributes=TypedSearchAttributes([
            SearchAttributePair(sa.INCIDENT_NUMBER, f"INC-2026-{n:04d}"), SearchAttributePair(sa.PENDING_APPROVALS, 1),
            SearchAttributePair(sa.INCIDENT_STATUS, "acknowledged"), SearchAttributePair(sa.INCIDENT_STEP, "stabilise"),
            SearchAttributePair(sa.AFFECTED_SERVICE, f"svc-{n % 50}")]))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def timed(what: str, repeats: int, run: object) -> float:
    took = []
    for _ in range(repeats):
        started = time.monotonic()
        await run()  # type: ignore[operator]
        took.append(time.monotonic() - started)
    median = statistics.median(took)
    print(f"pending: {what}: median {median:.2f} s over {repeats} runs ({', '.join(f'{t:.2f}' for t in took)})",
          flush=True)
    return median


async def main_async(args: argparse.Namespace) -> None:
    import httpx
    import uvicorn

    with tempfile.TemporaryDirectory(prefix="firebreak-pending-") as tmpdir:
        tmp = Path(tmpdir)
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(), search_attributes=sa.ALL, data_converter=pydantic_data_converter,
            dev_server_database_filename=str(tmp / "temporal.db"))
        async with env:
            client, run = env.client, uuid.uuid4().hex[:6]
            address = client.service_client.config.target_host
            gate = asyncio.Semaphore(32)

            async def one(n: int) -> None:
                async with gate:
                    await publish(client, n, run)

            started = time.monotonic()
            await asyncio.gather(*(one(n) for n in range(args.incidents)))
            print(f"pending: {args.incidents} open incidents with a pending request each, started in "
                  f"{time.monotonic() - started:.1f} s on {address} ({os.cpu_count()} CPU(s))", flush=True)

            async def in_process() -> None:
                listed = await open_approvals(client)
                assert len(listed.waiting) == args.incidents and listed.truncated is None, listed.truncated

            cli_env = {**os.environ, "TEMPORAL_ADDRESS": address, settings.HOME: str(tmp / "home")}

            async def cli() -> None:
                done = await asyncio.to_thread(subprocess.run, [str(Path(sys.executable).parent / "firebreak"),
                                               "pending", "--json"], env=cli_env, capture_output=True, timeout=300)
                assert done.returncode == 0, done.stderr

            tokens = TokenStore(tmp / "tokens.json")
            token, _ = tokens.issue("olu")
            app = create_app(IntakeConfig(), {}, client=client,
                             people=People(tokens=tokens, roster=parse_playbook(ROSTER).roster))
            port = args.port or free_port()
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
            serving = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.05)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=300) as http:

                async def api() -> None:
                    answer = await http.get("/v1/approvals", headers={"Authorization": f"Bearer {token}"})
                    assert answer.status_code == 200 and len(answer.json()["waiting"]) == args.incidents, answer.text

                await timed("open_approvals in process", args.repeats, in_process)
                await timed("GET /v1/approvals", args.repeats, api)
                await timed("`firebreak pending --json` (a new process each time)", args.repeats, cli)
            server.should_exit = True
            await serving


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pending", description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--port", type=int, default=0, help="the intake's port (default: a free one)")
    args = parser.parse_args(argv)
    asyncio.run(main_async(args))
    sys.stdout.flush()
    os._exit(0)  # the SDK can crash the interpreter at exit (sdk-python #300)


if __name__ == "__main__":
    main()
