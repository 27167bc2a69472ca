"""Review that learns: every resolved incident lands in the risk register; `firebreak report` reads the figures."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from playbook.atlas import ATLAS_TACTICS, ATLAS_TECHNIQUES
from playbook.models import Resolution, RetrospectiveNotes, RiskAssessment, Role, Severity, SignalKind
from playbook.retrospective import retrospective_record
from playbook.risk import atlas_for
from playbook.state import IncidentState
from tests.behaviour import (  # noqa: F401  (terminate_leftovers is an autouse fixture)
    approve_briefs_until,
    open_incident,
    terminate_leftovers,
    worker,
)
from tests.support import decision, detection, wait_for, write_playbook
from workflows.incident import IncidentWorkflow

FIREBREAK = str(Path(sys.executable).parent / "firebreak")
PLAYBOOK = """
[actions.purge_caches]
kind = "manual"
instructions = "Purge ${service} caches"
[services."*"]
contain = ["purge_caches"]
"""


def firebreak(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FIREBREAK, *args], env={**os.environ, "FIREBREAK_HOME": str(home)}, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


async def test_register_entry_and_figures(ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                                          home: Path) -> None:
    async with worker(ts_env.client, task_queue, write_playbook(tmp_path, PLAYBOOK), home) as ctx:
        handle, state = await open_incident(ts_env, task_queue, severity=Severity.SEV1, kind="pii_in_logs",
                                            services=["search-api"])
        number = str(state.number)
        await wait_for(handle, lambda s: bool(s.pending_approvals()))
        await ts_env.sleep(timedelta(minutes=4))  # the approval waits four minutes
        await handle.signal(IncidentWorkflow.approve, decision("contain-1", "olu", Role.AI_OPS))
        assert state.acknowledged_at is not None
        await approve_briefs_until(handle, ts_env, state.acknowledged_at + timedelta(minutes=65))
        await handle.signal(IncidentWorkflow.resolve, Resolution(by="ian", role=Role.INCIDENT_COMMANDER))
        await wait_for(handle, lambda s: s.retrospective_path is not None)

        register = ctx.store.root / "_risk_register" / f"{number}.json"
        draft = json.loads(register.read_text())
        assert draft["root_cause"] is None and draft["owasp_llm"] == ["LLM02"]
        assert draft["nist_ai_600_1"] == ["Data Privacy"] and draft["harm_severity"] == "critical"
        assert draft["mitre_atlas"] == ["AML.T0057"]  # LLM Data Leakage, the kind's default

        await handle.signal(IncidentWorkflow.retrospective_done, RetrospectiveNotes(
            by="ian", role=Role.INCIDENT_COMMANDER, root_cause="debug logging of request bodies",
            risk=RiskAssessment(owasp_llm=["LLM02", "LLM07"], mitre_atlas=["AML.T0057", "AML.T0024"],
                                notes="prompt echoed into logs")))
        await handle.result()

    entry = json.loads(register.read_text())
    assert entry["root_cause"] == "debug logging of request bodies" and entry["owasp_llm"] == ["LLM02", "LLM07"]
    assert entry["nist_ai_600_1"] == ["Data Privacy"] and entry["retrospective"].endswith("retrospective.md")
    assert "OWASP LLM Top 10: LLM02, LLM07" in (ctx.store.root / str(number) / "retrospective.md").read_text()
    assert entry["mitre_atlas"] == ["AML.T0057", "AML.T0024"]
    assert "MITRE ATLAS: AML.T0057, AML.T0024" in (ctx.store.root / str(number) / "retrospective.md").read_text()

    listed = json.loads(firebreak(home, "risks", "--json").stdout)
    assert [e["incident"] for e in listed] == [number]
    assert json.loads(firebreak(home, "risks", "--json", "--owasp", "LLM07").stdout)[0]["incident"] == number
    assert json.loads(firebreak(home, "risks", "--json", "--kind", "toxicity").stdout) == []
    assert json.loads(firebreak(home, "risks", "--json", "--atlas", "AML.T0024").stdout)[0]["incident"] == number
    assert number in firebreak(home, "risks").stdout

    figures = json.loads(firebreak(home, "report", "--json").stdout)
    assert figures["incidents"] == 1
    assert figures["cadence"]["briefs_due"] == 2 and figures["cadence"]["briefs_sent"] == 2
    assert figures["cadence"]["on_time_share"] == 1.0
    assert figures["approval_minutes"]["n"] == 3  # the purge confirmation and two briefs
    assert figures["approval_minutes"]["max"] >= 4.0
    assert set(figures["minutes_per_step"]) >= {"detect", "contain"}
    text = firebreak(home, "report").stdout
    assert "time to resolve by incident" in text and f"{number}  #" in text


def test_unknown_taxonomy_values_are_refused() -> None:
    with pytest.raises(ValidationError, match="LLM11"):
        RiskAssessment(owasp_llm=["LLM11"])
    with pytest.raises(ValidationError, match="Confabulations"):
        RiskAssessment(nist_ai_600_1=["Confabulations"])
    with pytest.raises(ValidationError, match=r"AML.T9999.*ATLAS 5.6.0"):
        RiskAssessment(mitre_atlas=["AML.T9999"])
    with pytest.raises(ValidationError, match="AML.TA0002"):  # a tactic is not a technique
        RiskAssessment(mitre_atlas=["AML.TA0002"])


def test_the_vendored_atlas_list_is_the_release_and_the_defaults_are_in_it() -> None:
    assert sorted(ATLAS_TACTICS) == [f"AML.TA{n:04d}" for n in range(16)]  # 16 tactics since ATLAS 5.1.0
    assert all(re.fullmatch(r"AML\.T\d{4}(\.\d{3})?", t) for t in ATLAS_TECHNIQUES) and len(ATLAS_TECHNIQUES) == 170
    assert ATLAS_TECHNIQUES["AML.T0051"] == "LLM Prompt Injection"
    assert ATLAS_TECHNIQUES["AML.T0057"] == "LLM Data Leakage"
    defaults = [t for kind in SignalKind for t in atlas_for(kind, None)]
    assert defaults and set(defaults) <= set(ATLAS_TECHNIQUES)


def test_report_and_risks_with_nothing_yet(tmp_path: Path) -> None:
    assert "no resolved incidents" in firebreak(tmp_path, "report").stdout
    assert "the risk register is empty" in firebreak(tmp_path, "risks").stdout


def test_retrospective_impact_adds_up_the_reach_of_every_blast_radius() -> None:
    state = IncidentState(workflow_id="incident-x", number="INC-2026-0100", detection=detection())
    reach = [{"traces_affected": 3, "users_affected": 2, "sessions_affected": 2},
             {"traces_affected": 1, "users_affected": 1, "sessions_affected": 0}]
    impact = retrospective_record(state, final=False, blast_radius=reach)["impact"]
    assert (impact["traces_affected"], impact["users_affected"], impact["sessions_affected"]) == (4, 3, 2)
    assert retrospective_record(state, final=False)["impact"]["traces_affected"] is None


def test_cadence_figures_count_each_audiences_brief_once() -> None:
    from playbook.figures import brief_delays

    def line(minute: int, what: str) -> dict[str, str]:
        return {"step": "communicate", "at": f"2026-11-27T10:{minute:02d}:00+00:00", "what": what}

    timeline = [line(0, "brief #1 drafted"), line(0, "brief #1 (leadership) drafted"),
                line(4, "brief #1 sent to archive, ops_room"), line(20, "brief #1 (leadership) sent to mail"),
                line(30, "brief #2 drafted"), line(31, "brief #2 not sent: rejected"),
                line(30, "brief #2 (leadership) drafted"), line(40, "brief #2 (leadership) sent to no channel")]
    due, delays = brief_delays(timeline)
    assert (due, delays) == (4, [4.0, 20.0])  # leadership's brief #1 is not counted as a second responders' one
