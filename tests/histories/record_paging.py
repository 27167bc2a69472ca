"""Record the paging history: `.venv/bin/python -m tests.histories.record_paging` writes paging.json beside this file.

An incident under the paging-v1 marker: an iCalendar schedule puts olu on call as incident commander (the
who_is_on_call activity, its answer on the timeline), PagerDuty (tests/fake_pagerduty.py) is triggered, the
acknowledgement comes from PagerDuty (so Firebreak sends no acknowledge), resolution resolves the alert, and the
retrospective closes the incident. Kept apart from record.py so the other shapes are recorded as before.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from pathlib import Path

from client.temporal import raise_detection
from playbook.models import HumanAction, Resolution, Role, Severity
from playbook.paging import FROM_PAGERDUTY
from tests.fake_pagerduty import FakePagerDuty
from tests.histories.record import RETRO, _save
from tests.support import detection, incident_worker, serving, time_skipping_env, wait_for, write_playbook
from workflows.incident import IncidentWorkflow

KEY = "R0UTINGKEY00000000000000000000EF"
FEED = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Firebreak record//EN\r
BEGIN:VEVENT\r
UID:always-olu@example.com\r
DTSTAMP:20200101T000000Z\r
SUMMARY:olu\r
DTSTART:20200101T000000Z\r
DTEND:20200102T000000Z\r
RRULE:FREQ=DAILY\r
END:VEVENT\r
END:VCALENDAR\r
"""


async def main() -> None:
    env = await time_skipping_env()
    async with env:
        with tempfile.TemporaryDirectory() as tmp, serving(FakePagerDuty(Path(tmp), {KEY})) as fake:
            os.environ["PAGERDUTY_ROUTING_KEY"] = KEY
            (Path(tmp) / "oncall.ics").write_text(FEED, encoding="utf-8")
            playbook = write_playbook(Path(tmp), f"""
[paging.pagerduty]
enabled = true
events_url = "{fake.url}"
ca_file = "{fake.ca_file}"
[paging.oncall.incident_commander]
ical = ["oncall.ics"]
""")
            tq = f"record-{uuid.uuid4()}"
            async with incident_worker(env.client, tq, playbook, Path(tmp) / "home"):
                handle = await raise_detection(env.client, detection(kind="hallucination",
                                                                     severity_hint=Severity.SEV3), task_queue=tq)
                await wait_for(handle, lambda s: s.paging is not None and s.paging.triggered)
                await handle.signal(IncidentWorkflow.acknowledge, HumanAction(
                    by="olu", role=Role.INCIDENT_COMMANDER, action_id="pagerduty-1", comment=FROM_PAGERDUTY))
                await wait_for(handle, lambda s: s.status.value == "monitoring")
                await handle.signal(IncidentWorkflow.resolve, Resolution(by="olu", role=Role.INCIDENT_COMMANDER,
                                                                         comment="fixed"))
                await wait_for(handle, lambda s: s.retrospective_path is not None)
                await handle.signal(IncidentWorkflow.retrospective_done, RETRO)
                await _save("paging", handle)
            assert [e["event_action"] for e in fake.events] == ["trigger", "resolve"], fake.events


if __name__ == "__main__":
    asyncio.run(main())
