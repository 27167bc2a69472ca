"""Langfuse monitor alerts as an alert source: signed monitor-alert webhooks, built as Langfuse's worker builds them,
through the real intake into real incidents on the dev server with a real worker.

Signed as langfuse/langfuse packages/shared/src/encryption/signature.ts `createSignatureHeader` signs every
webhook it sends (`x-langfuse-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`), by
`signed` in tests/intake/test_langfuse_webhook.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from intake.app import create_app
from intake.config import LabelMapping
from intake.langfuse_monitors import MonitorAlertEvent, monitor_detection
from integrations.artefacts import ArtefactStore
from playbook.models import SignalKind
from tests.intake.support import Running, config, secrets, serving
from tests.intake.test_langfuse_webhook import SECRET, event, signed
from tests.support import wait_for

BASE = "https://langfuse.example"
PROJECT = "clproject0001"
WINDOW_MINUTES = {"5m": 5, "10m": 10, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240, "1d": 1440}
WORDS = {"GT": "above", "GTE": "at or above", "LT": "below", "LTE": "at or below"}
LATENCY_FILTERS: list[dict[str, Any]] = [
    {"column": "traceName", "operator": "any of", "value": ["support-bot"], "type": "stringOptions"},
    {"column": "providedModelName", "operator": "=", "value": "gpt-4o", "type": "string"},
    {"column": "environment", "operator": "any of", "value": ["production"], "type": "stringOptions"},
    {"column": "metadata", "key": "tenant", "operator": "=", "value": "acme", "type": "stringObject"},
]


def js_date(when: datetime) -> str:
    """What JSON.stringify writes for a JavaScript Date (Date.prototype.toJSON): UTC, milliseconds, 'Z'."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def monitor_alert(severity: str, monitor_id: str, run_at: datetime, name: str = "Support bot latency",
                  view: str = "observations", aggregation: str = "p95", measure: str = "latency",
                  operator: str = "GT", threshold: float = 5000, window: str = "15m",
                  filters: list[dict[str, Any]] | None = None, event_id: str | None = None,
                  project: str = PROJECT) -> bytes:
    """The body Langfuse's worker posts, built as langfuse/langfuse builds it (at 62751446):
    packages/shared/src/features/monitors/processor/processor.ts `buildAlert` (window = the `window` ending
    monitorEvaluationOffsetMs = 30 s before the run; dataPermalink only for ALERT/WARNING) and
    `toMonitorWebhookInputs` (id = a fresh execution id, timestamp = now), the message of
    processor/renderAlertMessage.ts, key order of MonitorAlertSchema / MonitorWebhookQueueEventSchema, and the
    body `JSON.stringify(envelope)` of worker/src/queues/webhooks.ts `executeWebhookAction`."""
    to = run_at - timedelta(seconds=30)
    start = to - timedelta(minutes=WINDOW_MINUTES[window])
    ref = f"`{aggregation}({view}.{measure})`"
    if severity == "NO_DATA":
        body = f"{ref} has no data over the last **{window}**"
    elif severity == "OK":
        body = f"{ref} recovered"
    else:
        body = f"{ref} is **{WORDS[operator]}** `{threshold:g}` over the last **{window}**"
    table = "observations" if view == "observations" else "traces"
    alert: dict[str, Any] = {"monitorId": monitor_id, "projectId": project,
                             "permalink": f"{BASE}/project/{project}/alerts/{monitor_id}"}
    if severity in ("ALERT", "WARNING"):
        millis = f"{int(start.timestamp() * 1000)}-{int(to.timestamp() * 1000)}"
        alert["dataPermalink"] = f"{BASE}/project/{project}/{table}?dateRange={millis}"
    alert.update(message={"title": f"[{severity}] {name}", "body": body}, severity=severity,
                 timestamp=js_date(run_at), fromTimestamp=js_date(start), toTimestamp=js_date(to), view=view,
                 filters=LATENCY_FILTERS if filters is None else filters, window=window)
    envelope = {"id": event_id or str(uuid.uuid4()), "timestamp": js_date(datetime.now(UTC)),
                "type": "monitor-alert", "apiVersion": "v1", "payload": alert}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


