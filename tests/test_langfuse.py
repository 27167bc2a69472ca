"""The Langfuse adapter over the real langfuse 5 SDK, against the fake server on 127.0.0.1: prompt rollback
(label move, read-back verification, idempotency), the run_action and collect_evidence activities, and the
blast-window pull with redaction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.actions import ActionActivities
from activities.context import ActivityContext
from activities.investigate import InvestigateActivities
from integrations.artefacts import ArtefactStore
from integrations.langfuse.client import LangfuseRejected, LangfuseVerificationError, client_for
from integrations.langfuse.evidence import collect_langfuse_evidence
from integrations.langfuse.prompts import resolve_rollback, rollback_prompt
from playbook.config import EvidenceSource, LangfuseConnection, LangfusePromptRollbackAction, PlaybookError
from playbook.messages import ActionRun, EvidenceInput
from playbook.models import Step
from tests.fake_langfuse import FakeLangfuse, fake_langfuse
from tests.support import ROSTER, detection

PROMPT = "support/answer"  # a folder prompt: the SDK percent-encodes the "/"
KNOWN_GOOD: dict[str, str | int | None] = {"known_good_prompt_name": PROMPT, "known_good_prompt_version": 2,
                                           "service": "support-bot"}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLangfuse]:
    with fake_langfuse(monkeypatch) as server:
        for text in ("v1", "v2 known good", "v3 bad"):
            server.add_prompt(PROMPT, text, ["production"])
        yield server


def test_rollback_moves_the_label_off_every_other_version_and_verifies(fake: FakeLangfuse) -> None:
    assert fake.label_versions(PROMPT, "production") == [3]
    result = rollback_prompt(client_for(LangfuseConnection(base_url=fake.url)), PROMPT, 2)
    assert (result.previous_version, result.version, result.moved) == (3, 2, True)
    assert fake.label_versions(PROMPT, "production") == [2]
    assert fake.label_versions(PROMPT, "latest") == [3]
    calls = [(r["method"], r["path"], r["query"], r["body"]) for r in fake.requests]
    assert calls == [
        ("GET", "/api/public/v2/prompts/support%2Fanswer", {"label": "production"}, None),
        ("PATCH", "/api/public/v2/prompts/support%2Fanswer/versions/2", {}, {"newLabels": ["production"]}),
        ("GET", "/api/public/v2/prompts/support%2Fanswer", {"label": "production"}, None),
    ]
    assert "from version 3 to version 2 (verified)" in result.detail


def test_rollback_is_idempotent(fake: FakeLangfuse) -> None:
    client = client_for(LangfuseConnection(base_url=fake.url))
    rollback_prompt(client, PROMPT, 2)
    again = rollback_prompt(client, PROMPT, 2)
    assert (again.previous_version, again.moved) == (2, False)
    assert [r["method"] for r in fake.requests].count("PATCH") == 1
    assert fake.label_versions(PROMPT, "production") == [2]
    assert "already on version 2 (verified)" in again.detail


def test_a_label_that_does_not_move_fails_verification(fake: FakeLangfuse) -> None:
    fake.ignore_label_moves = True
    with pytest.raises(LangfuseVerificationError, match="reading it back shows it on version 3"):
        rollback_prompt(client_for(LangfuseConnection(base_url=fake.url)), PROMPT, 2)


def test_unknown_version_bad_keys_and_missing_keys_are_rejected(fake: FakeLangfuse,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(LangfuseRejected, match="no such prompt or version"):
        rollback_prompt(client_for(LangfuseConnection(base_url=fake.url)), PROMPT, 9)
    monkeypatch.setenv("OTHER_PK", "pk-lf-wrong-" + fake.public_key)
    monkeypatch.setenv("OTHER_SK", "sk-lf-wrong")
    wrong = LangfuseConnection(base_url=fake.url, public_key_env="OTHER_PK", secret_key_env="OTHER_SK")
    with pytest.raises(LangfuseRejected, match="refused the keys"):
        rollback_prompt(client_for(wrong), PROMPT, 2)
    monkeypatch.delenv("OTHER_SK")
    with pytest.raises(LangfuseRejected, match="set the environment variable"):
        client_for(wrong)


def test_the_action_resolves_known_good_and_says_what_is_missing() -> None:
    action = LangfusePromptRollbackAction()
    assert resolve_rollback(action, KNOWN_GOOD) == (PROMPT, 2)
    with pytest.raises(LangfuseRejected, match="set known_good.prompt_version"):
        resolve_rollback(action, {**KNOWN_GOOD, "known_good_prompt_version": None})
    with pytest.raises(LangfuseRejected, match="set known_good.prompt_name"):
        resolve_rollback(action, {})


def _run(fake: FakeLangfuse, tmp_path: Path, **fields: object) -> tuple[ActivityContext, ActionRun]:
    ctx = ActivityContext(store=ArtefactStore(tmp_path / "artefacts"), playbook_path=tmp_path / "playbook.toml")
    action = LangfusePromptRollbackAction(base_url=fake.url, **fields)  # type: ignore[arg-type]
    return ctx, ActionRun(key="wf/INC-1/stabilise/rollback", incident_number="INC-1", step=Step.STABILISE,
                          name="rollback", action=action, variables=KNOWN_GOOD)


def test_run_action_rolls_back_and_records(fake: FakeLangfuse, tmp_path: Path) -> None:
    ctx, run = _run(fake, tmp_path)
    result = ActivityEnvironment().run(ActionActivities(ctx).run_action, run)
    assert result.ok and "to version 2 (verified)" in result.detail
    again = ActivityEnvironment().run(ActionActivities(ctx).run_action, run)  # a retry after a lost reply
    assert again.ok and "already on version 2" in again.detail
    lines = (tmp_path / "artefacts" / "INC-1" / "actions.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["previous_version"] == 3


def test_run_action_failed_verification_is_non_retryable(fake: FakeLangfuse, tmp_path: Path) -> None:
    fake.ignore_label_moves = True
    ctx, run = _run(fake, tmp_path)
    with pytest.raises(ApplicationError) as caught:
        ActivityEnvironment().run(ActionActivities(ctx).run_action, run)
    assert caught.value.non_retryable and caught.value.type == "LangfuseVerificationError"
    assert "check the prompt in Langfuse" in caught.value.message


def test_run_action_unreachable_langfuse_is_retryable(fake: FakeLangfuse, tmp_path: Path) -> None:
    ctx, run = _run(fake, tmp_path)
    fake.server.shutdown()
    fake.server.server_close()
    with pytest.raises(ApplicationError) as caught:
        ActivityEnvironment().run(ActionActivities(ctx).run_action, run)
    assert not caught.value.non_retryable and caught.value.type == "LangfuseUnavailable"


# ---------------------------------------------------------------------------------------------- playbook


def _parse(body: str) -> None:
    from playbook.config import parse_playbook
    parse_playbook(ROSTER + "\n" + body)


def test_playbook_accepts_the_new_kinds_and_refuses_mistakes() -> None:
    _parse('[actions.rb]\nkind = "langfuse_prompt_rollback"\n'
           '[evidence.lf]\nkind = "langfuse"\ntrace_name = "${service}"\nscore_names = ["toxicity"]\n')
    with pytest.raises(PlaybookError, match="'latest' is managed by Langfuse"):
        _parse('[actions.rb]\nkind = "langfuse_prompt_rollback"\nlabel = "latest"\n')
    with pytest.raises(PlaybookError, match=r"actions.rb.prompt_name: unknown template variable"):
        _parse('[actions.rb]\nkind = "langfuse_prompt_rollback"\nprompt_name = "${nope}"\n')
    with pytest.raises(PlaybookError, match=r"evidence.lf: unknown template variable"):
        _parse('[evidence.lf]\nkind = "langfuse"\ntags = ["${nope}"]\n')
    with pytest.raises(PlaybookError, match=r"\['score_names'\] only apply to kind"):
        _parse('[evidence.log]\nkind = "file"\npath = "/tmp/x"\nscore_names = ["toxicity"]\n')
    with pytest.raises(PlaybookError, match="public_key"):
        _parse('[actions.rb]\nkind = "langfuse_prompt_rollback"\npublic_key = "pk-lf-123"\n')


# ---------------------------------------------------------------------------------------------- evidence

PII = ["jane.doe@example.com", "+44 20 7946 0958", "4111 1111 1111 1111", "sk-proj-AbCdEf0123456789xyzXYZ",
       "AKIAIOSFODNN7EXAMPLE"]


def _seed_traces(fake: FakeLangfuse, detected: datetime) -> None:
    inside = detected - timedelta(minutes=10)
    for i in range(130):  # more than one page of 100
        fake.add_observation(trace_id=f"{i:032x}", start=inside + timedelta(seconds=i), user_id=f"user-{i % 7}",
                             session_id=f"sess-{i % 13}", tags=["prod"], name="support-answer",
                             input=f"I am {PII[0]}, call me on {PII[1]}", output=f"card {PII[2]} key {PII[3]}")
        fake.add_observation(trace_id=f"{i:032x}", start=inside + timedelta(seconds=i), root=False,
                             input="child span", output=PII[4])
    fake.add_observation(trace_id="f" * 32, start=detected - timedelta(hours=3), tags=["prod"])   # before window
    fake.add_observation(trace_id="e" * 32, start=inside, tags=["staging"])                       # other tag
    fake.add_observation(trace_id="d" * 32, start=inside, name="other-bot", tags=["prod"])         # other trace
    for i in range(3):
        fake.add_score(name="toxicity", value=0.9 - i / 10, when=inside, trace_id=f"{i:032x}",
                       comment=f"flagged {PII[0]}")
    fake.add_score(name="helpfulness", value=0.1, when=inside, trace_id="0" * 32)


def test_blast_window_pull_pages_filters_and_redacts(fake: FakeLangfuse) -> None:
    detected = datetime.now(UTC) - timedelta(minutes=1)
    _seed_traces(fake, detected)
    source = EvidenceSource(kind="langfuse", base_url=fake.url, trace_name="${service}", tags=["prod"],
                            score_names=["toxicity"], lookback_minutes=60)
    _, parts = collect_langfuse_evidence(source, {"service": "support-answer"}, detected)
    radius = json.loads(parts["blast_radius.json"])
    assert (radius["traces_affected"], radius["users_affected"], radius["sessions_affected"]) == (130, 7, 13)
    assert radius["truncated"] is False
    assert radius["scores"] == {"toxicity": {"count": 3, "max": 0.9, "mean": 0.8}}
    assert radius["redactions"] == {"CARD": 130, "EMAIL": 133, "PHONE": 130, "SECRET": 130}
    observations = json.loads(parts["observations.json"])["observations"]
    assert len(observations) == 130 and all(o["isRootObservation"] for o in observations)
    assert observations[0]["input"] == "I am [REDACTED:EMAIL], call me on [REDACTED:PHONE]"
    pages = [r for r in fake.requests if r["path"] == "/api/public/v2/observations"]
    assert len(pages) == 2 and "cursor" in pages[1]["query"]
    flt = json.loads(pages[0]["query"]["filter"])
    assert {"type": "string", "column": "traceName", "operator": "=", "value": "support-answer"} in flt
    scores_call = next(r for r in fake.requests if r["path"] == "/api/public/v3/scores")
    assert scores_call["query"]["name"] == "toxicity" and scores_call["query"]["limit"] == "100"

    capped = source.model_copy(update={"max_observations": 50})
    _, parts = collect_langfuse_evidence(capped, {"service": "support-answer"}, detected)
    assert json.loads(parts["blast_radius.json"])["traces_affected"] == 50
    assert json.loads(parts["blast_radius.json"])["truncated"] is True


def test_langfuses_own_ids_are_kept_even_when_they_look_like_card_numbers(fake: FakeLangfuse) -> None:
    """A span id is 16 random hex digits; about one in 18,000 is 16 decimal digits passing the Luhn check, which
    the redactor takes for a card number. The pack keeps Langfuse's identifiers; everything else is redacted as
    before, an identifier that is not of a generated form too."""
    detected = datetime.now(UTC) - timedelta(minutes=1)
    digits = "2599087863874301"  # a span id uuid4().hex[:16] produced, Luhn-valid
    span = fake.add_observation(trace_id="1" * 32, start=detected - timedelta(minutes=5), tags=["prod"],
                                input=f"card {PII[2]}")
    span["id"] = digits
    legacy = fake.add_observation(trace_id=PII[0], start=detected - timedelta(minutes=4), tags=["prod"])
    fake.add_score(name="toxicity", value=0.9, when=detected - timedelta(minutes=5), trace_id="1" * 32)
    fake.scores[-1]["id"] = "4111111111111111"
    source = EvidenceSource(kind="langfuse", base_url=fake.url, tags=["prod"], score_names=["toxicity"])
    _, parts = collect_langfuse_evidence(source, {"service": "support-answer"}, detected)
    observations = {o["traceId"]: o for o in json.loads(parts["observations.json"])["observations"]}
    assert observations["1" * 32]["id"] == digits and observations["1" * 32]["input"] == "card [REDACTED:CARD]"
    assert "[REDACTED:EMAIL]" in observations and observations["[REDACTED:EMAIL]"]["id"] == legacy["id"]
    assert json.loads(parts["scores.json"])["scores"][0]["id"] == "4111111111111111"
    assert json.loads(parts["blast_radius.json"])["redactions"] == {"CARD": 1, "EMAIL": 1}


def test_collect_evidence_never_writes_raw_pii(fake: FakeLangfuse, tmp_path: Path) -> None:
    detected = datetime.now(UTC) - timedelta(minutes=1)
    _seed_traces(fake, detected)
    ctx = ActivityContext(store=ArtefactStore(tmp_path / "artefacts"), playbook_path=tmp_path / "playbook.toml")
    sources = {"langfuse": EvidenceSource(kind="langfuse", base_url=fake.url, tags=["prod"],
                                          score_names=["toxicity"]),
               "broken": EvidenceSource(kind="langfuse", base_url=fake.url, public_key_env="NO_SUCH_VAR")}
    pack = ActivityEnvironment().run(InvestigateActivities(ctx).collect_evidence, EvidenceInput(
        incident_number="INC-7", workflow_id="incident-x", detection=detection(detected_at=detected),
        sources=sources, variables={"service": "support-bot"}))
    names = {i.name: i for i in pack.items}
    assert {"langfuse.observations.json", "langfuse.scores.json", "langfuse.blast_radius.json"} <= set(names)
    assert names["broken"].error is not None and "NO_SUCH_VAR" in names["broken"].error
    for item in pack.items:
        if item.path:
            assert item.sha256 and len(item.sha256) == 64
    written = [p for p in (tmp_path / "artefacts").rglob("*") if p.is_file()]
    assert len(written) >= 5
    for path in written:
        text = path.read_text(encoding="utf-8", errors="replace")
        for raw in PII:
            assert raw not in text, f"{raw} reached {path}"
    radius = json.loads((tmp_path / "artefacts" / "INC-7" / "evidence" / "langfuse.blast_radius.json").read_text())
    assert radius["traces_affected"] == 131  # no trace-name filter: the other bot counts, staging does not
    summary = names["langfuse.blast_radius.json"].summary
    assert summary == (f"blast radius: 131 trace(s), {radius['users_affected']} user(s), "
                       f"{radius['sessions_affected']} session(s) in the window")
