"""/openapi.json matches the API: a valid OpenAPI document, every status each route answers documented, request
schemas that never allow what the API refuses, and a bounded schemathesis run against the real intake (uvicorn on
127.0.0.1, the real dev server behind the people routes) with each route's own credentials: no 5xx, every status
and every response body as documented."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from temporalio.testing import WorkflowEnvironment

from client.codec import new_key
from intake.app import create_app
from intake.people import People
from intake.tokens import TokenStore
from integrations.artefacts import ArtefactStore
from tests.intake.support import (
    AM_TOKEN,
    API_TOKEN,
    GRAFANA_HMAC,
    GRAFANA_TOKEN,
    PD_KEY,
    bearer,
    config,
    grafana_signature,
    secrets,
    serving,
)
from tests.support import incident_worker, write_playbook

LANGFUSE_SECRET = "lf-whsec_schema"
SLACK_SECRET = "slack-signing-secret-for-fuzz"
CODEC_TOKEN = "codec-token-for-fuzz"
JSON_ROUTE = {400, 401, 403, 408, 413, 415, 422, 503}
EXPECTED = {
    ("post", "/v1/alerts/alertmanager"): JSON_ROUTE | {202, 429},
    ("post", "/v1/alerts/grafana"): JSON_ROUTE | {202, 429},
    ("post", "/v2/enqueue"): JSON_ROUTE | {202, 429},
    ("post", "/v1/alerts"): JSON_ROUTE | {202, 429},
    ("post", "/v1/langfuse/webhook"): JSON_ROUTE | {200, 429},
    ("post", "/v1/incidents/{incident}/approvals/{request_id}"): JSON_ROUTE | {200, 202, 404, 409},
    ("post", "/v1/incidents/{incident}/acknowledge"): JSON_ROUTE | {200, 202, 404, 409},
    ("get", "/v1/approvals"): {200, 401, 403, 503},
    ("post", "/v1/slack/actions"): {200, 400, 401, 403, 408, 413, 415, 422, 503},
    ("get", "/readyz"): {200, 503},
    ("post", "/codec/decode"): {200, 400, 401, 403, 408, 413, 415, 422},
    ("post", "/codec/encode"): {200, 400, 401, 403, 408, 413, 415, 422},
}


def _app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, client: Any = None) -> tuple[Any, str]:
    """The intake with every route on: codec (keys and a token), Slack, Langfuse, people with a token issued."""
    monkeypatch.setenv("FIREBREAK_CODEC_KEYS", f"k1:{new_key()}")
    monkeypatch.setenv("FIREBREAK_CODEC_TOKEN", CODEC_TOKEN)
    tokens = TokenStore(tmp_path / "tokens.json")
    person, _ = tokens.issue("ian")
    # A generous Temporal timeout: on the shared machine the dev server can be slow, and a 503 for that is not
    # what this run looks for (tests/intake/test_durability.py checks the bound itself).
    cfg = config(storm={"min_interval_ms": 0}, temporal_timeout_seconds=15)
    app = create_app(cfg, secrets(cfg), client=client, task_queue="tq-schema-fuzz",
                     people=People(tokens=tokens, slack_secret=SLACK_SECRET.encode()),
                     langfuse_secret=LANGFUSE_SECRET.encode(), store=ArtefactStore(tmp_path / "artefacts"))
    return app, person


@pytest.fixture
def spec(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    app, _ = _app(monkeypatch, tmp_path)
    return TestClient(app).get("/openapi.json").json()  # type: ignore[no-any-return]


def test_the_spec_is_valid_openapi_and_every_reference_resolves(spec: dict[str, Any]) -> None:
    validate(spec)  # openapi-spec-validator: the whole document, references included
    text = json.dumps(spec)
    assert "#/$defs/" not in text and '"$defs"' not in text
    refs = {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}
    assert refs <= set(spec["components"]["schemas"]), refs - set(spec["components"]["schemas"])
    # Two routes' models of one name are kept apart, each route pointing at its own.
    alertmanager = json.dumps(spec["paths"]["/v1/alerts/alertmanager"]["post"]["requestBody"])
    grafana = json.dumps(spec["paths"]["/v1/alerts/grafana"]["post"]["requestBody"])
    assert "GrafanaMessage" not in alertmanager and "Message" in grafana
    assert "values" in spec["components"]["schemas"]["GrafanaAlert"]["properties"]
    assert "values" not in spec["components"]["schemas"]["Alert"]["properties"]


def test_every_route_documents_every_status_it_answers(spec: dict[str, Any]) -> None:
    for (method, path), codes in EXPECTED.items():
        documented = {int(c) for c in spec["paths"][path][method]["responses"]}
        assert codes <= documented, (method, path, sorted(codes - documented))
        for code in documented - {200, 202, 204}:
            answer = spec["paths"][path][method]["responses"][str(code)]
            assert answer["description"] and (code < 400 or answer.get("content")), (path, code)
        if 503 in documented and path != "/readyz":
            assert "Retry-After" in spec["paths"][path][method]["responses"]["503"]["headers"], path


def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> OAS31Validator:
    """The request schema as a JSON Schema whose `#/components/...` references resolve in the spec's components."""
    return OAS31Validator({**schema, "components": spec["components"]})


REFUSED = [
    {"kind": "toxicity", "services": [" "]},
    {"kind": "toxicity", "services": []},
    {"kind": "toxicity", "services": ["a\u0000b"]},
    {"kind": "toxicity", "services": ["s"] * 17},
    {"kind": "toxicity", "services": ["x"], "metrics": {"p": 1e309}},
    {"kind": "toxicity", "services": ["x"], "fingerprint": "probe\u0000fp"},
    {"kind": "toxicity", "services": ["x"], "labels": {"team": "ai\u0001ops"}},
    {"kind": "toxicity", "services": ["x"], "alert_id": "a" * 513},
    [],
]


