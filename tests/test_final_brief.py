"""The closing brief at resolution: every audience briefed during the incident hears "resolved" in its own shape,
through the same gates and channels (the Statuspage incident is PATCHed to resolved only after the domain SME's
approval and the communications release), and an unapproved one expires without holding up the review."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from integrations import statuspage
from playbook.briefs import draft_brief
from playbook.config import Audience, CommunicateConfig, StatuspageChannel
from playbook.models import (
    ApprovalStatus,
    IncidentStatus,
    MitigationRecord,
    Resolution,
    RetrospectiveNotes,
    Role,
    Severity,
    SignalKind,
    Step,
)
from playbook.remedy import AppliedMitigation
from playbook.state import IncidentState
from tests.behaviour import (  # noqa: F401  (terminate_leftovers is an autouse fixture)
    advance_to,
    open_incident,
    terminate_leftovers,
    whats,
    worker,
)
from tests.fake_channels import STATUSPAGE_KEY, FakeStatuspage, serving
from tests.support import detection, wait_for, write_playbook
from tests.test_brief_channels import approve, pending, sent
from workflows import briefing
from workflows.incident import IncidentWorkflow

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
RETRO = RetrospectiveNotes(by="ian", role=Role.INCIDENT_COMMANDER, root_cause="bad prompt",
                           contributing_factors=["no test"], preventative_actions=["add test"])
RESOLVE = Resolution(by="ian", role=Role.INCIDENT_COMMANDER, comment="prompt rolled back")


def resolved_state(kind: SignalKind = SignalKind.TOXICITY) -> IncidentState:
    s = IncidentState(workflow_id="incident-x", number="INC-2026-0007", severity=Severity.SEV1,
                      status=IncidentStatus.RESOLVED, step=Step.REVIEW, acknowledged_by="ian",
                      detection=detection(kind=kind, model="gpt-4o", prompt_name="support-answer", prompt_version=13,
                                          detected_at=NOW - timedelta(minutes=95)),
                      resolved_at=NOW, resolved_by="ian", resolution_summary="prompt rolled back",
                      retrospective_due=NOW + timedelta(hours=48), evidence_manifest="/a/evidence/manifest.json")
    s.mitigations.append(MitigationRecord(step=Step.STABILISE, action="rollback_prompt", outcome="done",
                                          detail="confirmed by a person", at=NOW))
    s.in_place = [AppliedMitigation(name="rollback_prompt", step=Step.STABILISE, applied_at=NOW, outcome="kept"),
                  AppliedMitigation(name="disable_tools", step=Step.CONTAIN, applied_at=NOW, outcome="undone",
                                    outcome_detail="tools enabled")]
    return s


def test_the_closing_brief_in_each_shape() -> None:
    tactical = draft_brief(resolved_state(), 4, NOW, None)
    assert tactical.title == "[SEV1] INC-2026-0007 resolved: toxicity on support-bot"
    assert "after 1 h 35 min: prompt rolled back." in tactical.text and "rollback_prompt — done" in tactical.text
    assert "- rollback_prompt (stabilise): kept" in tactical.text
    assert "- disable_tools (contain): undone — tools enabled" in tactical.text
    assert "## Follow-ups\nRetrospective due by 2026-11-29 12:00 UTC." in tactical.text

    leaders = draft_brief(resolved_state(), 4, NOW, None, "leadership", "executive")
    assert leaders.title.startswith("[SEV1] INC-2026-0007 resolved: toxicity")
    assert "Impact lasted 1 h 35 min" in leaders.text and "Status: resolved 2026-11-27 12:00 UTC" in leaders.text
    assert leaders.text.endswith("## Next\nRetrospective due by 2026-11-29 12:00 UTC.")

    legal = draft_brief(resolved_state(SignalKind.PII_IN_LOGS), 4, NOW, None, "legal", "executive")
    assert "## Data obligations" in legal.text and "notifications owed" in legal.text
    assert "/a/evidence/manifest.json" in legal.text and "Retrospective due by" in legal.text

    public = draft_brief(resolved_state(), 4, NOW, None, "customers", "executive")
    assert public.title.startswith("Resolved: Some answers from our AI assistant")
    assert public.status == IncidentStatus.RESOLVED and "has been resolved" in public.text
    for internal in ("INC-2026-0007", "toxicity", "gpt-4o", "support-answer", "d-123", "ian", "SEV1", "rollback",
                     "disable_tools", "Retrospective"):
        assert internal not in public.text, internal


def test_who_gets_the_closing_brief() -> None:
    config = CommunicateConfig(audiences={
        "responders": Audience(shape="tactical"), "leadership": Audience(shape="executive", every=2),
        "legal": Audience(shape="executive", kinds=[SignalKind.PII_IN_LOGS], final=True),
        "board": Audience(shape="executive", final=True, severities=[Severity.SEV1]),
        "customers": Audience(shape="executive", external=True, severities=[Severity.SEV1]),
        "quiet": Audience(shape="executive", final=False)})
    timeline = ["brief #1 sent to archive", "brief #1 (customers) sent to archive, status",
                "brief #1 (leadership) sent to no channel", "brief #2 (quiet) sent to archive",
                "brief #3 (leadership) not sent: expired"]
    # Briefed ones (customers although the incident is SEV2 now), and `final = true` at its severities and kinds.
    chosen = briefing.closing_audiences(config, Severity.SEV2, SignalKind.TOXICITY, timeline, 3)
    assert list(chosen) == ["responders", "customers"]
    chosen = briefing.closing_audiences(config, Severity.SEV1, SignalKind.PII_IN_LOGS, timeline, 3)
    assert list(chosen) == ["responders", "legal", "board", "customers"]
    assert briefing.closing_audiences(config, Severity.SEV1, SignalKind.TOXICITY, [], 0) == {
        "board": config.audience_map()["board"]}
    assert (briefing.request_id(4, "customers", closing=True), briefing.label(4, "responders", closing=True)) == (
        "brief-final-customers", "final brief")
    assert briefing.is_brief_approval("brief-final") and briefing.is_release("brief-final-customers-release")


def test_statuspage_status_follows_the_incident() -> None:
    page = StatuspageChannel(kind="statuspage", page_id="pg1", component_ids=["c1"],
                             component_status="partial_outage")
    assert [statuspage._fields(page, s, "x")["status"] for s in IncidentStatus] == [
        "investigating", "identified", "monitoring", "resolved", "resolved"]
    assert statuspage._fields(page, IncidentStatus.ACKNOWLEDGED, "x")["components"] == {"c1": "partial_outage"}
    assert statuspage._fields(page, IncidentStatus.RESOLVED, "x")["components"] == {"c1": "operational"}


AUDIENCES = """
[communicate.audiences.responders]
shape = "tactical"
[communicate.audiences.leadership]
shape = "executive"
every = 2
[communicate.audiences.legal]
shape = "executive"
kinds = ["pii_in_logs"]
external = true
[communicate.audiences.customers]
shape = "executive"
channels = ["status"]
external = true
"""


async def test_resolution_sends_the_closing_brief_through_the_gates(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATUSPAGE_KEY", STATUSPAGE_KEY)
    with serving(FakeStatuspage()) as page:
        playbook = write_playbook(tmp_path, f"""