@asynccontextmanager
async def intake(dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                 secret: str = SECRET) -> AsyncIterator[Running]:
    cfg = config()
    app = create_app(cfg, secrets(cfg), client=dev_env.client, task_queue=task_queue,
                     langfuse_secret=secret.encode(), store=ArtefactStore(tmp_path / "deploys"))
    async with serving(app) as api:
        yield api


async def post(api: Running, body: bytes) -> dict[str, Any]:
    answer = await api.http.post("/v1/langfuse/webhook", content=body, headers=signed(body))
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


async def test_a_monitors_alerts_open_join_note_and_resolve_one_incident(
        dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, worker: None) -> None:
    monitor = f"clmon{uuid.uuid4().hex[:12]}"
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    async with intake(dev_env, task_queue, tmp_path) as api:
        # Before any incident: NO_DATA and WARNING are accepted and dropped, nothing opens.
        for severity in ("NO_DATA", "WARNING"):
            answer = await post(api, monitor_alert(severity, monitor, t0))
            assert answer["outcome"] == "no_incident" and answer["counted_as"] in ("note", "warning")
        try:
            await dev_env.client.get_workflow_handle(answer["workflow_id"]).describe()
            raise AssertionError("a NO_DATA or WARNING must not open an incident")
        except RPCError:
            pass

        alert = monitor_alert("ALERT", monitor, t0 + timedelta(minutes=5))
        answer = await post(api, alert)
        assert answer == {"status": "accepted", "monitor": monitor, "severity": "ALERT",
                          "workflow_id": f"incident-langfuse-monitor-{monitor}", "outcome": "recorded",
                          "counted_as": "alert"}
        handle = dev_env.client.get_workflow_handle(answer["workflow_id"])
        state = await wait_for(handle, lambda s: s.ticket is not None)
        d = state.detection
        assert (d.source, d.kind, d.services, d.model) == ("langfuse-monitor", SignalKind.LATENCY_SPIKE,
                                                            ["support-bot"], "gpt-4o")
        assert d.summary == "[ALERT] Support bot latency: p95(observations.latency) is above 5000 over the last 15m"
        assert d.metrics == {"threshold": 5000.0}
        assert d.labels["view"] == "observations" and d.labels["window"] == "15m"
        assert d.labels["metric"] == "p95(observations.latency)" and d.labels["monitor_id"] == monitor
        assert json.loads(d.labels["filters"]) == json.loads(json.dumps(LATENCY_FILTERS))
        assert d.labels["filter.environment"] == "production" and d.labels["filter.metadata.tenant"] == "acme"
        assert d.labels["from"] == (t0 - timedelta(minutes=10, seconds=30)).isoformat()
        assert d.labels["to"] == (t0 + timedelta(minutes=4, seconds=30)).isoformat()
        assert d.links[0] == f"{BASE}/project/{PROJECT}/alerts/{monitor}" and "dateRange=" in d.links[1]
        assert d.detected_at == t0 + timedelta(minutes=5)

        # Langfuse retries a failed delivery with the same body (and a fresh signature); a second automation on
        # the same monitor sends the same evaluation under a new event id: both count once.
        await post(api, alert)
        await post(api, monitor_alert("ALERT", monitor, t0 + timedelta(minutes=5)))
        # Then the monitor goes on: a renotification, a step down to WARNING, NO_DATA (twice), and recovery.
        await post(api, monitor_alert("ALERT", monitor, t0 + timedelta(minutes=15)))
        await post(api, monitor_alert("WARNING", monitor, t0 + timedelta(minutes=20)))
        no_data = monitor_alert("NO_DATA", monitor, t0 + timedelta(minutes=25))
        assert (await post(api, no_data))["counted_as"] == "note"
        await post(api, no_data)
        ok = await post(api, monitor_alert("OK", monitor, t0 + timedelta(minutes=30)))
        assert ok["counted_as"] == "resolved" and ok["outcome"] == "recorded"
        state = await wait_for(handle, lambda s: len(s.resolved_alert_ids) == 1)
        assert state.alert_count == 3 and state.status.value == "open"
        whats = [e.what for e in state.timeline]
        assert sum("reported NO_DATA at the source" in w for w in whats) == 1
        assert sum("resolved at the source" in w for w in whats) == 1
        note = next(e for e in state.timeline if "NO_DATA" in e.what)
        assert note.details["summary"].endswith("p95(observations.latency) has no data over the last 15m")


