"""An acknowledgement in PagerDuty acknowledges the Firebreak incident: PagerDuty's signed v3 webhook
(`incident.acknowledged`, signed as docs/webhooks/04-Signatures.md says, with two secrets while PagerDuty rotates)
arrives before anyone acknowledged in Firebreak; the incident is acknowledged by the roster person mapped to that
PagerDuty user, Firebreak sends PagerDuty no acknowledge of its own, and a redelivery changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from intake.app import create_app
from intake.people import People
from playbook.config import load_playbook
from playbook.paging import FROM_PAGERDUTY
from tests.behaviour import open_incident as open_unacknowledged
from tests.behaviour import terminate_leftovers  # noqa: F401  (autouse)
from tests.fake_pagerduty import FakePagerDuty, signature
from tests.intake.support import config, secrets, serving
from tests.support import ROSTER, incident_worker, wait_for, write_playbook

KEY = "R0UTINGKEY00000000000000000000CD"
SECRET, OLD_SECRET = "whsec-new-0123456789", "whsec-old-9876543210"
PD_ROSTER = ROSTER.replace('name = "Bea Backup"', 'name = "Bea Backup"\npagerduty_user = "PBEA001"')


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakePagerDuty]:
    from tests.support import serving as serving_fake

    with serving_fake(FakePagerDuty(tmp_path_factory.mktemp("pd"), {KEY}), poll_interval=0.05) as server:
        yield server


async def test_an_acknowledgement_in_pagerduty_acknowledges_the_incident_once(
        dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path, fake: FakePagerDuty,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", KEY)
    monkeypatch.setenv("PAGERDUTY_WEBHOOK_SECRET", SECRET)
    prefix = "PD" + uuid.uuid4().hex[:4].upper().replace("0", "A")
    playbook = write_playbook(tmp_path, f"""
[tickets]
number_prefix = "{prefix}"
[paging.pagerduty]
enabled = true
events_url = "{fake.url}"
ca_file = "{fake.ca_file}"
""", PD_ROSTER)
    loaded = load_playbook(playbook)[0]
    people = People(roster=loaded.roster, pagerduty=loaded.paging.pagerduty)
    cfg = config(people={"outcome_wait_seconds": 3.0})
    async with incident_worker(dev_env.client, task_queue, playbook, home), \
            serving(create_app(cfg, secrets(cfg), client=dev_env.client, task_queue=task_queue,
                               people=people)) as api:
        handle, state = await open_unacknowledged(dev_env, task_queue, acknowledge=False)
        await wait_for(handle, lambda s: s.paging is not None and s.paging.triggered)
        body = fake.acknowledge_in_pagerduty(handle.id, "PBEA001", "Bea Backup")

        forged = await api.http.post("/v1/pagerduty/webhook", content=body, headers={
            "Content-Type": "application/json", "X-PagerDuty-Signature": signature(["not-our-secret"], body)})
        assert forged.status_code == 401

        headers = {"Content-Type": "application/json", "X-PagerDuty-Signature": signature([OLD_SECRET, SECRET], body)}
        answer = await api.http.post("/v1/pagerduty/webhook", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json() | {"message": None} == {"result": "acknowledged", "incident": state.number, "by": "bea",
                                                      "role": "incident_commander", "message": None}
        state = await wait_for(handle, lambda s: s.paging is not None and s.paging.acknowledged)
        assert state.acknowledged_by == "bea"
        ack = [e for e in state.timeline if e.what == "acknowledged"]
        assert len(ack) == 1 and ack[0].details["comment"] == FROM_PAGERDUTY

        again = await api.http.post("/v1/pagerduty/webhook", content=body, headers=headers)  # PagerDuty redelivers
        assert again.status_code == 200 and again.json()["result"] == "already acknowledged"
        state = await wait_for(handle, lambda s: True)
        assert not [e for e in state.timeline if e.what.startswith("refused")]
        assert [e["event_action"] for e in fake.events if e.get("dedup_key") == handle.id] == ["trigger"]

        other = fake.acknowledge_in_pagerduty(handle.id, "PNOBODY", "Someone Else")
        stranger = await api.http.post("/v1/pagerduty/webhook", content=other, headers={
            "Content-Type": "application/json", "X-PagerDuty-Signature": signature([SECRET], other)})
        assert stranger.status_code == 200 and stranger.json()["result"] == "ignored"

        fake.alerts["elsewhere"] = {**fake.alerts[handle.id], "title": f"{prefix}-2026-9999: not here"}
        unknown = fake.acknowledge_in_pagerduty("elsewhere", "PBEA001", "Bea Backup")
        gone = await api.http.post("/v1/pagerduty/webhook", content=unknown, headers={
            "Content-Type": "application/json", "X-PagerDuty-Signature": signature([SECRET], unknown)})
        assert gone.status_code == 200 and gone.json()["result"] == "ignored"  # PagerDuty need not redeliver it
