"""Service deploys into the deploy log: PagerDuty change events sent by the official `pagerduty` client and a CI
deployment webhook, to a real intake on 127.0.0.1; an incident's last deploy and the investigate step's `deploys`
evidence read them back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pagerduty
import pytest
from temporalio.testing import ActivityEnvironment

from activities.context import ActivityContext
from activities.detect import DetectActivities
from activities.investigate import InvestigateActivities
from intake.app import create_app
from integrations.artefacts import ArtefactStore
from integrations.service_deploys import service_log_path
from playbook.config import EvidenceSource
from playbook.messages import EvidenceInput, OpenIncidentInput
from tests.intake.support import API_TOKEN, PD_KEY, Running, bearer, config, secrets, serving
from tests.support import detection, write_playbook


class ToIntake(httpx2.BaseTransport):
    """The client insists on https://events.pagerduty.com; its requests go, unchanged but for the address, to the
    intake under test over plain HTTP on 127.0.0.1."""

    def __init__(self, url: str) -> None:
        self.url, self.inner = httpx2.URL(url), httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.url = request.url.copy_with(scheme=self.url.scheme, host=self.url.host, port=self.url.port)
        return self.inner.handle_request(request)


@asynccontextmanager
async def intake(tmp_path: Path) -> AsyncIterator[tuple[Running, ArtefactStore]]:
    cfg = config()
    store = ArtefactStore(tmp_path / "artefacts")
    async with serving(create_app(cfg, secrets(cfg), address="127.0.0.1:1", store=store)) as api:
        yield api, store


def lines(store: ArtefactStore, service: str) -> list[dict[str, Any]]:
    path = store.path(service_log_path(service))
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_change_events_from_the_official_client_and_ci_deploys(tmp_path: Path) -> None:
    async with intake(tmp_path) as (api, store):
        at = datetime.now(UTC) - timedelta(minutes=30)
        client = pagerduty.EventsApiV2Client(PD_KEY, transport=ToIntake(api.url))
        change = {"summary": "Deployed support-bot 2026.11.30-1", "source": "github-actions",
                  "timestamp": at.isoformat(),
                  "custom_details": {"service": "support-bot", "deploy_id": "2026.11.30-1", "version": "abc1234",
                                     "by": "ci-bot"}}
        links = [{"href": "https://ci.example/runs/42", "text": "CI run"}]
        for _ in range(2):  # the same event twice: recorded once
            await asyncio.to_thread(client.send_change_event, payload=change, links=links)
        [entry] = lines(store, "support-bot")
        assert (entry["deploy_id"], entry["version"], entry["by"]) == ("2026.11.30-1", "abc1234", "ci-bot")
        assert entry["at"] == at.isoformat() and entry["links"] == ["https://ci.example/runs/42"]
        assert entry["via"] == "PagerDuty change event, source pagerduty"
        wrong = pagerduty.EventsApiV2Client("not-a-key", transport=ToIntake(api.url))
        with pytest.raises(pagerduty.Error):
            await asyncio.to_thread(wrong.send_change_event, payload=change)

        deploy = {"id": "run-43", "service": "support-bot", "deploy_id": "2026.11.30-2", "version": "def5678",
                  "environment": "production", "by": "dana", "at": (at + timedelta(minutes=10)).isoformat()}
        first = await api.http.post("/v1/deploys", json=deploy, headers=bearer(API_TOKEN))
        again = await api.http.post("/v1/deploys", json=deploy, headers=bearer(API_TOKEN))
        assert (first.status_code, first.json()["status"], again.json()["status"]) == (200, "recorded", "duplicate")
        assert (await api.http.post("/v1/deploys", json=deploy)).status_code == 401
        bad = await api.http.post("/v1/deploys", json={**deploy, "service": ""}, headers=bearer(API_TOKEN))
        assert bad.status_code == 422
        assert [e["deploy_id"] for e in lines(store, "support-bot")] == ["2026.11.30-1", "2026.11.30-2"]

    # The incident's last deploy, when neither the alert nor the prompt log names one; and the evidence.
    ctx = ActivityContext(store=store, playbook_path=write_playbook(tmp_path, ""))
    det = detection(deploy_id=None, detected_at=at + timedelta(minutes=20))
    opened = ActivityEnvironment().run(DetectActivities(ctx).open_incident, OpenIncidentInput(
        workflow_id="incident-x", chain_id="chain-x", detection=det))
    assert opened.last_deploy is not None and opened.last_deploy.startswith(
        "support-bot deploy 2026.11.30-2 (def5678) to production at ")
    assert opened.last_deploy.endswith("by dana (CI webhook, source api)")
    earlier = ActivityEnvironment().run(DetectActivities(ctx).open_incident, OpenIncidentInput(
        workflow_id="incident-y", chain_id="chain-y", detection=detection(deploy_id=None,
                                                                          detected_at=at + timedelta(minutes=5))))
    assert earlier.last_deploy is not None and "2026.11.30-1" in earlier.last_deploy

    pack = ActivityEnvironment().run(InvestigateActivities(ctx).collect_evidence, EvidenceInput(
        incident_number="INC-7", workflow_id="incident-x", detection=det,
        sources={"deploys": EvidenceSource(kind="deploys", lookback_minutes=60)}, variables={}))
    item = next(i for i in pack.items if i.name == "deploys.json")
    assert item.summary is not None and "2 service deploy(s): support-bot deploy 2026.11.30-2" in item.summary
    saved = json.loads((store.root / "INC-7" / "evidence" / "deploys.json").read_text())
    assert [d["deploy_id"] for d in saved["service_deploys"]] == ["2026.11.30-2", "2026.11.30-1"]
