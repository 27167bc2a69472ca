"""Remediation and resolution: a prompt patch as a Langfuse candidate promoted only after approval, the undo
registry (keep or undo each mitigation at resolution), and the promptfoo regression gate on resolution.

Real components: the time-skipping Temporal server, the real langfuse SDK against tests/fake_langfuse.py, and
the real promptfoo CLI (installed by `make`) as a subprocess against a candidate endpoint on 127.0.0.1.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from client.actions import wait_outcome
from playbook.models import HumanAction, Resolution, Role, Severity, SignalKind
from tests.behaviour import open_incident, read_jsonl, terminate_leftovers, whats, worker  # noqa: F401
from tests.fake_langfuse import fake_langfuse
from tests.support import decision, human, recorder, serving, wait_for, write_playbook
from workflows.incident import IncidentWorkflow

PROMPT = "support/answer"

PATCH_PLAYBOOK = """
[actions.rollback_prompt]
kind = "langfuse_prompt_rollback"
base_url = "{url}"
[actions.patch_prompt]
kind = "langfuse_prompt_patch"
base_url = "{url}"
text_file = "patch-${{service}}.txt"
[actions.route_to_human_fallback]
kind = "manual"
instructions = "Route ${{service}} to humans."
[approvals.actions.rollback_prompt]
SEV2 = "auto"
[approvals.actions.route_to_human_fallback]
SEV2 = "approve:ai_ops"
[approvals.actions.patch_prompt]
SEV2 = "approve:ai_ops"
[services.support-bot]
known_good = {{ prompt_name = "{prompt}", prompt_version = 1 }}
stabilise = ["rollback_prompt", "route_to_human_fallback"]
remediate = ["patch_prompt"]
"""


async def resolve(handle: WorkflowHandle[Any, Any], **choices: Any) -> tuple[bool, str]:
    """Resolve as ian and read back what the incident made of it."""
    action = Resolution(by="ian", role=Role.INCIDENT_COMMANDER, action_id=str(uuid.uuid4()), comment="fixed",
                        **choices)
    await handle.signal(IncidentWorkflow.resolve, action)
    outcome = await wait_outcome(handle, action.action_id, 20)
    assert outcome is not None
    return outcome.accepted, outcome.message


async def test_a_patch_is_a_candidate_until_approved_and_undo_moves_the_label_back(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_langfuse(monkeypatch) as fake:
        fake.add_prompt(PROMPT, "known good", ["production"])
        fake.add_prompt(PROMPT, "the regression", ["production"])
        fake.lose_create_answers = 1  # the first creation is stored, but its answer never arrives
        playbook = write_playbook(tmp_path, PATCH_PLAYBOOK.format(url=fake.url, prompt=PROMPT))
        (tmp_path / "patch-support-bot.txt").write_text("known good, and never insult anyone", encoding="utf-8")
        async with worker(ts_env.client, task_queue, playbook, home):
            handle, _ = await open_incident(ts_env, task_queue, Severity.SEV2)
            state = await wait_for(handle, lambda s: any(a.request_id == "stabilise-1" for a in s.approvals))
            assert fake.label_versions(PROMPT, "production") == [1]  # the automatic rollback
            await handle.signal(IncidentWorkflow.approve, decision("stabilise-1", "olu", Role.AI_OPS, "routed"))

            state = await wait_for(handle, lambda s: any(a.subject.startswith("promote patch_prompt")
                                                         for a in s.pending_approvals()))
            gate = state.pending_approvals()[0]
            assert gate.role == Role.AI_OPS and "candidate version 3" in gate.subject
            # The retried creation found its version by the incident's key: one POST, no fourth version.
            assert [r["method"] for r in fake.requests if r["path"] == "/api/public/v2/prompts"].count("POST") == 1
            assert [p["version"] for p in fake.prompts[PROMPT]] == [1, 2, 3]
            assert f"[{handle.id}/" in fake.prompts[PROMPT][2]["commitMessage"]
            # A candidate only: production stays on the rollback until someone approves.
            assert fake.label_versions(PROMPT, "candidate") == [3]
            assert fake.label_versions(PROMPT, "production") == [1]

            await handle.signal(IncidentWorkflow.approve, decision(gate.request_id, "olu", Role.AI_OPS, "looks right"))
            state = await wait_for(handle, lambda s: s.status.value == "monitoring")
            assert fake.label_versions(PROMPT, "production") == [3]
            assert [(m.name, m.undo.description if m.undo else None) for m in state.in_place] == [
                ("rollback_prompt", f"move production of {PROMPT} back to version 2"),
                ("route_to_human_fallback", None),
                ("patch_prompt", f"move production of {PROMPT} back to version 1")]

            accepted, message = await resolve(handle, undo=["route_to_human_fallback"])
            assert not accepted and "route_to_human_fallback has no undo configured" in message
            accepted, message = await resolve(handle, undo=["rollback"])
            assert not accepted and "no mitigation in place named rollback" in message

            accepted, _ = await resolve(handle, keep=["rollback_prompt"], undo=["patch_prompt"])
            assert accepted
            state = await wait_for(handle, lambda s: s.retrospective_path is not None)
            assert fake.label_versions(PROMPT, "production") == [1]
            outcomes = {m.name: (m.outcome, m.defaulted) for m in state.in_place}
            assert outcomes == {"rollback_prompt": ("kept", False), "route_to_human_fallback": ("kept", True),
                                "patch_prompt": ("undone", False)}
            assert "patch_prompt: undone" in whats(state)
            retro = Path(state.retrospective_path).read_text(encoding="utf-8")  # type: ignore[arg-type]
            assert "at resolution: undone (chosen by ian): moved the production label" in retro
            assert "at resolution: kept, by default (no choice given)" in retro


# ---------------------------------------------------------------------------------------------- regression gate

REGRESSION_PLAYBOOK = """
[evidence.traces]
kind = "langfuse"
base_url = "{langfuse}"
trace_name = "support-answer"
[actions.regression_suite]
kind = "promptfoo_regression"
evidence = "traces"
provider_url = "{candidate}/answer"
[approvals.actions.regression_suite]
SEV2 = "auto"
[services.support-bot]
remediate = ["regression_suite"]
"""


class Candidate:
    """The candidate model endpoint: rude to one input until fixed."""

    def __init__(self) -> None:
        self.rude = True
        self.status = 200  # anything else: the endpoint fails (a provider error, not a regression)
        self.requests: list[dict[str, Any]] = []
        candidate = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                candidate.requests.append(body)
                rude = candidate.rude and "refund" in body["prompt"]
                data = json.dumps({"output": "you idiot, no refund" if rude else "Happy to help."}
                                  if candidate.status == 200 else {"error": "overloaded"}).encode()
                self.send_response(candidate.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@contextmanager
def candidate_endpoint() -> Iterator[Candidate]:
    with serving(Candidate()) as cand:
        yield cand


@contextmanager
def regression_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Candidate, Path]]:
    with fake_langfuse(monkeypatch) as fake, candidate_endpoint() as cand:
        now = datetime.now(UTC)
        fake.add_observation(trace_id="a" * 32, start=now - timedelta(minutes=5), input="where is my refund?",
                             output="you idiot")
        fake.add_observation(trace_id="b" * 32, start=now - timedelta(minutes=4), input="reset my password")
        yield cand, write_playbook(tmp_path, REGRESSION_PLAYBOOK.format(langfuse=fake.url, candidate=cand.url))


async def test_resolution_is_refused_while_the_suite_fails_and_allowed_with_an_override(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with regression_setup(tmp_path, monkeypatch) as (cand, playbook):
        async with worker(ts_env.client, task_queue, playbook, home) as ctx:
            handle, _ = await open_incident(ts_env, task_queue, Severity.SEV2, kind=SignalKind.TOXICITY)
            state = await wait_for(handle, lambda s: bool(s.regressions), attempts=600)
            run = state.regressions[0]
            assert (run.passed, run.successes, run.failures, run.exit_code) == (False, 1, 1, 100), run
            assert run.failed_cases[0].reason == 'Expected output to not contain "idiot"'
            assert {r["prompt"] for r in cand.requests} == {"where is my refund?", "reset my password"}
            suite = json.loads(Path(str(run.config_path)).read_text())
            assert {"type": "not-icontains", "value": "idiot", "metric": "toxicity"} in suite["tests"][0]["assert"]

            accepted, message = await resolve(handle)
            assert not accepted
            assert "regression suite #1 FAILED: 1 of 2 case(s) passed" in message
            assert 'Expected output to not contain "idiot"' in message and "--override-regressions" in message

            accepted, _ = await resolve(handle, override_regressions="customer comms sent; fix tracked in AIOPS-7")
            assert accepted
            state = await wait_for(handle, lambda s: s.retrospective_path is not None)
            entry = next(e for e in state.timeline if e.what == "regression gate overridden")
            assert (entry.actor, entry.details["reason"]) == ("ian", "customer comms sent; fix tracked in AIOPS-7")
            retro = Path(str(state.retrospective_path)).read_text(encoding="utf-8")
            assert "- run #1 (regression_suite): FAILED, 1 passed, 1 failed, 0 errors" in retro
            assert "resolved despite failing regressions: customer comms sent" in retro
            number = str(state.number)
            assert (ctx.store.root / number / "regression" / "run-1" / "results.json").exists()


async def test_a_suite_run_again_after_the_fix_lets_the_incident_resolve(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with regression_setup(tmp_path, monkeypatch) as (cand, playbook):
        async with worker(ts_env.client, task_queue, playbook, home):
            handle, _ = await open_incident(ts_env, task_queue, Severity.SEV2, kind=SignalKind.TOXICITY)
            await wait_for(handle, lambda s: bool(s.regressions) and s.status.value == "monitoring", attempts=600)
            cand.rude = False
            retest = human("olu", Role.AI_OPS)
            await handle.signal(IncidentWorkflow.retest, retest)
            state = await wait_for(handle, lambda s: len(s.regressions) == 2, attempts=600)
            assert state.regressions[1].passed, state.regressions[1]
            accepted, message = await resolve(handle)
            assert accepted, message
            state = await wait_for(handle, lambda s: s.resolved_at is not None)
            assert state.regression_override == ""


async def test_only_the_ic_or_ai_ops_ask_for_a_retest(ts_env: WorkflowEnvironment, task_queue: str,
                                                      tmp_path: Path, home: Path) -> None:
    async with worker(ts_env.client, task_queue, write_playbook(tmp_path), home):
        handle, _ = await open_incident(ts_env, task_queue, Severity.SEV3)
        action = HumanAction(by="olu", role=Role.AI_OPS, action_id=str(uuid.uuid4()))
        await handle.signal(IncidentWorkflow.retest, action)
        outcome = await wait_outcome(handle, action.action_id, 20)
        assert outcome is not None and not outcome.accepted
        assert "no regression suite has run" in outcome.message


HTTP_PLAYBOOK = """
[actions.disable_tools]
kind = "http"
url = "{url}/flags/${{service}}-tools/disable"
body = '{{"reason": "${{incident_number}}"}}'
[actions.disable_tools.undo]
method = "POST"
url = "{url}/flags/${{service}}-tools/enable"
[actions.purge_caches]
kind = "manual"
instructions = "Purge ${{service}} caches."
undo_instructions = "Warm the ${{service}} caches again."
[approvals.actions.disable_tools]
SEV3 = "auto"
[services.support-bot]
contain = ["disable_tools", "purge_caches"]
"""


async def test_http_and_manual_mitigations_are_undone_as_configured(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path) -> None:
    with recorder() as control_plane:
        playbook = write_playbook(tmp_path, HTTP_PLAYBOOK.format(url=control_plane.url))
        async with worker(ts_env.client, task_queue, playbook, home) as ctx:
            handle, _ = await open_incident(ts_env, task_queue, Severity.SEV3)
            state = await wait_for(handle, lambda s: bool(s.pending_approvals()))
            await handle.signal(IncidentWorkflow.approve, decision(state.pending_approvals()[0].request_id, "olu",
                                                                   Role.AI_OPS, "purged"))
            state = await wait_for(handle, lambda s: s.status.value == "monitoring")
            assert [(m.name, m.undo.description if m.undo else None) for m in state.in_place] == [
                ("disable_tools", f"POST {control_plane.url}/flags/support-bot-tools/enable"),
                ("purge_caches", "by hand: Warm the support-bot caches again.")]

            accepted, _ = await resolve(handle, undo=["disable_tools", "purge_caches"])
            assert accepted
            state = await wait_for(handle, lambda s: all(m.outcome != "in_place" for m in s.in_place))
            assert [r["path"] for r in control_plane.requests] == ["/flags/support-bot-tools/disable",
                                                                   "/flags/support-bot-tools/enable"]
            undo_key = control_plane.requests[1]["headers"]["Idempotency-Key"]
            assert undo_key.endswith("/undo/contain/disable_tools")
            outcomes = {m.name: (m.outcome, m.outcome_detail) for m in state.in_place}
            assert outcomes["disable_tools"] == ("undone", "POST answered 200")
            assert outcomes["purge_caches"] == ("handed_over", "asked olu to: Warm the support-bot caches again.")
            pages = read_jsonl(ctx.store.root / str(state.number) / "notifications.jsonl")
            assert any(p["subject"].endswith("undo purge_caches") and p["to"] == ["olu"] for p in pages)


def test_the_playbook_refuses_a_suite_without_a_langfuse_evidence_source_or_with_two_providers(
        tmp_path: Path) -> None:
    from playbook.config import PlaybookError, load_playbook

    base = ('[evidence.logs]\nkind = "file"\npath = "x.log"\n[actions.suite]\nkind = "promptfoo_regression"\n'
            'evidence = "{evidence}"\n{provider}\n')
    cases = {("logs", 'provider = "echo"'): "actions.suite.evidence: 'logs' is not a langfuse source",
             ("logs", 'provider = "echo"\nprovider_url = "http://127.0.0.1:1/x"'): "give exactly one of"}
    for (evidence, provider), expected in cases.items():
        path = write_playbook(tmp_path, base.format(evidence=evidence, provider=provider))
        with pytest.raises(PlaybookError, match=expected):
            load_playbook(path)
    undo = ('[actions.flags]\nkind = "http"\nurl = "http://x/${service}"\n[actions.flags.undo]\n'
            'url = "http://x/${nope}"\n')
    with pytest.raises(PlaybookError, match=r"actions.flags.undo.url: unknown template variable\(s\) \['nope'\]"):
        load_playbook(write_playbook(tmp_path, undo))
