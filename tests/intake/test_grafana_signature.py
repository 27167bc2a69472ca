"""Grafana's HMAC-signed webhooks as Grafana sends them.

Followed: grafana/alerting `http/hmac.go` (HMACRoundTripper.sign, since PR #285, 2025-02-24): the signature header
defaults to `X-Grafana-Alerting-Signature` (defaultHeaderName) when the contact point leaves "Header" empty; its value
is the hex HMAC-SHA256 of the body, or of `<unix seconds>:<body>` when a timestamp header is configured, the timestamp
then sent in that header. The timestamp header has no default; grafana/alerting's own webhook config test
(`receivers/webhook/v1/config_test.go`) names it `X-Grafana-Alerting-Timestamp`, as this test does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from temporalio.testing import WorkflowEnvironment

from intake.app import create_app
from intake.config import SourceConfig
from tests.intake.support import GRAFANA_HMAC, config, grafana_message, secrets, serving

SIGNATURE = "X-Grafana-Alerting-Signature"  # hmac.go defaultHeaderName
OLD_SIGNATURE = "X-Grafana-Alert-Signature"  # what Firebreak used to expect by default
TIMESTAMP = "X-Grafana-Alerting-Timestamp"


def sign_as_hmac_go(secret: str, body: bytes, timestamp: str | None = None) -> str:
    """hmac.go's sign(): the timestamp and ':' written into the MAC first when there is one, then the body."""
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)
    if timestamp is not None:
        mac.update(timestamp.encode())
        mac.update(b":")
    mac.update(body)
    return mac.hexdigest()


def _body() -> bytes:
    return json.dumps(grafana_message(uuid.uuid4().hex[:16])).encode()


async def _post(api: Any, body: bytes, headers: dict[str, str]) -> int:
    r = await api.http.post("/v1/alerts/grafana", content=body, headers={**headers, "Content-Type": "application/json"})
    return int(r.status_code)


async def test_a_contact_point_left_at_its_defaults_is_accepted(dev_env: WorkflowEnvironment, task_queue: str) -> None:
    cfg = config(sources={"g": {"format": "grafana", "hmac_secret_env": "T_GRAFANA_HMAC"}})
    async with serving(create_app(cfg, secrets(cfg), client=dev_env.client, task_queue=task_queue)) as api:
        body = _body()
        assert await _post(api, body, {SIGNATURE: sign_as_hmac_go(GRAFANA_HMAC, body)}) == 202
        body = _body()  # the old spelling still works where a contact point was set up with it
        assert await _post(api, body, {OLD_SIGNATURE: sign_as_hmac_go(GRAFANA_HMAC, body)}) == 202
        body = _body()
        assert await _post(api, body, {SIGNATURE: sign_as_hmac_go("another-secret", body)}) == 401
        assert await _post(api, body, {"X-Some-Other-Signature": sign_as_hmac_go(GRAFANA_HMAC, body)}) == 401


async def test_a_timestamped_signature(dev_env: WorkflowEnvironment, task_queue: str) -> None:
    cfg = config(sources={"g": {"format": "grafana", "hmac_secret_env": "T_GRAFANA_HMAC",
                                "hmac_timestamp_header": TIMESTAMP}})
    async with serving(create_app(cfg, secrets(cfg), client=dev_env.client, task_queue=task_queue)) as api:
        body, now = _body(), str(int(time.time()))
        assert await _post(api, body, {SIGNATURE: sign_as_hmac_go(GRAFANA_HMAC, body, now), TIMESTAMP: now}) == 202
        # Signed without the timestamp, or the timestamp header missing, or an hour old: refused.
        assert await _post(api, body, {SIGNATURE: sign_as_hmac_go(GRAFANA_HMAC, body), TIMESTAMP: now}) == 401
        assert await _post(api, body, {SIGNATURE: sign_as_hmac_go(GRAFANA_HMAC, body, now)}) == 401
        stale = str(int(time.time()) - 3600)
        assert await _post(api, body, {SIGNATURE: sign_as_hmac_go(GRAFANA_HMAC, body, stale), TIMESTAMP: stale}) == 401


def test_a_header_named_in_the_playbook_is_the_only_one_read() -> None:
    assert SourceConfig(format="grafana", hmac_secret_env="S").signature_headers == (SIGNATURE, OLD_SIGNATURE)
    named = SourceConfig(format="grafana", hmac_secret_env="S", hmac_header="X-Signature")
    assert named.signature_headers == ("X-Signature",)
