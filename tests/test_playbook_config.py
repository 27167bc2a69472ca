"""playbook.toml validation (refused with file, key and reason) and the severity rules. No Temporal here."""

from __future__ import annotations

from pathlib import Path

import pytest

from playbook.config import PlaybookError, load_playbook, parse_playbook
from playbook.models import Severity, SignalKind
from playbook.severity import classify
from tests.support import ROSTER, detection, write_playbook

REPO = Path(__file__).resolve().parent.parent
ACTION = """
[actions.rollback]
kind = "http"
url = "https://control.example/prompts/${known_good_prompt_name}/rollback"
"""


def refused(tmp_path: Path, body: str, roster: str = ROSTER) -> PlaybookError:
    path = write_playbook(tmp_path, body, roster=roster)
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    err = caught.value
    assert err.path == str(path)
    assert str(err) == f"{path}: {err.key}: {err.reason}"
    return err


def test_the_shipped_playbook_and_the_test_roster_load() -> None:
    playbook, digest = load_playbook(REPO / "playbook.toml")
    assert playbook.severity.levels[Severity.SEV1].cadence_minutes == 30
    assert len(digest) == 64
    assert parse_playbook(ROSTER).review.reminder_hours == [24.0, 44.0]


def test_a_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(PlaybookError) as caught:
        load_playbook(tmp_path / "nope.toml")
    assert caught.value.key == "(file)" and "FIREBREAK_PLAYBOOK" in caught.value.reason
    assert str(tmp_path / "nope.toml") in str(caught.value)


def test_bad_toml_syntax(tmp_path: Path) -> None:
    err = refused(tmp_path, '[approvals]\ntimeout_minutes = = 5\n')
    assert err.key == "(syntax)" and err.reason.startswith("not valid TOML")
    assert "line" in err.reason  # where in the file


@pytest.mark.parametrize(("body", "key"), [
    ('[colour]\nname = "red"\n', "colour"),
    ('[approvals]\ntimeout_minuets = 5\n', "approvals.timeout_minuets"),
    ('[roster.people.zoe]\nname = "Zoe"\nroles = ["ai_ops"]\nphone = "555"\n', "roster.people.zoe.phone"),
])
def test_an_unknown_key(tmp_path: Path, body: str, key: str) -> None:
    err = refused(tmp_path, body)
    assert err.key == key and "Extra inputs are not permitted" in err.reason


def test_a_backup_not_on_the_roster(tmp_path: Path) -> None:
    err = refused(tmp_path, "", roster=ROSTER.replace('backup = "cat"', 'backup = "zed"'))
    assert (err.key, err.reason) == ("roster.people.sam.backup", "'zed' is not in roster.people")


def test_a_person_cannot_back_themselves_up(tmp_path: Path) -> None:
    err = refused(tmp_path, "", roster=ROSTER.replace('backup = "cat"', 'backup = "sam"'))
    assert (err.key, err.reason) == ("roster.people.sam.backup", "a person cannot be their own backup")


def test_a_role_nobody_holds(tmp_path: Path) -> None:
    err = refused(tmp_path, "", roster=ROSTER.replace('roles = ["communications", "domain_sme"]',
                                                      'roles = ["domain_sme"]'))
    assert err.key == "roster.people"
    assert err.reason == "nobody holds the role 'communications'; every role needs someone"


def test_an_unknown_role(tmp_path: Path) -> None:
    err = refused(tmp_path, "", roster=ROSTER.replace('roles = ["ai_ops"]', 'roles = ["sre"]'))
    assert err.key == "roster.people.olu.roles.0" and "incident_commander" in err.reason


def test_an_action_a_service_uses_but_nobody_defined(tmp_path: Path) -> None:
    err = refused(tmp_path, ACTION + '[services.support-bot]\nknown_good = { prompt_name = "answer" }\n'
                  'stabilise = ["rollback"]\ncontain = ["purge"]\n')
    assert (err.key, err.reason) == ("services.support-bot.contain", "no action 'purge' in [actions]")


def test_an_approval_policy_for_an_undefined_action(tmp_path: Path) -> None:
    err = refused(tmp_path, '[approvals.actions.purge]\nSEV1 = "auto"\n')
    assert (err.key, err.reason) == ("approvals.actions.purge", "no action 'purge' in [actions]")


def test_an_unknown_template_variable(tmp_path: Path) -> None:
    err = refused(tmp_path, ACTION.replace("${known_good_prompt_name}", "${prompt_nmae}"))
    assert err.key == "actions.rollback.url"
    assert err.reason.startswith("unknown template variable(s) ['prompt_nmae']; known: ")
    err = refused(tmp_path, ACTION + "headers = { X-Incident = \"${incident}\" }\n")
    assert err.key == "actions.rollback.headers.X-Incident"


def test_an_unknown_template_variable_in_manual_instructions(tmp_path: Path) -> None:
    err = refused(tmp_path, '[actions.purge]\nkind = "manual"\ninstructions = "Purge ${cache} for ${service}"\n')
    assert err.key == "actions.purge.instructions" and "['cache']" in err.reason


