"""Admission control on the real intake: a token bucket per source, 429 with Retry-After, storms coalesce first.

The buckets run on a clock the test moves (no sleeps); Temporal is the real dev server. Where a test needs
requests to arrive while a call is in flight, it holds the coalescer's call to Temporal at a gate until they
have all been queued, then lets it through to the real server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from pydantic import ValidationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from intake.app import create_app
from intake.config import IntakeConfig, RateLimitsConfig
from intake.mapping import short_hash
from intake.rate_limit import RateLimits
from playbook.models import Detection
from tests.intake.support import (
    AM_TOKEN,
    PD_KEY,
    SOURCES,
    Running,
    am_alert,
    am_message,
    bearer,
    config,
    pd_event,
    secrets,
    serving,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


LIMITS = {"per_minute": 6, "burst": 2, "sources": {"pagerduty": {"per_minute": 60, "burst": 1}}}


@pytest_asyncio.fixture
async def limited(dev_env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[tuple[Running, Clock]]:
    cfg = config(rate_limits=LIMITS)
    app = create_app(cfg, secrets(cfg), client=dev_env.client, task_queue=task_queue)
    clock = Clock()
    app.state.intake.limits.clock = clock
    async with serving(app) as running:
        yield running, clock


def _group() -> str:
    return f'{{}}:{{alertname="Noisy", run="{uuid.uuid4().hex}"}}'


async def _started(env: WorkflowEnvironment, group_key: str) -> bool:
    try:
        await env.client.get_workflow_handle(f"incident-am-{short_hash('am', 'group', group_key)}").describe()
    except RPCError:
        return False
    return True


async def test_a_source_over_its_limit_gets_429_with_retry_after_and_nothing_is_recorded(
        limited: tuple[Running, Clock], dev_env: WorkflowEnvironment) -> None:
    api, clock = limited
    groups = [_group() for _ in range(3)]
    for group in groups[:2]:  # the burst: two new incidents at once
        r = await api.http.post("/v1/alerts/alertmanager", json=am_message([am_alert("a1")], group),
                                headers=bearer(AM_TOKEN))
        assert r.status_code == 202, r.text
    r = await api.http.post("/v1/alerts/alertmanager", json=am_message([am_alert("a1")], groups[2]),
                            headers=bearer(AM_TOKEN))
    assert r.status_code == 429, r.text
    assert r.headers["Retry-After"] == "10"  # 6 a minute: the next token in 10 s
    assert "alertmanager" in r.json()["message"] and "rate_limits" in r.json()["message"]
    assert not await _started(dev_env, groups[2])

    # Another source has its own bucket: the noisy one does not starve it.
    r = await api.http.post("/v2/enqueue", json=pd_event(dedup_key=uuid.uuid4().hex))
    assert r.status_code == 202, r.text

    clock.now += 9.5
    r = await api.http.post("/v1/alerts/alertmanager", json=am_message([am_alert("a1")], groups[2]),
                            headers=bearer(AM_TOKEN))
    assert (r.status_code, r.headers["Retry-After"]) == (429, "1")
    clock.now += 0.5
    r = await api.http.post("/v1/alerts/alertmanager", json=am_message([am_alert("a1")], groups[2]),
                            headers=bearer(AM_TOKEN))
    assert r.status_code == 202, r.text
    assert await _started(dev_env, groups[2])
    metrics = (await api.http.get("/metrics")).text
    assert 'firebreak_intake_rejections_total{reason="rate_limited",route="/v1/alerts/alertmanager"} 2.0' in metrics


async def test_pagerduty_limit_is_per_routing_key_source_and_answers_its_sender(
        limited: tuple[Running, Clock]) -> None:
    api, clock = limited
    assert (await api.http.post("/v2/enqueue", json=pd_event(dedup_key="k-1"))).status_code == 202
    r = await api.http.post("/v2/enqueue", json=pd_event(dedup_key="k-2"))
    assert (r.status_code, r.headers["Retry-After"]) == (429, "1")  # 60 a minute: one a second
    assert "status" not in r.json()  # not PagerDuty's "invalid event": the event is fine, only early
    clock.now += 1
    assert (await api.http.post("/v2/enqueue", json=pd_event(dedup_key="k-2"))).status_code == 202
    assert PD_KEY  # the routing key names the source 'pagerduty', whose own limit applies


async def test_a_storm_for_one_incident_coalesces_before_the_limit_counts(
        limited: tuple[Running, Clock], dev_env: WorkflowEnvironment) -> None:
    api, _ = limited
    intake = api.app.state.intake
    real, gate = intake.coalescer.send, asyncio.Event()

    async def held(key: str, detections: list[Detection], start: bool) -> str:
        await gate.wait()  # Temporal is slow: every request below arrives while this call is in flight
        return str(await real(key, detections, start))

    intake.coalescer.send = held
    group, before = _group(), intake.coalescer.stats.requests
    storm = [asyncio.create_task(api.http.post("/v1/alerts/alertmanager", headers=bearer(AM_TOKEN),
                                               json=am_message([am_alert(f"{i:016x}")], group)))
             for i in range(40)]
    for _ in range(500):
        if intake.coalescer.stats.requests - before == 40 or any(t.done() for t in storm):
            break
        await asyncio.sleep(0.01)
    gate.set()
    answers = await asyncio.gather(*storm)
    intake.coalescer.send = real
    assert [r.status_code for r in answers] == [202] * 40, [r.text for r in answers if r.status_code != 202]
    assert intake.limits.refused == 0
    assert intake.limits.bucket("alertmanager").tokens == pytest.approx(1)  # 40 alerts, one token

    # The one token left opens one more incident; the next new one is refused.
    r = await api.http.post("/v1/alerts/alertmanager", json=am_message([am_alert("b")], _group()),
                            headers=bearer(AM_TOKEN))
    assert r.status_code == 202, r.text
    late = _group()
    r = await api.http.post("/v1/alerts/alertmanager", json=am_message([am_alert("c")], late),
                            headers=bearer(AM_TOKEN))
    assert r.status_code == 429 and not await _started(dev_env, late)


async def test_disabled_limits_admit_everything(dev_env: WorkflowEnvironment, task_queue: str) -> None:
    cfg = config(rate_limits={"enabled": False, "per_minute": 1, "burst": 1})
    async with serving(create_app(cfg, secrets(cfg), client=dev_env.client, task_queue=task_queue)) as api:
        for _ in range(3):
            r = await api.http.post("/v1/alerts/alertmanager", json=am_message([am_alert("a")], _group()),
                                    headers=bearer(AM_TOKEN))
            assert r.status_code == 202, r.text


def test_a_request_bigger_than_the_burst_waits_for_a_full_bucket_then_leaves_a_debt() -> None:
    clock = Clock()
    limits = RateLimits(RateLimitsConfig(per_minute=60, burst=5), clock)
    limits.admit("s", 2)
    with pytest.raises(Exception, match="needs 8") as refused:
        limits.admit("s", 8)
    assert refused.value.headers == {"Retry-After": "2"}  # type: ignore[attr-defined]  # full again in 2 s
    clock.now += 2
    limits.admit("s", 8)  # admitted on a full bucket: 5 - 8 = -3
    with pytest.raises(Exception) as refused:
        limits.admit("s", 1)
    assert refused.value.headers == {"Retry-After": "4"}  # type: ignore[attr-defined]  # the debt is paid first


def test_limits_name_configured_sources_and_burst_defaults_to_the_rate() -> None:
    with pytest.raises(ValidationError, match="rate_limits.sources.nosuch: no such source"):
        IntakeConfig.model_validate({"sources": SOURCES, "rate_limits": {"sources": {"nosuch": {"per_minute": 1}}}})
    cfg = IntakeConfig.model_validate({"sources": SOURCES, "rate_limits": {
        "sources": {"langfuse": {"per_minute": 30}}}})
    limits = RateLimits(cfg.rate_limits)
    assert (limits.bucket("langfuse").capacity, limits.bucket("api").capacity) == (30, 120)
