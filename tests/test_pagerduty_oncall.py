"""PagerDuty schedules as on-call layers: `GET /oncalls` through the official client's RestApiV2Client (its own
pagination and entity unwrapping) against tests/fake_pagerduty.py; a revoked REST API key is an error on the role,
and the next layer and the roster still answer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from integrations.oncall import on_call
from playbook.config import load_playbook
from playbook.models import Role
from playbook.paging import OnCallRequest
from tests.fake_pagerduty import FakePagerDuty
from tests.support import ROSTER, serving, write_playbook

TOKEN = "y_NbAkKc66ryYTWUXYEu"
AT = datetime(2027, 3, 30, 13, 0, tzinfo=UTC)


def oncall(user: str, name: str, schedule: str, start: str, end: str, level: int = 1) -> dict[str, Any]:
    """One entry as the REST API lists it (api-reference "List all of the on-calls")."""
    return {"escalation_policy": {"id": "PEP0001", "type": "escalation_policy_reference", "summary": "AI on call"},
            "escalation_level": level, "schedule": {"id": schedule, "type": "schedule_reference", "summary": schedule},
            "user": {"id": user, "type": "user_reference", "summary": name}, "start": start, "end": end}


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakePagerDuty]:
    with serving(FakePagerDuty(tmp_path_factory.mktemp("pd"), set(), {TOKEN}), poll_interval=0.05) as server:
        server.oncalls = [
            oncall("PBEA001", "Bea Backup", "PSCHED1", "2027-03-30T09:00:00Z", "2027-03-30T17:00:00Z"),
            oncall("PIAN001", "Ian Commander", "PSCHED1", "2027-03-30T17:00:00Z", "2027-03-31T09:00:00Z"),
            oncall("PXXX999", "Contractor", "PSCHED2", "2027-03-30T00:00:00Z", "2027-04-06T00:00:00Z", 2),
            {**oncall("POLU001", "Olu Ops", "", "", "", 3), "schedule": None, "start": None, "end": None}]
        yield server


def playbook(tmp_path: Path, fake: FakePagerDuty) -> Path:
    roster = ROSTER.replace('name = "Bea Backup"', 'name = "Bea Backup"\npagerduty_user = "PBEA001"').replace(
        'name = "Ian Commander"', 'name = "Ian Commander"\npagerduty_user = "PIAN001"').replace(
        'name = "Olu Ops"', 'name = "Olu Ops"\npagerduty_user = "POLU001"')
    return write_playbook(tmp_path, f"""
[paging.pagerduty]
api_url = "{fake.url}"
ca_file = "{fake.ca_file}"
[paging.oncall.incident_commander]
pagerduty_schedules = ["PSCHED1", "PSCHED2"]
[paging.oncall.ai_ops]
pagerduty_escalation_policy = "PEP0001"
""", roster)


def test_pagerduty_schedules_give_now_next_and_the_chain(tmp_path: Path, fake: FakePagerDuty,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", TOKEN)
    path = playbook(tmp_path, fake)
    pb = load_playbook(path)[0]
    found = on_call(OnCallRequest(at=AT, paging=pb.paging, roster=pb.roster), path.parent).roles[
        Role.INCIDENT_COMMANDER]
    assert found.errors == []
    assert [(s.person, s.named, s.layer) for s in found.now] == [
        ("bea", "Bea Backup", "pagerduty:PSCHED1"), (None, "Contractor", "pagerduty:PSCHED2")]
    assert found.chain == ["bea"]  # the contractor is no roster person: not paged through Firebreak
    assert (found.next[0].person, found.next[0].start) == ("ian", datetime(2027, 3, 30, 17, 0, tzinfo=UTC))
    policy = on_call(OnCallRequest(at=AT, paging=pb.paging, roster=pb.roster), path.parent).roles[Role.AI_OPS]
    assert [(s.person, s.layer) for s in policy.now] == [  # the policy's escalation levels are the layers
        ("bea", "pagerduty:PEP0001/level-1"), (None, "pagerduty:PEP0001/level-2"), ("olu", "pagerduty:PEP0001/level-3")]
    assert policy.chain == ["bea", "olu"]


def test_a_revoked_rest_api_key_is_an_error_on_the_role(tmp_path: Path, fake: FakePagerDuty,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", "revoked-key-000")
    path = playbook(tmp_path, fake)
    pb = load_playbook(path)[0]
    found = on_call(OnCallRequest(at=AT, paging=pb.paging, roster=pb.roster), path.parent).roles[
        Role.INCIDENT_COMMANDER]
    assert found.now == [] and len(found.errors) == 2  # each schedule says why
    assert "401" in found.errors[0] and "PAGERDUTY_API_TOKEN" in found.errors[0]
