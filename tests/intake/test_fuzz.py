"""Fuzzing the intake with hypothesis: random bytes, random JSON and mutations of real payloads for every alert
endpoint, each sent with the source's valid credentials so the body parsing is reached.

Properties: never a 500 (nor the catch-all 503 an unexpected exception turns into: Temporal never fails here), the
answer is JSON with a message, and a refused body (4xx) never reaches Temporal — no incident from invalid input.
Temporal is replaced by a recorder of the coalescer's calls, so the test runs in-process and in seconds.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from intake.app import create_app
from playbook.models import Detection
from tests.intake.support import (
    AM_TOKEN,
    API_TOKEN,
    GRAFANA_TOKEN,
    PD_KEY,
    am_alert,
    am_message,
    bearer,
    config,
    grafana_message,
    grafana_signature,
    pd_event,
    secrets,
)

ENDPOINTS = ("/v1/alerts/alertmanager", "/v1/alerts/grafana", "/v2/enqueue", "/v1/alerts")
ALLOWED = {202, 400, 401, 403, 413, 422}
# Random each run (a failure prints the falsifying example and a @reproduce_failure blob); no example database.
SETTINGS = settings(max_examples=300, deadline=None, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Temporal:
    """Stands in for the coalescer's Temporal call: records what would have opened or fed an incident."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Detection], bool]] = []

    async def send(self, workflow_id: str, detections: list[Detection], start: bool) -> str:
        self.calls.append((workflow_id, detections, start))
        return "recorded"


def _client() -> tuple[TestClient, Temporal]:
    cfg = config(storm={"min_interval_ms": 0})
    app = create_app(cfg, secrets(cfg))
    temporal = Temporal()
    app.state.intake.coalescer.send = temporal.send
    return TestClient(app, raise_server_exceptions=False), temporal


CLIENT, TEMPORAL = _client()


def headers_for(endpoint: str, body: bytes) -> dict[str, str]:
    base = {"Content-Type": "application/json"}
    if endpoint == "/v1/alerts/alertmanager":
        return {**base, **bearer(AM_TOKEN)}
    if endpoint == "/v1/alerts/grafana":
        return {**base, **bearer(GRAFANA_TOKEN), "X-Grafana-Alert-Signature": grafana_signature(body)}
    if endpoint == "/v1/alerts":
        return {**base, **bearer(API_TOKEN)}
    return base  # PagerDuty: the routing_key in the body is the credential


def post(endpoint: str, body: bytes) -> None:
    """Post and check the properties."""
    before = len(TEMPORAL.calls)
    response = CLIENT.post(endpoint, content=body, headers=headers_for(endpoint, body))
    event(f"{endpoint} {response.status_code}")  # pytest --hypothesis-show-statistics shows the spread
    assert response.status_code in ALLOWED, (response.status_code, response.text, body[:300])
    assert isinstance(response.json().get("message", response.json().get("status")), str)
    sent = TEMPORAL.calls[before:]
    if response.status_code != 202:
        assert not sent, f"refused with {response.status_code} but reached Temporal: {body[:300]!r}"
    else:
        assert sent and all(dets and all(isinstance(d, Detection) and d.services for d in dets)
                            for _, dets, _ in sent)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats()
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12)


@SETTINGS
@given(endpoint=st.sampled_from(ENDPOINTS), body=st.binary(max_size=600))
def test_random_bytes(endpoint: str, body: bytes) -> None:
    post(endpoint, body)


@SETTINGS
@given(endpoint=st.sampled_from(ENDPOINTS), value=json_values)
def test_random_json(endpoint: str, value: Any) -> None:
    post(endpoint, json.dumps(value).encode())  # NaN and Infinity included: not JSON, so 400


def _templates() -> dict[str, Callable[[], Any]]:
    return {
        "/v1/alerts/alertmanager": lambda: am_message([am_alert("f" * 16), am_alert("e" * 16, status="resolved")],
                                                      group_key="{}:{alertname=\"X\"}"),
        "/v1/alerts/grafana": lambda: grafana_message("a" * 16, group_key="{}/{grafana}:{alertname=\"Y\"}"),
        "/v2/enqueue": lambda: pd_event("trigger", dedup_key="fuzz-dedup"),
        "/v1/alerts": lambda: [{"kind": "cost_spike", "services": ["agent-api"], "fingerprint": "fuzz",
                                "alert_id": "a-1", "metrics": {"cost_per_minute_usd": 9.5}, "labels": {"x": "y"}}],
    }


TEMPLATES = _templates()


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*prefix, i))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, Any]:
    """A real payload with one to three edits: a value replaced, a key or item removed, a key added."""
    endpoint = draw(st.sampled_from(ENDPOINTS))
    body = copy.deepcopy(TEMPLATES[endpoint]())
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(_paths(body)))
        if not path:
            body = draw(json_values) if draw(st.integers(0, 9)) == 0 else body
            continue
        parent = body
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add", "string"]))
        if action == "replace":
            parent[last] = draw(json_values)
        elif action == "string":
            parent[last] = draw(st.sampled_from(["", " ", "firing", "resolved", "SEV1", "trigger", "\x00", "🔥" * 50,
                                                 "9" * 400, "2026-13-45T99:99:99Z", "0001-01-01T00:00:00Z", PD_KEY]))
        elif action == "delete":
            del parent[last]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(json_values)
        else:
            parent.append(draw(json_values))
    return endpoint, body


@settings(SETTINGS, max_examples=1000)
@given(case=mutated())
def test_mutated_real_payloads(case: tuple[str, Any]) -> None:
    endpoint, body = case
    post(endpoint, json.dumps(body).encode())


def test_the_unmutated_templates_are_accepted() -> None:
    """The mutations start from valid payloads (so the fuzzing explores near the accepted ones)."""
    for endpoint, template in TEMPLATES.items():
        before = len(TEMPORAL.calls)
        body = json.dumps(template()).encode()
        response = CLIENT.post(endpoint, content=body, headers=headers_for(endpoint, body))
        assert response.status_code == 202, (endpoint, response.text)
        assert len(TEMPORAL.calls) > before
