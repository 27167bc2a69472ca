"""Brief templates per audience and shape, the [communicate] audiences and channels, and which audiences a tick
briefs. No Temporal here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from playbook.briefs import draft_brief
from playbook.config import Playbook, PlaybookError, load_playbook
from playbook.models import IncidentStatus, MitigationRecord, Severity, SignalKind, Step
from playbook.state import IncidentState
from tests.conftest import REPO
from tests.support import detection, write_playbook
from workflows import briefing

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def state(kind: SignalKind = SignalKind.TOXICITY) -> IncidentState:
    s = IncidentState(workflow_id="incident-x", number="INC-2026-0007", severity=Severity.SEV1,
                      status=IncidentStatus.ACKNOWLEDGED, step=Step.CONTAIN, acknowledged_by="ian",
                      detection=detection(kind=kind, model="gpt-4o", prompt_name="support-answer", prompt_version=13,
                                          detected_at=NOW - timedelta(minutes=40)),
                      alert_count=3, evidence_manifest="/artefacts/INC-2026-0007/evidence/manifest.json")
    s.mitigations.append(MitigationRecord(step=Step.STABILISE, action="rollback_prompt", outcome="done",
                                          detail="confirmed by a person", at=NOW))
    return s


def test_each_audience_gets_its_own_brief() -> None:
    due = NOW + timedelta(minutes=30)
    responders = draft_brief(state(), 2, NOW, due)
    assert responders.title == "[SEV1] INC-2026-0007 update #2: toxicity on support-bot"
    assert "toxicity_p95=0.91" in responders.text and "d-123" in responders.text and "ian" in responders.text
    assert "rollback_prompt — done" in responders.text and "2026-11-27 12:30 UTC" in responders.text

    leaders = draft_brief(state(), 2, NOW, due, "leadership", "executive")
    assert leaders.title.startswith("[SEV1] INC-2026-0007 executive update #2") and leaders.audience == "leadership"
    assert "## Business impact and risk" in leaders.text and "reputation" in leaders.text
    assert "toxicity_p95" not in leaders.text and "1 mitigation(s) in place: rollback prompt." in leaders.text

    legal = draft_brief(state(SignalKind.PII_IN_LOGS), 2, NOW, due, "legal", "executive")
    assert "legal update" in legal.title and "notification obligations" in legal.text
    assert "evidence/manifest.json" in legal.text

    public = draft_brief(state(), 2, NOW, due, "customers", "executive")
    assert public.title == ("We are investigating and working on a fix for some answers from our AI assistant that "
                            "did not meet our quality and safety standards")
    for internal in ("INC-2026-0007", "toxicity", "gpt-4o", "support-answer", "d-123", "ian", "SEV1", "rollback"):
        assert internal not in public.text, internal


def test_an_audience_without_a_template_of_its_shape_gets_the_general_one() -> None:
    board = draft_brief(state(), 1, NOW, None, "board", "executive")
    assert "executive update #1 (board)" in board.title and "## Business impact and risk" in board.text
    tactical_leaders = draft_brief(state(), 1, NOW, None, "leadership", "tactical")
    assert "(leadership)" in tactical_leaders.title and "toxicity_p95=0.91" in tactical_leaders.text


def test_which_audiences_a_tick_briefs() -> None:
    pb, _ = load_playbook(REPO / "playbook.toml")
    names = {(sev, kind, seq): list(briefing.due(pb.communicate, sev, kind, seq))
             for sev in (Severity.SEV1, Severity.SEV3) for kind in (SignalKind.TOXICITY, SignalKind.PII_IN_LOGS)
             for seq in (1, 2, 3)}
    assert names[Severity.SEV1, SignalKind.TOXICITY, 1] == ["responders", "leadership", "customers"]
    assert names[Severity.SEV1, SignalKind.TOXICITY, 2] == ["responders", "customers"]
    assert names[Severity.SEV1, SignalKind.PII_IN_LOGS, 3] == ["responders", "leadership", "legal", "customers"]
    assert names[Severity.SEV3, SignalKind.PII_IN_LOGS, 1] == ["responders"]
    assert [briefing.request_id(3, a) for a in ("responders", "legal")] == ["brief-3", "brief-3-legal"]
    assert briefing.is_brief_approval("brief-3-legal") and not briefing.is_brief_approval("brief-3-legal-release")


def test_without_audiences_the_responders_get_the_old_channels(tmp_path: Path) -> None:
    pb, _ = load_playbook(write_playbook(tmp_path, '[channels.hook]\nurl = "http://127.0.0.1:9/x"\n'
                                                   '[communicate]\nchannels = ["hook"]\n'))
    assert pb.communicate.audiences is None
    assert {n: (a.shape, a.channels) for n, a in pb.communicate.audience_map().items()} == {
        "responders": ("tactical", ["hook"])}
    # The snapshot the workflow carries round-trips unchanged (the default is not written into it).
    assert Playbook.model_validate_json(pb.model_dump_json()).communicate == pb.communicate


@pytest.mark.parametrize(("body", "key", "reason"), [
    ('[channels.sp]\nkind = "statuspage"\npage_id = "p"\n[communicate.audiences.customers]\nshape = "executive"\n'
     'channels = ["sp"]\n', "communicate.audiences.customers", "set external = true"),
    ('[channels.h]\nurl = "http://x"\n[communicate]\nchannels = ["h"]\n[communicate.audiences.responders]\n'
     'shape = "tactical"\n', "communicate.channels", "in each audience's 'channels'"),
    ('[channels.sp]\nkind = "statuspage"\npage_id = "p"\n[communicate]\nnotify_channels = ["sp"]\n',
     "communicate.notify_channels", "go to webhook or slack_webhook or slack or email or teams channels"),
    ('[channels.h]\nurl = "http://x"\n[communicate]\napproval_channels = ["h"]\n', "communicate.approval_channels",
     "not a kind = \"slack\" channel"),
    ('[channels.s]\nkind = "slack_webhook"\n', "channels.s.slack_webhook", "give 'url' or 'url_env'"),
    ('[channels.sp]\nkind = "statuspage"\npage_id = "p"\n[communicate.audiences.customers]\nshape = "executive"\n'
     'channels = ["sp"]\nexternal = true\n[communicate.audiences.legal]\nshape = "executive"\nchannels = ["sp"]\n'
     'external = true\n', "communicate.audiences.legal", "already the customers audience's"),
    ('[communicate.audiences.Board]\nshape = "executive"\n', "communicate.audiences.Board", "lower-case"),
    ('[communicate.audiences.legal]\nshape = "executive"\nchannels = ["nope"]\n',
     "communicate.audiences.legal.channels", "no channel 'nope'"),
])
def test_bad_communicate_settings_are_refused(tmp_path: Path, body: str, key: str, reason: str) -> None:
    with pytest.raises(PlaybookError) as caught:
        load_playbook(write_playbook(tmp_path, body))
    assert caught.value.key == key and reason in caught.value.reason, caught.value