[channels.status]
kind = "statuspage"
page_id = "{page.page_id}"
api_key_env = "STATUSPAGE_KEY"
base_url = "{page.url}/v1"
component_ids = ["cmp1"]
component_status = "degraded_performance"
""" + AUDIENCES)
        async with worker(ts_env.client, task_queue, playbook, home) as ctx:
            handle, state = await open_incident(ts_env, task_queue, Severity.SEV1)
            assert state.acknowledged_at is not None
            await advance_to(ts_env, state.acknowledged_at + timedelta(minutes=31))
            await wait_for(handle, lambda s: pending(s) == ["brief-1", "brief-1-customers", "brief-1-leadership"])
            for rid in ("brief-1", "brief-1-leadership", "brief-1-customers"):
                await approve(handle, rid, "sam", Role.DOMAIN_SME)
            await wait_for(handle, lambda s: "brief-1-customers-release" in pending(s))
            await approve(handle, "brief-1-customers-release", "cat", Role.COMMUNICATIONS)
            await wait_for(handle, lambda s: sent(s, "brief #1") and sent(s, "brief #1 (leadership)")
                           and sent(s, "brief #1 (customers)"))
            assert [m for m, _ in page.calls] == ["POST"]

            await handle.signal(IncidentWorkflow.resolve, RESOLVE)
            # Legal was never briefed (not a data incident): the three others get the closing brief.
            state = await wait_for(handle, lambda s: pending(s) == [
                "brief-final", "brief-final-customers", "brief-final-leadership"])
            assert state.status == IncidentStatus.RESOLVED and state.retrospective_due is not None
            drafts = ctx.store.root / str(state.number) / "briefs"
            tactical = (drafts / "0002-draft.md").read_text()
            assert "resolved" in tactical and "## Follow-ups" in tactical and "Retrospective due by" in tactical
            assert "Impact lasted" in (drafts / "0002-leadership-draft.md").read_text()
            public = (drafts / "0002-customers-draft.md").read_text()
            assert public.startswith("# Resolved: ") and str(state.number) not in public and "toxicity" not in public

            # Nothing public before the SME's approval and the communications release.
            await approve(handle, "brief-final-customers", "sam", Role.DOMAIN_SME)
            await wait_for(handle, lambda s: "brief-final-customers-release" in pending(s))
            assert [m for m, _ in page.calls] == ["POST"]
            await approve(handle, "brief-final-customers-release", "cat", Role.COMMUNICATIONS)
            await wait_for(handle, lambda s: sent(s, "final brief (customers)"))
            assert [m for m, _ in page.calls] == ["POST", "PATCH"]
            (incident,) = page.incidents.values()
            assert incident["status"] == "resolved" and page.statuses(incident) == {"cmp1": "operational"}
            assert "has been resolved" in incident["incident_updates"][0]["body"]  # newest first, as Statuspage lists

            # A retrospective held before the SME decided: the incident closes once the closing brief is done,
            # and takes its approvals until then.
            await handle.signal(IncidentWorkflow.retrospective_done, RETRO)
            state = await wait_for(handle, lambda s: "closing once the final brief is sent or expires" in whats(s))
            assert state.status == IncidentStatus.RESOLVED
            await approve(handle, "brief-final", "sam", Role.DOMAIN_SME)
            await approve(handle, "brief-final-leadership", "sam", Role.DOMAIN_SME)
            state = await wait_for(handle, lambda s: s.status == IncidentStatus.CLOSED)

    assert [w for w in whats(state) if w.startswith("final brief") and " sent to " in w] == [
        "final brief (customers) sent to archive, status", "final brief sent to archive",
        "final brief (leadership) sent to archive"]
    assert state.briefs_sent == 2 and len(page.calls) == 2
    comms = ctx.store.root / str(state.number) / "comms"
    assert (comms / "0002-customers-brief.md").read_text().endswith("_Approved by sam. Released by cat._\n")


async def test_an_unapproved_closing_brief_expires_and_the_review_goes_on(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path) -> None:
    # A long approval window (then as long again for the backup): the closing brief is still waiting at the
    # first retrospective reminder (24 h) and expires after 2 x 20 h = 40 h, before the second one (44 h).
    playbook = write_playbook(tmp_path, """
