"""A Langfuse monitor's incident collects the monitor's slice: a signed monitor-alert (built as Langfuse's worker
builds it) through the real intake opens an incident on the dev server; a real worker runs its investigate step
against the fake Langfuse, and the evidence pack holds the observations, the series and the blast radius of the
monitor's view, filters and window, not the evidence source's own scope, with summaries naming the monitor and
the slice."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from playbook.models import Role
from tests import behaviour
from tests.behaviour import started, terminate_leftovers  # noqa: F401
from tests.fake_langfuse import PROJECT, FakeLangfuse, fake_langfuse
from tests.intake.test_langfuse_monitors import LATENCY_FILTERS, intake, monitor_alert, post
from tests.support import human, wait_for, write_playbook
from workflows.incident import IncidentWorkflow

EVIDENCE = """
[evidence.lf]
kind = "langfuse"
base_url = "{url}"
trace_name = "${{service}}"
tags = ["prod"]
lookback_minutes = 60
"""
SLICE_LATENCIES = (6000, 7000, 9000, 8000)
WHERE = ("traceName any of support-bot; providedModelName = gpt-4o; environment any of production; "
         "metadata.tenant = acme")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLangfuse]:
    with fake_langfuse(monkeypatch) as server:
        yield server


def seed(fake: FakeLangfuse, evaluated_from: datetime) -> list[str]:
    """Four traces in the monitor's slice (support-bot in production for tenant acme, on gpt-4o), each a root span
    without a model and a slow gpt-4o generation; and traces in the evidence source's own scope (support-bot,
    tag prod) that the monitor does not look at: another model, another tenant, staging."""
    in_slice = []
    for i, latency in enumerate(SLICE_LATENCIES):
        trace, at = uuid.uuid4().hex, evaluated_from + timedelta(minutes=2 + 3 * i, seconds=5)
        fake.add_span(trace_id=trace, start=at, root=True, latency_ms=latency + 300, trace_name="support-bot",
                      tags=["prod"], metadata={"tenant": "acme"})
        fake.add_span(trace_id=trace, start=at, latency_ms=latency, cost=0.05, tokens=500, model="gpt-4o",
                      trace_name="support-bot", tags=["prod"], metadata={"tenant": "acme"})
        in_slice.append(trace)
    for model, tenant, environment in (("gpt-4o-mini", "acme", "production"), ("gpt-4o", "globex", "production"),
                                       ("gpt-4o", "acme", "staging")):
        trace, at = uuid.uuid4().hex, evaluated_from + timedelta(minutes=4)
        for root in (True, False):
            fake.add_span(trace_id=trace, start=at, root=root, latency_ms=20_000, cost=3.0, tokens=9000,
                          model=None if root else model, trace_name="support-bot", tags=["prod"],
                          metadata={"tenant": tenant}, environment=environment)
    return in_slice


def _evidence(home: Path, number: str) -> dict[str, Any]:
    folder = home / "artefacts" / number / "evidence"
    return {name: json.loads((folder / f"lf.{name}.json").read_text())
            for name in ("observations", "series", "blast_radius")}


async def test_a_monitors_incident_pulls_the_monitors_slice(dev_env: WorkflowEnvironment, task_queue: str,
                                                           tmp_path: Path, home: Path, fake: FakeLangfuse) -> None:
    monitor = f"clmon{uuid.uuid4().hex[:12]}"
    run_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    evaluated_from = run_at - timedelta(minutes=15, seconds=30)
    in_slice = seed(fake, evaluated_from)
    playbook = write_playbook(tmp_path, EVIDENCE.format(url=fake.url))
    async with behaviour.worker(dev_env.client, task_queue, playbook, home), \
            intake(dev_env, task_queue, tmp_path) as api:
        answer = await post(api, monitor_alert("ALERT", monitor, run_at, project=PROJECT))
        handle = started(dev_env.client.get_workflow_handle(answer["workflow_id"]))
        await wait_for(handle, lambda s: s.ticket is not None)
        await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
        state = await wait_for(handle, lambda s: bool(s.findings), attempts=1200)  # the steps before it, on 2 cores

    described = (f"monitor Support bot latency ({monitor}): p95(observations.latency) over 15m where {WHERE}")
    pack = _evidence(home, str(state.number))
    # The observations are the monitor's slice: the gpt-4o generations of tenant acme in production, not the roots
    # (they name no model) and none of the source's other support-bot traces.
    observations = pack["observations"]["observations"]
    assert sorted(o["traceId"] for o in observations) == sorted(in_slice)
    assert all(not o["isRootObservation"] for o in observations)
    assert pack["observations"]["monitor"]["followed"] is True
    assert pack["observations"]["monitor"]["filters"] == LATENCY_FILTERS
    pulled = next(r for r in fake.requests if r["path"] == "/api/public/v2/observations")
    assert "isRootObservation" not in pulled["query"]
    assert json.loads(pulled["query"]["filter"])[2:] == LATENCY_FILTERS
    assert pack["blast_radius"]["traces_affected"] == 4
    # The series is the monitor's own metric, per minute, with the monitor's view and filters as they are.
    series = pack["series"]
    assert series["value_is"] == "p95(observations.latency)" and series["monitor"]["threshold"] == 5000
    seen = [r for r in series["series"] if r["observations"]]
    assert [r["value"] for r in seen] == list(SLICE_LATENCIES) and [r["observations"] for r in seen] == [1] * 4
    assert [round(r["cost_usd"], 2) for r in seen] == [0.05] * 4
    queries = [json.loads(r["query"]["query"]) for r in fake.requests if r["path"] == "/api/public/v2/metrics"]
    assert queries and all(q["filters"] == LATENCY_FILTERS and q["view"] == "observations" for q in queries)
    assert {"measure": "latency", "aggregation": "p95"} in queries[0]["metrics"]
    # Each summary names the monitor and the slice; the findings carry them to the ticket.
    findings = "\n".join(state.findings)
    assert f"lf.blast_radius.json: blast radius: 4 trace(s), 0 user(s), 0 session(s) in the window of {described}" \
        in findings
    peak = seen[2]["bucket"]
    assert f"lf.series.json: {described}; per minute: peak 9000 at {peak} (threshold 5000); peak cost $0.05/min at " \
           in findings