async def test_each_automations_secret_is_accepted(dev_env: WorkflowEnvironment, task_queue: str,
                                                   tmp_path: Path) -> None:
    """Langfuse gives each automation's webhook action its own secret, so the prompt automation and the monitor
    automation sign with different ones; the variable lists both."""
    monitor_secret = "lf-whsec_" + "cd" * 32
    async with intake(dev_env, task_queue, tmp_path, secret=f"{SECRET}, {monitor_secret}") as api:
        prompt = json.dumps(event()).encode()
        answer = await api.http.post("/v1/langfuse/webhook", content=prompt, headers=signed(prompt))
        assert answer.status_code == 200, answer.text
        alert = monitor_alert("NO_DATA", f"clmon{uuid.uuid4().hex[:12]}", datetime.now(UTC))
        answer = await api.http.post("/v1/langfuse/webhook", content=alert, headers=signed(alert, monitor_secret))
        assert answer.status_code == 202 and answer.json()["outcome"] == "no_incident", answer.text
        answer = await api.http.post("/v1/langfuse/webhook", content=alert,
                                     headers=signed(alert, "lf-whsec_" + "ef" * 32))
        assert answer.status_code == 401 and "separated by commas" in answer.json()["message"]


def _event(**overrides: Any) -> MonitorAlertEvent:
    return MonitorAlertEvent.model_validate_json(monitor_alert("ALERT", "clmon1", datetime.now(UTC), **overrides))


def test_the_kind_follows_what_the_monitor_measures() -> None:
    mapping = LabelMapping()
    cost = monitor_detection(_event(name="Spend", aggregation="sum", measure="totalCost", threshold=25), mapping)
    assert cost.kind == SignalKind.COST_SPIKE and cost.metrics == {"threshold": 25.0}
    toxic = monitor_detection(_event(name="Answers", view="scores-numeric", aggregation="avg", measure="value",
                                     threshold=0.8, filters=[{"column": "name", "operator": "any of",
                                                              "value": ["toxicity"], "type": "stringOptions"}]),
                              mapping)
    assert toxic.kind == SignalKind.TOXICITY and toxic.services == ["unknown"]
    assert toxic.labels["filter.name"] == "toxicity" and toxic.labels["view"] == "scores-numeric"
    counted = monitor_detection(_event(name="Traffic", aggregation="count", measure="count", filters=[]), mapping)
    assert counted.kind == SignalKind.OTHER and counted.model is None
    prompt = monitor_detection(_event(filters=[
        {"column": "promptName", "operator": "=", "value": "support-answer", "type": "string"},
        {"column": "promptVersion", "operator": "=", "value": 7, "type": "number"},
        {"column": "providedModelName", "operator": "any of", "value": ["a", "b"], "type": "stringOptions"}]),
        mapping)
    assert (prompt.prompt_name, prompt.prompt_version, prompt.model) == ("support-answer", 7, None)
    # Langfuse's first monitor builds sent kebab-case severities.
    raw = json.loads(monitor_alert("NO_DATA", "clmon1", datetime.now(UTC)))
    raw["payload"]["severity"] = "no-data"
    assert MonitorAlertEvent.model_validate(raw).payload.severity == "NO_DATA"
