"""Drills: a closed incident replayed as a practice incident, marked as a drill everywhere, paging and briefing only
the archive and asking its participants first, compared with the real incident at its end; and the retrospective's
lessons for responders."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from client.drill import NotDrillable, start_drill
from playbook import search_attributes as sa
from playbook.briefs import draft_brief
from playbook.models import IncidentStatus, Resolution, RetrospectiveNotes, Role
from tests.behaviour import open_incident, read_jsonl, started, terminate_leftovers, worker  # noqa: F401
from tests.support import human, recorder, state_of, wait_for, write_playbook
from workflows.incident import IncidentWorkflow


def _close(by: str, lessons: list[str]) -> tuple[Resolution, RetrospectiveNotes]:
    return (Resolution(by=by, role=Role.INCIDENT_COMMANDER, comment="rolled back"),
            RetrospectiveNotes(by=by, role=Role.INCIDENT_COMMANDER, root_cause="prompt v13", lessons=lessons))


async def test_a_drill_replays_a_closed_incident_on_the_archive_only(ts_env: WorkflowEnvironment, task_queue: str,
                                                                     tmp_path: Path, home: Path) -> None:
    with recorder() as pager:
        playbook = write_playbook(tmp_path, f"""
[severity.levels.SEV3]
cadence_minutes = 0
ack_timeout_minutes = 60
[channels.pager]
kind = "webhook"
url = "{pager.url}/page"
[communicate]
notify_channels = ["pager"]
""")
        async with worker(ts_env.client, task_queue, playbook, home) as ctx:
            real, state = await open_incident(ts_env, task_queue, summary="toxic answers after v13")
            later = state.detection.model_copy(update={"alert_id": "a-later", "summary": "still toxic at 14:05"})
            await real.signal(IncidentWorkflow.alert, later)
            await wait_for(real, lambda s: s.alert_count == 2)
            resolution, notes = _close("ian", ["check the prompt diff before paging the vendor"])
            await real.signal(IncidentWorkflow.resolve, resolution)
            await wait_for(real, lambda s: s.retrospective_path is not None)
            with pytest.raises(NotDrillable, match="drills replay closed incidents"):
                await start_drill(ts_env.client, await state_of(real), ["bea"], "bea", task_queue)
            await real.signal(IncidentWorkflow.retrospective_done, notes)
            await real.result()
            real_state = await state_of(real)
            pages_before = len(pager.requests)
            assert pages_before >= 1  # the real incident paged its channel

            drill = started(await start_drill(ts_env.client, real_state, ["bea"], "olu", task_queue))
            state = await wait_for(drill, lambda s: s.ticket is not None and s.alert_count == 2)
            assert "a-later" not in state.seen_alert_ids  # the later alert replayed under the drill's own id
            assert state.number is not None and state.number.startswith("DRILL-")
            opened = next(e for e in state.timeline if e.what.startswith("incident opened as"))
            assert opened.details["reason"].startswith(f"DRILL of {real_state.number}")
            desc = await drill.describe()
            assert (await desc.static_summary() or "").startswith(f"DRILL of {real_state.number}")
            folder = ctx.store.root / state.number
            # The acknowledgement page goes to the participant, in the archive, and to no channel.
            await wait_for(drill, lambda s: s.ack_paged)
            assert [n["to"] for n in read_jsonl(folder / "notifications.jsonl")] == [["bea"]]
            await drill.signal(IncidentWorkflow.acknowledge, human("bea", Role.INCIDENT_COMMANDER))
            resolution, notes = _close("bea", ["read the runbook first"])
            await drill.signal(IncidentWorkflow.resolve, resolution)
            await wait_for(drill, lambda s: s.retrospective_path is not None)
            await drill.signal(IncidentWorkflow.retrospective_done, notes)
            assert (await drill.result()).status == IncidentStatus.CLOSED
            final = await state_of(drill)
            attrs = (await drill.describe()).typed_search_attributes
            assert attrs.get(sa.INCIDENT_NUMBER) == state.number  # the search attribute says DRILL-...
            assert len(pager.requests) == pages_before  # nothing left the archive

    comparison = json.loads((folder / "drill-comparison.json").read_text())
    assert (comparison["drill"], comparison["real"]) == (state.number, real_state.number)
    assert set(comparison["timings"]) == {"minutes_to_acknowledge", "minutes_to_stabilise", "minutes_to_contain",
                                          "minutes_to_resolve"}
    assert comparison["timings"]["minutes_to_resolve"]["real"] is not None
    assert comparison["lessons"] == ["check the prompt diff before paging the vendor"]
    text = (folder / "drill-comparison.md").read_text()
    assert text.startswith(f"# Drill {state.number} against {real_state.number}") and "## Decisions" in text
    retro = (folder / "retrospective.md").read_text()
    assert "- read the runbook first" in retro and f"A drill replaying {real_state.number}" in retro
    brief = draft_brief(final, 1, datetime.now(UTC), None)
    assert brief.title.startswith("[DRILL]") and f"replaying {real_state.number}" in brief.text
    assert not (ctx.store.root / "_risk_register" / f"{state.number}.json").exists()  # practice is no risk
    assert (ctx.store.root / "_risk_register" / f"{real_state.number}.json").exists()
