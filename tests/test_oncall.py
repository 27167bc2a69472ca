"""Who is on call: an iCalendar rotation across Europe/Berlin's daylight-saving change with an override, read with
icalendar + recurring-ical-events; `firebreak oncall` shows now and next; an incident pages who the schedule says,
writes it on the timeline, and escalates along the schedule's next layer."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from integrations.oncall import on_call
from playbook.config import load_playbook
from playbook.models import IncidentStatus, Role
from playbook.paging import OnCallRequest
from tests.behaviour import open_incident, read_jsonl, terminate_leftovers, whats, worker  # noqa: F401
from tests.support import ROSTER, human, wait_for, write_playbook
from workflows.incident import IncidentWorkflow

REPO = Path(__file__).resolve().parent.parent
OLU_CONTACT = ROSTER.replace('name = "Olu Ops"', 'name = "Olu Ops"\ncontact = "olu@example.com"')

# Two people alternate weekly, handing over on Mondays at 09:00 Berlin time. Europe/Berlin leaves CET (UTC+1) for
# CEST (UTC+2) on Sunday 2027-03-28, so the handover of Monday 03-29 is at 07:00 UTC, not 08:00. Olu overrides
# Tuesday 03-30 12:00-18:00 UTC (named by e-mail, as an invitation would); Sam overrides across a handover.
PRIMARY = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Firebreak tests//EN
BEGIN:VEVENT
UID:rotation-ian@example.com
DTSTAMP:20270101T000000Z
SUMMARY:ian
DTSTART;TZID=Europe/Berlin:20270315T090000
DTEND;TZID=Europe/Berlin:20270322T090000
RRULE:FREQ=WEEKLY;INTERVAL=2
END:VEVENT
BEGIN:VEVENT
UID:rotation-bea@example.com
DTSTAMP:20270101T000000Z
SUMMARY:Bea Backup
DTSTART;TZID=Europe/Berlin:20270322T090000
DTEND;TZID=Europe/Berlin:20270329T090000
RRULE:FREQ=WEEKLY;INTERVAL=2
END:VEVENT
BEGIN:VEVENT
UID:override-across-handover@example.com
DTSTAMP:20270101T000000Z
SUMMARY:sam
DTSTART:20270405T060000Z
DTEND:20270405T080000Z
END:VEVENT
BEGIN:VEVENT
UID:override-olu@example.com
DTSTAMP:20270101T000000Z
SUMMARY:Override
ATTENDEE;CN=Olu:mailto:olu@example.com
DTSTART:20270330T120000Z
DTEND:20270330T180000Z
END:VEVENT
END:VCALENDAR
"""
SECONDARY = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Firebreak tests//EN
BEGIN:VEVENT
UID:secondary@example.com
DTSTAMP:20200101T000000Z
SUMMARY:%s
DTSTART:20200101T000000Z
DTEND:20200102T000000Z
RRULE:FREQ=DAILY
END:VEVENT
END:VCALENDAR
"""
SCHEDULE = """
[paging.oncall.incident_commander]
ical = ["primary.ics", "secondary.ics"]
"""


def feeds(directory: Path, primary: str = PRIMARY, secondary: str = "sam") -> Path:
    (directory / "primary.ics").write_text(primary.replace("\n", "\r\n"), encoding="utf-8")
    (directory / "secondary.ics").write_text((SECONDARY % secondary).replace("\n", "\r\n"), encoding="utf-8")
    return write_playbook(directory, SCHEDULE, OLU_CONTACT)


def holders(playbook: Path, at: str) -> tuple[list[str | None], list[tuple[str | None, datetime]]]:
    pb = load_playbook(playbook)[0]
    found = on_call(OnCallRequest(at=datetime.fromisoformat(at), paging=pb.paging, roster=pb.roster),
                    playbook.parent).roles[Role.INCIDENT_COMMANDER]
    assert found.errors == []
    return [s.person for s in found.now], [(s.person, s.start) for s in found.next]


def test_a_weekly_rotation_keeps_local_time_across_daylight_saving_and_an_override_wins(tmp_path: Path) -> None:
    playbook = feeds(tmp_path)
    assert holders(playbook, "2027-03-22T07:30:00+00:00")[0] == ["ian", "sam"]  # CET: Bea takes over at 08:00 UTC
    assert holders(playbook, "2027-03-22T08:30:00+00:00")[0] == ["bea", "sam"]
    now, later = holders(playbook, "2027-03-29T06:30:00+00:00")  # CEST since Sunday: handover at 07:00 UTC
    assert now == ["bea", "sam"] and later[0] == ("ian", datetime(2027, 3, 29, 7, 0, tzinfo=UTC))
    assert holders(playbook, "2027-03-29T07:30:00+00:00")[0] == ["ian", "sam"]
    now, later = holders(playbook, "2027-03-30T13:00:00+00:00")  # the override, matched by e-mail
    assert now == ["olu", "sam"] and later[0] == ("ian", datetime(2027, 3, 30, 18, 0, tzinfo=UTC))
    # Sam covers 06:00-08:00 UTC on Monday 04-05, across Bea's 07:00 UTC handover to Ian: the override holds.
    assert holders(playbook, "2027-04-05T07:30:00+00:00")[0] == ["sam", "sam"]
    assert holders(playbook, "2027-04-05T08:30:00+00:00")[0] == ["bea", "sam"]


def test_firebreak_oncall_shows_now_and_next(tmp_path: Path) -> None:
    playbook = feeds(tmp_path)
    done = subprocess.run([sys.executable, "-m", "cli", "--playbook", str(playbook), "oncall",
                           "--at", "2027-03-30T13:00:00+00:00"], capture_output=True, text=True, cwd=REPO,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "  incident_commander: olu (schedule)" in lines
    assert "    now:  olu until 2027-03-30T18:00+00:00 [primary.ics]" in lines
    assert "    next: ian from 2027-03-30T18:00+00:00 [primary.ics]" in lines
    assert "  ai_ops: bea (roster; no schedule)" in lines
    (tmp_path / "secondary.ics").unlink()  # a layer that cannot be read: an error on its role, the rest counts
    pb = load_playbook(playbook)[0]
    found = on_call(OnCallRequest(at=datetime.fromisoformat("2027-03-30T13:00:00+00:00"), paging=pb.paging,
                                  roster=pb.roster), playbook.parent).roles[Role.INCIDENT_COMMANDER]
    assert found.chain == ["olu"] and "secondary.ics" in found.errors[0]


async def test_the_schedule_fills_the_role_when_paging_and_escalation_follows_its_next_layer(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path) -> None:
    always = SECONDARY % "olu@example.com"  # every day, all day
    playbook = feeds(tmp_path, always, "bea")
    async with worker(ts_env.client, task_queue, playbook, home):
        handle, _ = await open_incident(ts_env, task_queue, acknowledge=False)
        state = await wait_for(handle, lambda s: any(e.what.startswith("on call for") for e in s.timeline))
        assert state.assignments.get("olu") == [Role.INCIDENT_COMMANDER]
        assert state.paging is not None and state.paging.oncall[Role.INCIDENT_COMMANDER] == ["olu", "bea"]
        entry = next(e for e in state.timeline if e.what == "on call for incident_commander: olu")
        assert entry.details["chain"] == ["olu", "bea"] and entry.details["layers"] == ["primary.ics", "secondary.ics"]
        await wait_for(handle, lambda s: s.ack_paged)  # the page is written after the on-call entry
        pages = read_jsonl(home / "artefacts" / str(state.number) / "notifications.jsonl")
        assert pages[0]["to"] == ["olu"] and pages[0]["contacts"] == {"olu": "olu@example.com"}
        level = state.playbook.severity.levels[state.severity]  # type: ignore[union-attr]
        await ts_env.sleep(timedelta(minutes=level.ack_timeout_minutes, seconds=30))
        state = await wait_for(handle, lambda s: s.ack_escalated_to == ["bea"])
        assert "not acknowledged in time; escalated to bea" in whats(state)
        await handle.signal(IncidentWorkflow.acknowledge, human("olu", Role.INCIDENT_COMMANDER))
        state = await wait_for(handle, lambda s: s.status != IncidentStatus.OPEN)
        assert state.acknowledged_by == "olu"