@pytest.mark.parametrize(("body", "key", "mode"), [
    ('[approvals]\ndefault = "sometimes"\n', "approvals.default", "sometimes"),
    (ACTION + '[approvals.actions.rollback]\nSEV1 = "approve:ceo"\n', "approvals.actions.rollback.SEV1",
     "approve:ceo"),
])
def test_a_bad_policy_string(tmp_path: Path, body: str, key: str, mode: str) -> None:
    err = refused(tmp_path, body)
    assert (err.key, err.reason) == (key, f"'{mode}' is not a policy; use auto, auto_with_notice or approve:<role>")


@pytest.mark.parametrize(("body", "key", "reason"), [
    ('[approvals]\non_expiry = "panic"\n', "approvals.on_expiry", "'skip' or 'proceed'"),
    ('[review]\nreminder_hours = [24, 50]\n', "review", "reminders must come before the deadline"),
    ('[review]\ngive_up_after_hours = 24\n', "review", "must be later than 'deadline_hours'"),
    ('[communicate]\nchannels = ["slack"]\n', "communicate.channels", "no channel 'slack' in [channels]"),
    ('[[severity.rules]]\nseverity = "SEV9"\n', "severity.rules.0.severity", "SEV1"),
    ('[[severity.rules]]\nseverity = "SEV1"\nmetric = "toxicity_p95"\n', "severity.rules.0",
     "give both 'metric' and 'above'"),
    ('[tickets]\nnumber_prefix = "inc"\n', "tickets.number_prefix", "capital letters"),
])
def test_other_bad_values(tmp_path: Path, body: str, key: str, reason: str) -> None:
    err = refused(tmp_path, body)
    assert err.key == key and reason in err.reason


def test_several_problems_are_counted(tmp_path: Path) -> None:
    err = refused(tmp_path, '[approvals]\ndefault = "sometimes"\n[communicate]\nchannels = ["slack"]\n')
    assert err.key == "approvals.default" and err.reason.endswith("(and 1 more problem(s))")


# ---------------------------------------------------------------- severity rules

RULES = ROSTER + """
[[severity.rules]]
kinds = ["toxicity", "hallucination"]
severity = "SEV2"
reason = "guardrail breach"

[[severity.rules]]
kinds = ["toxicity"]
metric = "toxicity_p95"
above = 0.8
severity = "SEV1"
reason = "toxic output at p95 above 0.8"

[[severity.rules]]
services = ["payments-bot"]
severity = "SEV2"

[[severity.rules]]
kinds = ["pii_in_logs"]
severity = "SEV1"
"""


@pytest.mark.parametrize(("overrides", "expected", "why"), [
    ({"metrics": {"toxicity_p95": 0.91}}, Severity.SEV1, "toxic output at p95 above 0.8"),
    ({"metrics": {"toxicity_p95": 0.8}}, Severity.SEV2, "guardrail breach"),  # threshold is strictly above
    ({"metrics": {}}, Severity.SEV2, "guardrail breach"),  # no metric, no metric rule
    ({"kind": SignalKind.HALLUCINATION, "metrics": {"toxicity_p95": 0.99}}, Severity.SEV2, "guardrail breach"),
    ({"kind": SignalKind.LATENCY_SPIKE, "metrics": {}}, Severity.SEV3, "playbook default"),
    ({"kind": SignalKind.LATENCY_SPIKE, "services": ["search", "payments-bot"]}, Severity.SEV2, "severity.rules[2]"),
    ({"kind": SignalKind.PII_IN_LOGS}, Severity.SEV1, "severity.rules[3]"),
])
def test_the_most_severe_matching_rule_wins(overrides: dict[str, object], expected: Severity, why: str) -> None:
    assert classify(detection(**overrides), parse_playbook(RULES)) == (expected, why)


def test_a_source_hint_may_raise_the_severity_but_never_lower_it() -> None:
    playbook = parse_playbook(RULES)
    latency = detection(kind=SignalKind.LATENCY_SPIKE, metrics={}, source="grafana")
    assert classify(latency.model_copy(update={"severity_hint": Severity.SEV1}), playbook) == (
        Severity.SEV1, "severity hint from grafana")
    pii = detection(kind=SignalKind.PII_IN_LOGS, severity_hint=Severity.SEV4)
    assert classify(pii, playbook) == (Severity.SEV1, "severity.rules[3]")


def test_a_playbook_may_ignore_source_hints() -> None:
    playbook = parse_playbook(RULES + '[severity]\ndefault = "SEV4"\ntrust_source_hint = false\n')
    latency = detection(kind=SignalKind.LATENCY_SPIKE, metrics={}, severity_hint=Severity.SEV1)
    assert classify(latency, playbook) == (Severity.SEV4, "playbook default")


@pytest.mark.parametrize(("metrics", "expected"), [
    ({"looping_traces": 12.0}, Severity.SEV2),
    ({"looping_traces": 3.0}, Severity.SEV3),
    ({"looping_traces": 1.0, "cost_per_minute_usd": 7.5}, Severity.SEV2),  # an alert source that measures spend
])
def test_the_shipped_playbook_rates_agent_loops_by_reach_or_spend(metrics: dict[str, float],
                                                                 expected: Severity) -> None:
    playbook, _ = load_playbook(REPO / "playbook.toml")
    loop = detection(kind=SignalKind.AGENT_LOOP, metrics=metrics, severity_hint=None)
    assert classify(loop, playbook)[0] == expected