@pytest.mark.parametrize("body", REFUSED, ids=[json.dumps(b)[:50] for b in REFUSED])
def test_the_detection_schema_does_not_allow_what_the_api_refuses(spec: dict[str, Any], body: Any,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    schema = spec["paths"]["/v1/alerts"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    validator = _validator(spec, schema)
    assert not validator.is_valid(body), body
    assert validator.is_valid({"kind": "toxicity", "services": ["support-bot"], "metrics": {"p": 0.9},
                               "labels": {"team": "ai"}, "fingerprint": "fp-1"})
    app, _ = _app(monkeypatch, tmp_path)
    raw = json.dumps(body).replace("Infinity", "1e309")  # the number a sender writes, not Python's spelling
    answer = TestClient(app).post("/v1/alerts", content=raw, headers={**bearer(API_TOKEN),
                                                                      "Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text


# ---------------------------------------------------------------- schemathesis


class Temporal:
    """The coalescer's Temporal call, recorded: the alert routes' 202s open no incidents in the shared server."""

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, workflow_id: str, detections: list[Any], start: bool) -> str:
        self.calls += 1
        return "recorded"


def _send(url: str, path: str, case: Any, person: str) -> requests.Response:
    """The case as schemathesis serializes it, with each route's own credentials: tokens in headers, PagerDuty's
    routing_key in the body, Grafana, Langfuse and Slack signatures over the exact bytes sent."""
    kwargs = case.as_transport_kwargs(base_url=url)
    headers = {k: v for k, v in kwargs.pop("headers").items() if k.lower() != "authorization"}
    token = {"/v1/alerts/alertmanager": AM_TOKEN, "/v1/alerts/grafana": GRAFANA_TOKEN, "/v1/alerts": API_TOKEN,
             "/codec/encode": CODEC_TOKEN, "/codec/decode": CODEC_TOKEN}.get(path)
    if path.startswith(("/v1/incidents", "/v1/approvals")):
        token = person
    if token:
        headers["Authorization"] = f"Bearer {token}"
    raw: bytes | None = None
    if "json" in kwargs:
        value = kwargs.pop("json")
        if path == "/v2/enqueue" and isinstance(value, dict):
            value["routing_key"] = PD_KEY
        raw = json.dumps(value).encode()
    elif "data" in kwargs:
        data = kwargs.pop("data")
        raw = urlencode(data).encode() if isinstance(data, dict) else data.encode() if isinstance(data, str) else data
    now = str(int(time.time()))
    if raw is not None and path == "/v1/alerts/grafana":
        headers["X-Grafana-Alert-Signature"] = grafana_signature(raw, GRAFANA_HMAC)
    elif raw is not None and path == "/v1/langfuse/webhook":
        mac = hmac.new(LANGFUSE_SECRET.encode(), now.encode() + b"." + raw, hashlib.sha256).hexdigest()
        headers["x-langfuse-signature"] = f"t={now},v1={mac}"
    elif raw is not None and path == "/v1/slack/actions":
        mac = hmac.new(SLACK_SECRET.encode(), f"v0:{now}:".encode() + raw, hashlib.sha256).hexdigest()
        headers.update({"X-Slack-Request-Timestamp": now, "X-Slack-Signature": f"v0={mac}"})
    return requests.request(**kwargs, headers=headers, data=raw, timeout=30)


EXAMPLES = 12  # per operation and mode: ~300 requests in all, about half a minute on the 2-core machine


CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def _fuzz_operation(url: str, person: str, operation: Any, mode: GenerationMode, seen: Counter[str]) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = _send(url, operation.path, case, person)
        seen[f"{operation.method.upper()} {operation.path} {response.status_code}"] += 1
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        assert mode == GenerationMode.NEGATIVE  # e.g. GET /healthz: nothing in it can be made invalid


def _fuzz(url: str, person: str) -> Counter[str]:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    seen: Counter[str] = Counter()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # an operation schemathesis cannot read is a defect of the spec
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(url, person, result.ok(), mode, seen)
    return seen


async def test_schemathesis_finds_no_5xx_and_no_undocumented_answer(dev_env: WorkflowEnvironment,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    app, person = _app(monkeypatch, tmp_path, client=dev_env.client)
    temporal = Temporal()
    app.state.intake.coalescer.send = temporal.send
    # A worker polls the intake's task queue, so /readyz may answer ready: its 503 means "no worker", not a fault.
    async with incident_worker(dev_env.client, "tq-schema-fuzz", write_playbook(tmp_path), tmp_path / "home"), \
            serving(app) as api:
        seen = await asyncio.to_thread(_fuzz, api.url, person)
    statuses = Counter(key.rsplit(" ", 1)[1] for key in seen)
    assert not [k for k in seen if k.endswith((" 500", " 502", " 503", " 504"))], seen
    # The run reached past authentication on the routes that take credentials: accepted and refused bodies.
    for route in ("/v1/alerts/alertmanager", "/v1/alerts/grafana", "/v2/enqueue", "/v1/alerts",
                  "/v1/langfuse/webhook", "/codec/decode"):
        assert any(route in k and k.rsplit(" ", 1)[1] in ("200", "202", "400", "422") for k in seen), (route, seen)
    assert temporal.calls > 0 and statuses["401"] < sum(statuses.values()) / 4, statuses
