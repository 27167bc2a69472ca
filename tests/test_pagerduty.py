"""PagerDuty paging: the incident's alert triggered on open (dedup_key = the incident's workflow id), acknowledged
and resolved as the incident moves, through the official `pagerduty` client against tests/fake_pagerduty.py; a
429 storm waits Retry-After and still lands one alert; a wrong integration key is a clear timeline entry while the
incident goes on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pagerduty import EventsApiV2Client
from pagerduty.errors import HttpError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.context import ActivityContext
from activities.paging import PagingActivities
from integrations import pagerduty
from integrations.artefacts import ArtefactStore
from playbook.config.paging import PagerDutyConfig
from playbook.models import IncidentStatus, Resolution, Role
from playbook.paging import PagerDutyEvent
from tests.behaviour import open_incident, read_jsonl, terminate_leftovers, whats, worker  # noqa: F401
from tests.fake_pagerduty import FakePagerDuty
from tests.support import serving, wait_for, write_playbook
from workflows.incident import IncidentWorkflow

KEY = "R0UTINGKEY00000000000000000000AB"  # 32 characters, like an Events API v2 integration key


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakePagerDuty]:
    with serving(FakePagerDuty(tmp_path_factory.mktemp("pd"), {KEY}), poll_interval=0.05) as server:
        yield server


@pytest.fixture(autouse=True)
def routing_key(monkeypatch: pytest.MonkeyPatch, fake: FakePagerDuty) -> None:
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", KEY)
    fake.throttle = 0


def config(fake: FakePagerDuty) -> PagerDutyConfig:
    return PagerDutyConfig(enabled=True, events_url=fake.url, ca_file=str(fake.ca_file))


def playbook_text(fake: FakePagerDuty) -> str:
    return f"""
[paging.pagerduty]
enabled = true
events_url = "{fake.url}"
ca_file = "{fake.ca_file}"
"""


def test_the_fakes_answers_parse_with_the_clients_own_handling(fake: FakePagerDuty) -> None:
    """202 gives the dedup_key back through EventsApiV2Client.send_event; a 400 is the client's HttpError."""
    with EventsApiV2Client(KEY, base_url=fake.url, verify=pagerduty.client_options(config(fake))["verify"]) as c:
        assert c.trigger("contract check", "tests", dedup_key="contract-1", severity="info") == "contract-1"
        assert c.resolve("contract-1") == "contract-1"
        generated = c.trigger("no key given", "tests", severity="warning")
        assert len(generated) == 32 and fake.alerts[generated]["status"] == "triggered"
    with EventsApiV2Client("W" * 32, base_url=fake.url,
                           verify=pagerduty.client_options(config(fake))["verify"]) as wrong, \
            pytest.raises(HttpError) as err:
        wrong.trigger("wrong key", "tests")
    response = err.value.response
    assert response is not None and response.status_code == 400
    assert response.json()["errors"] == ["Invalid routing key"]


def test_a_429_waits_the_servers_retry_after_and_a_wrong_key_fails_for_good(fake: FakePagerDuty,
                                                                             tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    acts = PagingActivities(ActivityContext(store=ArtefactStore(tmp_path), playbook_path=tmp_path / "p.toml"))
    event = PagerDutyEvent(action="trigger", dedup_key="incident-429", summary="storm, ask jane@example.com",
                           config=config(fake))
    fake.throttle, fake.retry_after = 1, "7"
    with pytest.raises(ApplicationError) as limited:
        ActivityEnvironment().run(acts.pagerduty_event, event)
    assert limited.value.type == "RateLimited" and limited.value.next_retry_delay == timedelta(seconds=7)
    assert ActivityEnvironment().run(acts.pagerduty_event, event) == "incident-429"
    assert fake.alerts["incident-429"]["title"] == "storm, ask [REDACTED:EMAIL]"  # redacted on its way out
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "X" * 32)
    with pytest.raises(ApplicationError) as refused:
        ActivityEnvironment().run(acts.pagerduty_event, event)
    assert refused.value.non_retryable and "Invalid routing key" in str(refused.value)
    assert "integration key" in str(refused.value)


async def test_the_incidents_alert_is_triggered_acknowledged_and_resolved(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path, fake: FakePagerDuty) -> None:
    playbook = write_playbook(tmp_path, playbook_text(fake))
    fake.throttle, fake.retry_after = 2, "1"  # a storm of 429s when the incident opens
    async with worker(ts_env.client, task_queue, playbook, home):
        handle, state = await open_incident(ts_env, task_queue)
        key = handle.id
        assert fake.throttled >= 2
        assert fake.alerts[key]["title"].startswith(f"{state.number}: ")
        state = await wait_for(handle, lambda s: "PagerDuty alert: acknowledge sent" in whats(s))
        assert fake.alerts[key]["status"] == "acknowledged"
        await handle.signal(IncidentWorkflow.resolve, Resolution(by="ian", role=Role.INCIDENT_COMMANDER))
        state = await wait_for(handle, lambda s: "PagerDuty alert: resolve sent" in whats(s))
    assert fake.alerts[key]["status"] == "resolved"
    mine = [(e["event_action"], e["dedup_key"]) for e in fake.events if e.get("dedup_key") == key]
    assert mine == [("trigger", key), ("acknowledge", key), ("resolve", key)]  # one alert, never re-triggered
    assert [e for e in fake.events if e.get("dedup_key") == key][0]["payload"]["severity"] in {"critical", "error",
                                                                                          "warning", "info"}


async def test_a_wrong_integration_key_is_on_the_timeline_and_the_incident_goes_on(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path, fake: FakePagerDuty,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "EXPIREDKEY" + "0" * 22)
    playbook = write_playbook(tmp_path, playbook_text(fake))
    async with worker(ts_env.client, task_queue, playbook, home):
        handle, state = await open_incident(ts_env, task_queue)
        assert state.status in (IncidentStatus.ACKNOWLEDGED, IncidentStatus.MONITORING)
        failed = [e for e in state.timeline if e.what == "PagerDuty trigger failed; the incident goes on without it"]
        assert len(failed) == 1 and "Invalid routing key" in failed[0].details["error"]
        assert "integration key" in failed[0].details["error"]
        assert handle.id not in fake.alerts
        pages = read_jsonl(home / "artefacts" / state.number / "notifications.jsonl")  # type: ignore[operator]
        assert pages and pages[0]["to"] == ["ian"]  # the roster was paged all the same
        assert not any("acknowledge sent" in w for w in whats(state))