[communicate]
approval_timeout_minutes = 1200
[communicate.audiences.responders]
shape = "tactical"
""")
    async with worker(ts_env.client, task_queue, playbook, home):
        handle, state = await open_incident(ts_env, task_queue, Severity.SEV1)
        assert state.acknowledged_at is not None
        await advance_to(ts_env, state.acknowledged_at + timedelta(minutes=31))
        await wait_for(handle, lambda s: pending(s) == ["brief-1"])
        await approve(handle, "brief-1", "sam", Role.DOMAIN_SME)
        await wait_for(handle, lambda s: sent(s, "brief #1"))

        await handle.signal(IncidentWorkflow.resolve, RESOLVE)
        state = await wait_for(handle, lambda s: pending(s) == ["brief-final"])
        resolved = state.resolved_at
        assert resolved is not None

        await advance_to(ts_env, resolved + timedelta(hours=24, minutes=1))
        state = await wait_for(handle, lambda s: any(w.startswith("reminder 1") for w in whats(s)))
        assert pending(state) == ["brief-final"]  # the reminder did not wait for the closing brief

        await advance_to(ts_env, resolved + timedelta(hours=40, minutes=1))
        state = await wait_for(handle, lambda s: "final brief not sent: expired" in whats(s))
        request = state.approval("brief-final")
        assert request is not None and request.status == ApprovalStatus.EXPIRED and request.escalated_to == ["cat"]
        assert state.status == IncidentStatus.RESOLVED

        await advance_to(ts_env, resolved + timedelta(hours=44, minutes=1))
        await wait_for(handle, lambda s: any(w.startswith("reminder 2") for w in whats(s)))
        await handle.signal(IncidentWorkflow.retrospective_done, RETRO)
        state = await wait_for(handle, lambda s: s.status == IncidentStatus.CLOSED)
    assert state.briefs_sent == 1 and not any(w.startswith("final brief sent") for w in whats(state))
