"""Optional OpenTelemetry tracing: an alert through the intake gives one connected trace (intake request ->
SignalWithStartWorkflow -> RunWorkflow and StartActivity -> RunActivity in the worker), named by the incident;
off by default, with no interceptor and no middleware."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.testing import WorkflowEnvironment

from client.temporal import connect
from intake.app import create_app
from observability import tracing
from tests.intake.support import API_TOKEN, bearer, config, secrets, serving
from tests.support import incident_worker, wait_for, write_playbook


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """Tracing on for this test, into memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setenv(tracing.ENABLE_ENV, "1")
    monkeypatch.setattr(tracing, "_provider", provider)
    return exporter


async def test_an_alert_through_the_intake_is_one_trace(dev_env: WorkflowEnvironment, task_queue: str,
                                                         tmp_path: Path, spans: InMemorySpanExporter) -> None:
    client = await connect(dev_env.client.service_client.config.target_host)
    assert any(isinstance(i, TracingInterceptor) for i in client.config()["interceptors"])
    sender_trace = uuid.uuid4().hex  # the sender's own trace, continued through the W3C traceparent header
    async with incident_worker(client, task_queue, write_playbook(tmp_path), tmp_path / "home"):
        cfg = config()
        async with serving(create_app(cfg, secrets(cfg), client=client, task_queue=task_queue)) as api:
            answer = await api.http.post("/v1/alerts", headers={
                **bearer(API_TOKEN), "traceparent": f"00-{sender_trace}-{'1' * 16}-01"}, json={
                "kind": "toxicity", "services": ["support-bot"], "fingerprint": f"otel-{uuid.uuid4().hex[:8]}"})
        assert answer.status_code == 202, answer.text
        workflow_id = answer.json()["incidents"][0]["workflow_id"]
        handle = client.get_workflow_handle(workflow_id)
        await wait_for(handle, lambda s: s.ticket is not None)
        await handle.terminate("test over")

    finished = spans.get_finished_spans()

    def one(name: str, parent: ReadableSpan) -> ReadableSpan:
        found = [s for s in finished if s.name == name and s.parent is not None and parent.context is not None
                 and s.parent.span_id == parent.context.span_id]
        assert len(found) == 1, f"{name} under {parent.name}: {[(s.name, s.parent) for s in finished]}"
        return found[0]

    request = next(s for s in finished if s.name == "POST /v1/alerts")
    assert request.attributes is not None and request.context is not None
    assert request.attributes[tracing.INCIDENT_ATTRIBUTE] == workflow_id
    assert request.attributes["http.response.status_code"] == 202
    assert format(request.context.trace_id, "032x") == sender_trace
    start = one("SignalWithStartWorkflow:IncidentWorkflow", request)
    # The SDK's workflow spans are zero-length and hang off the span that started the workflow, side by side.
    run = one("RunWorkflow:IncidentWorkflow", start)
    start_activity = one("StartActivity:open_incident", start)
    activity = one("RunActivity:open_incident", start_activity)
    for span in (start, run, start_activity, activity):
        assert span.attributes is not None and span.attributes["temporalWorkflowID"] == workflow_id
        assert span.context is not None and span.context.trace_id == request.context.trace_id


async def test_off_by_default(dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (tracing.ENABLE_ENV, *tracing.ENDPOINT_ENVS):
        monkeypatch.delenv(var, raising=False)
    client = await connect(dev_env.client.service_client.config.target_host)
    assert client.config()["interceptors"] == []
    cfg = config()
    app = create_app(cfg, secrets(cfg), client=client)
    assert not any(m.cls is tracing.RequestSpans for m in app.user_middleware)


def test_what_turns_tracing_on() -> None:
    assert not tracing.tracing_enabled({})
    assert tracing.tracing_enabled({"FIREBREAK_OTEL": "1"})
    assert tracing.tracing_enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert not tracing.tracing_enabled({"FIREBREAK_OTEL": "0", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert tracing.client_interceptors({}) == []
    assert tracing.traces_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}) == "http://c:4318/v1/traces"
    assert tracing.traces_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}) == "http://localhost:4318/v1/traces"
    with pytest.raises(tracing.TracingConfigError, match="FIREBREAK_OTEL must be 1 or 0"):
        tracing.tracing_enabled({"FIREBREAK_OTEL": "maybe"})
