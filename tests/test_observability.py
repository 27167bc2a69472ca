"""Observability: the worker's Prometheus metrics and JSON logs (a real `firebreak worker`), and the intake's
/metrics, each scraped over 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from client.temporal import raise_detection
from intake.app import create_app
from observability.logs import IncidentFilter, JsonFormatter, configure_logging
from observability.runtime import MetricsConfigError, metrics_address
from playbook.models import Role
from tests.intake.support import API_TOKEN, bearer, config, secrets, serving
from tests.support import detection, free_port, human, recorder, write_playbook
from tests.test_crash_restart import poll, worker_env, worker_processes
from workflows.incident import IncidentWorkflow


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_worker_metrics_and_json_logs(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    port = free_port()
    with recorder() as control_plane:
        control_plane.status = 503  # the first call fails: the SDK logs the failed attempt, then it is retried
        playbook = write_playbook(tmp_path, f"""
[approvals]
default = "auto"
[actions.block_endpoint]
kind = "http"
url = "{control_plane.url}/block"
[services."*"]
stabilise = ["block_endpoint"]
[tickets]
number_prefix = "M{uuid.uuid4().hex[:6].upper()}"
""")
        env = {**worker_env(dev_env.client.service_client.config.target_host, tmp_path, playbook),
               "FIREBREAK_WORKER_METRICS": f"127.0.0.1:{port}", "FIREBREAK_LOG_FORMAT": "json"}
        with worker_processes(env) as start_worker:
            proc = start_worker()
            handle = await raise_detection(dev_env.client, detection(), task_queue=env["FIREBREAK_TASK_QUEUE"])
            try:
                await poll(handle, lambda s: s.ticket is not None)
                await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
                deadline = asyncio.get_running_loop().time() + 30
                while not control_plane.requests and asyncio.get_running_loop().time() < deadline:
                    await asyncio.sleep(0.05)
                control_plane.status = 200
                state = await poll(handle, lambda s: any(m.action == "block_endpoint" for m in s.mitigations))
                async with httpx.AsyncClient() as http:
                    scraped = (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=10)).text
            finally:
                await handle.terminate("test over")
            proc.send_signal(2)  # SIGINT: a clean stop, so the log is complete
            proc.wait(timeout=20)
    names = {name for name, _ in samples(scraped)}
    assert {"temporal_worker_task_slots_available", "temporal_activity_execution_latency_count"} <= names, names
    task_queue = env["FIREBREAK_TASK_QUEUE"]
    assert any(dict(labels).get("task_queue") == task_queue for name, labels in samples(scraped)
               if name == "temporal_activity_execution_latency_count")

    lines = [line for line in (tmp_path / "worker-0.log").read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"ts", "level", "logger", "message"} <= r.keys() for r in records)
    assert any("worker metrics at" in r["message"] for r in records)
    failed = [r for r in records if r["logger"] == "temporalio.activity" and "503" in r.get("exception", "")]
    assert [(r["level"], r["incident"], r["activity_type"], r["attempt"]) for r in failed] == [
        ("WARNING", handle.id, "run_action", 1)]
    assert [(m.action, m.outcome) for m in state.mitigations] == [("block_endpoint", "done")]


async def test_intake_metrics(dev_env: WorkflowEnvironment, task_queue: str) -> None:
    cfg = config()
    fingerprint = f"metrics-{uuid.uuid4().hex[:8]}"
    async with serving(create_app(cfg, secrets(cfg), client=dev_env.client, task_queue=task_queue)) as api:
        auth = bearer(API_TOKEN)
        assert (await api.http.post("/v1/alerts", json={"kind": "cost_spike"})).status_code == 401
        assert (await api.http.post("/v1/alerts", content=b"{not json", headers=auth)).status_code == 400
        assert (await api.http.post("/v1/alerts", json={"kind": "weather", "services": ["x"]},
                                    headers=auth)).status_code == 422
        answers = await asyncio.gather(*(api.http.post("/v1/alerts", headers=auth, json={
            "kind": "cost_spike", "services": ["agent-api"], "fingerprint": fingerprint, "alert_id": f"a-{i % 4}"})
            for i in range(6)))
        assert [a.status_code for a in answers] == [202] * 6
        scraped = await api.http.get("/metrics")
    await dev_env.client.get_workflow_handle(answers[0].json()["incidents"][0]["workflow_id"]).terminate("test over")

    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    got = samples(scraped.text)

    def value(name: str, **labels: str) -> float:
        return got.get((name, tuple(sorted(labels.items()))), 0.0)

    route = "/v1/alerts"
    assert value("firebreak_intake_requests_total", route=route, method="POST", status="202") == 6
    assert value("firebreak_intake_rejections_total", route=route, reason="unauthenticated") == 1
    assert value("firebreak_intake_rejections_total", route=route, reason="malformed") == 1
    assert value("firebreak_intake_rejections_total", route=route, reason="invalid") == 1
    assert value("firebreak_intake_request_duration_seconds_count", route=route) == 9
    assert value("firebreak_intake_alerts_received_total") == 6
    sent, coalesced = value("firebreak_intake_alerts_sent_total"), value("firebreak_intake_alerts_coalesced_total")
    # Six alerts, four distinct ids; repeats within one coalesced call are dropped, so at least 4 were sent.
    assert sent + coalesced == 6 and sent >= 4
    assert 1 <= value("firebreak_intake_temporal_calls_total") <= 6


def test_json_log_lines_carry_the_incident(capsys: pytest.CaptureFixture[str]) -> None:
    record = logging.LogRecord("firebreak.x", logging.WARNING, __file__, 1, "brief %s late", ("#2",), None)
    record.temporal_workflow = {"workflow_id": "incident-abc", "run_id": "r1", "workflow_type": "IncidentWorkflow"}
    IncidentFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["incident"] == "incident-abc" and line["message"] == "brief #2 late" and line["level"] == "WARNING"
    assert line["workflow_type"] == "IncidentWorkflow" and line["run_id"] == "r1"
    plain = logging.LogRecord("intake", logging.INFO, __file__, 1, "up", (), None)
    IncidentFilter().filter(plain)
    assert "incident" not in json.loads(JsonFormatter().format(plain))

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging(environ={"FIREBREAK_LOG_FORMAT": "json"})
        logging.getLogger("firebreak.test").info("declared", extra={"incident": "incident-xyz", "alerts": 3})
        out = capsys.readouterr().err.strip().splitlines()[-1]
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert json.loads(out) | {"ts": ""} == {"ts": "", "level": "INFO", "logger": "firebreak.test",
                                            "message": "declared", "incident": "incident-xyz", "alerts": 3}


def test_metrics_address_is_checked() -> None:
    assert metrics_address({}) is None
    assert metrics_address({"FIREBREAK_WORKER_METRICS": "127.0.0.1:9464"}) == "127.0.0.1:9464"
    for bad in ("9464", "127.0.0.1:", "localhost:http", "127.0.0.1:70000"):
        with pytest.raises(MetricsConfigError, match="host:port"):
            metrics_address({"FIREBREAK_WORKER_METRICS": bad})
