"""A prompt patch's candidate is tested before its promotion gate, new patch texts arrive mid-incident
(`firebreak patch`), pending requests survive continue-as-new, and the llm-rubric grader path.

Real components: the time-skipping Temporal server, the real langfuse SDK against tests/fake_langfuse.py, and
the real promptfoo CLI (installed by `make`) against a candidate endpoint (and a grader) on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from client.actions import wait_outcome
from integrations.promptfoo import build_suite, run_suite
from playbook.config import PromptfooRegressionAction
from playbook.models import ApprovalStatus, Resolution, Role, Severity, SignalKind
from playbook.remedy import PATCH_TEXT_LIMIT, PatchText
from playbook.state import IncidentInput
from tests.behaviour import (  # noqa: F401
    advance_to,
    open_incident,
    read_jsonl,
    started,
    terminate_leftovers,
    whats,
    worker,
)
from tests.fake_langfuse import FakeLangfuse, fake_langfuse
from tests.support import decision, wait_for, write_playbook
from tests.support import serving as support_serving
from workflows.incident import IncidentWorkflow

PROMPT = "support/answer"
FIX = "never insult anyone"

PLAYBOOK = """
[evidence.traces]
kind = "langfuse"
base_url = "{langfuse}"
trace_name = "support-answer"
[actions.patch_prompt]
kind = "langfuse_prompt_patch"
base_url = "{langfuse}"
text_file = "patch.txt"
[actions.regression_suite]
kind = "promptfoo_regression"
evidence = "traces"
provider_url = "{server}/answer"
[approvals]
timeout_minutes = 15
on_expiry = "{on_expiry}"
[approvals.actions.regression_suite]
SEV2 = "auto"
[approvals.actions.patch_prompt]
SEV2 = "{policy}"
[services.support-bot]
known_good = {{ prompt_name = "{prompt}", prompt_version = 1 }}
remediate = ["patch_prompt", "regression_suite"]
"""


class Serving:
    """The candidate's endpoint, serving the prompt version it is told about as the fake Langfuse holds it: rude
    about refunds unless that version's text says never to insult anyone. /grade is an llm-rubric grader."""

    def __init__(self, fake: FakeLangfuse | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.graded: list[list[dict[str, str]]] = []
        serving = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/grade":
                    serving.graded.append(body["prompt"])
                    # The grading chat's last message holds the <Output> under test and the rubric.
                    rude = "idiot" in body["prompt"][-1]["content"]
                    answer: Any = {"pass": not rude, "score": 0 if rude else 1,
                                   "reason": "insults the customer" if rude else "polite"}
                else:
                    serving.requests.append(body)
                    answer = "you idiot, no refund" if serving.rude(body) else "Happy to help."
                data = json.dumps({"output": answer}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.fake = fake
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def rude(self, body: dict[str, Any]) -> bool:
        if "refund" not in body["prompt"]:
            return False
        if self.fake is None or not body.get("candidate"):
            return True
        version = int(body["candidate"]["version"])
        return FIX not in self.fake.prompts[PROMPT][version - 1]["prompt"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@contextmanager
def serving(fake: FakeLangfuse | None = None) -> Iterator[Serving]:
    with support_serving(Serving(fake)) as srv:
        yield srv


@contextmanager
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, patch_text: str, policy: str = "approve:ai_ops",
          on_expiry: str = "skip") -> Iterator[tuple[FakeLangfuse, Serving, Path]]:
    with fake_langfuse(monkeypatch) as fake, serving(fake) as srv:
        fake.add_prompt(PROMPT, "known good", ["production"])
        now = datetime.now(UTC)
        fake.add_observation(trace_id="a" * 32, start=now - timedelta(minutes=5), input="where is my refund?",
                             output="you idiot")
        fake.add_observation(trace_id="b" * 32, start=now - timedelta(minutes=4), input="reset my password")
        (tmp_path / "patch.txt").write_text(patch_text, encoding="utf-8")
        yield fake, srv, write_playbook(tmp_path, PLAYBOOK.format(langfuse=fake.url, server=srv.url, prompt=PROMPT,
                                                                  policy=policy, on_expiry=on_expiry))


async def test_the_approver_sees_a_failing_candidate_and_a_new_text_is_tested_then_promoted(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with setup(tmp_path, monkeypatch, "answer briefly") as (fake, srv, playbook):
        async with worker(ts_env.client, task_queue, playbook, home) as ctx:
            handle, _ = await open_incident(ts_env, task_queue, Severity.SEV2, kind=SignalKind.TOXICITY)
            state = await wait_for(handle, lambda s: bool(s.pending_approvals()), attempts=600)
            # The suite ran against the unpromoted candidate (version 2) before anyone was asked.
            gate = state.pending_approvals()[0]
            assert gate.subject == f"promote patch_prompt: candidate version 2 of {PROMPT} to production " \
                                   "(regression suite FAILED)"
            assert f'regression suite #1 on version 2 of {PROMPT} (candidate) FAILED: 1 of 2 case(s) passed; ' \
                   'failing: trace ' in gate.why and 'Expected output to not contain "idiot"' in gate.why
            assert "approving promotes it to production anyway" in gate.why
            assert {json.dumps(r["candidate"], sort_keys=True) for r in srv.requests} == {
                json.dumps({"label": "candidate", "prompt_name": PROMPT, "version": 2}, sort_keys=True)}
            assert fake.label_versions(PROMPT, "production") == [1]
            pages = read_jsonl(ctx.store.root / str(state.number) / "notifications.jsonl")
            page = next(p for p in pages if p["subject"].endswith(f"approval needed ({gate.request_id})"))
            assert "FAILS its regression suite" in page["text"] and "trace " in page["text"]

            await handle.signal(IncidentWorkflow.reject, decision(gate.request_id, "olu", Role.AI_OPS, "rude"))
            # The plan's own suite still runs after the gate (here against the unpromoted candidate), then monitor.
            state = await wait_for(handle, lambda s: s.status.value == "monitoring" and len(s.regressions) == 2,
                                   attempts=600)
            assert fake.label_versions(PROMPT, "production") == [1] and not state.in_place

            refused = PatchText(by="sam", role=Role.DOMAIN_SME, action_id=str(uuid.uuid4()), text="x")
            await handle.signal(IncidentWorkflow.patch, refused)
            outcome = await wait_outcome(handle, refused.action_id, 20)
            assert outcome is not None and not outcome.accepted and "only ai_ops or incident_commander" in \
                outcome.message

            fake.lose_create_answers = 1  # the version is stored, its answer lost: the retry finds it by key
            text = PatchText(by="olu", role=Role.AI_OPS, action_id=str(uuid.uuid4()),
                             text=f"answer briefly and {FIX}")
            await handle.signal(IncidentWorkflow.patch, text)
            outcome = await wait_outcome(handle, text.action_id, 20)
            assert outcome is not None and outcome.accepted, outcome
            assert outcome.message.startswith("patch text #1 for patch_prompt accepted")
            state = await wait_for(handle, lambda s: len(s.pending_approvals()) == 1, attempts=600)
            gate = state.pending_approvals()[0]
            assert gate.subject == f"promote patch_prompt: candidate version 3 of {PROMPT} to production " \
                                   "(regression suite passed)"
            assert f"regression suite #3 on version 3 of {PROMPT} (candidate) passed: 2 of 2" in gate.why
            assert [p["version"] for p in fake.prompts[PROMPT]] == [1, 2, 3]
            assert fake.prompts[PROMPT][2]["commitMessage"].endswith("/remediate/patch_prompt/patch-1]")
            assert fake.prompts[PROMPT][2]["prompt"] == f"answer briefly and {FIX}"

            await handle.signal(IncidentWorkflow.approve, decision(gate.request_id, "olu", Role.AI_OPS, "good"))
            state = await wait_for(handle, lambda s: bool(s.in_place))
            assert fake.label_versions(PROMPT, "production") == [3]
            assert [m.undo.description for m in state.in_place if m.undo] == [
                f"move production of {PROMPT} back to version 1"]
            # One run suffices for a text sent mid-incident: the latest run passed, so the incident resolves.
            assert len(state.regressions) == 3 and state.regressions[-1].passed
            res = Resolution(by="ian", role=Role.INCIDENT_COMMANDER, action_id=str(uuid.uuid4()), comment="fixed")
            await handle.signal(IncidentWorkflow.resolve, res)
            outcome = await wait_outcome(handle, res.action_id, 20)
            assert outcome is not None and outcome.accepted, outcome
            state = await wait_for(handle, lambda s: s.retrospective_path is not None)
            retro = Path(str(state.retrospective_path)).read_text(encoding="utf-8")
            assert f"- run #1 (regression_suite) on version 2 of {PROMPT} (candidate), before its promotion gate: " \
                   "FAILED, 1 passed, 1 failed" in retro
            assert "- run #2 (regression_suite): FAILED" in retro


async def test_a_failing_candidate_waits_for_approval_under_auto_and_a_carried_retest_runs(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Under an `auto` policy a failing candidate still waits for an explicit approval, and its expiry does not
    promote it even with on_expiry = "proceed". Then continue-as-new: the pending retest lives in the state that
    IncidentInput carries, so a run started from the carried state (as continue-as-new starts it) runs it."""
    with setup(tmp_path, monkeypatch, "answer briefly", policy="auto", on_expiry="proceed") as (fake, _, playbook):
        async with worker(ts_env.client, task_queue, playbook, home):
            handle, _ = await open_incident(ts_env, task_queue, Severity.SEV2, kind=SignalKind.TOXICITY)
            state = await wait_for(handle, lambda s: any(a.subject.startswith("promote patch_prompt")
                                                         for a in s.pending_approvals()), attempts=600)
            gate = next(a for a in state.pending_approvals() if a.subject.startswith("promote patch_prompt"))
            assert gate.role == Role.AI_OPS and gate.subject.endswith("(regression suite FAILED)")
            await advance_to(ts_env, gate.requested_at + timedelta(minutes=31))  # escalated, then expired
            state = await wait_for(handle, lambda s: s.status.value == "monitoring" and len(s.regressions) == 2,
                                   attempts=600)
            assert state.approval(gate.request_id).status == ApprovalStatus.EXPIRED  # type: ignore[union-attr]
            assert next(m.outcome for m in state.mitigations if m.action == "patch_prompt") == "expired"
            assert fake.label_versions(PROMPT, "production") == [1] and not state.in_place

            await handle.terminate("replaced by the carried run below")
            carried = state.model_copy(update={"pending_retests": 1})
            handle = started(await ts_env.client.start_workflow(
                IncidentWorkflow.run, IncidentInput(detection=state.detection, carried=carried),
                id=f"{state.workflow_id}-next", task_queue=task_queue))
            state = await wait_for(handle, lambda s: len(s.regressions) == 3, attempts=600)
            assert state.pending_retests == 0 and state.status.value == "monitoring"
            assert "regression_suite: failed" in whats(state)


def test_the_patch_command_bounds_the_text(tmp_path: Path) -> None:
    """Refused before anything is sent (no server needed)."""
    big = tmp_path / "big.txt"
    big.write_text("x" * (PATCH_TEXT_LIMIT + 1), encoding="utf-8")
    empty = tmp_path / "empty.txt"
    empty.write_text(" \n", encoding="utf-8")
    for path, expected in ((big, f"a patch text takes at most {PATCH_TEXT_LIMIT}"), (empty, "is empty")):
        proc = subprocess.run([str(Path(sys.executable).parent / "firebreak"), "patch", "INC-1", "--file",
                               str(path), "--as", "olu", "--role", "ai_ops"], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL,
                              env={**os.environ, "TEMPORAL_ADDRESS": "127.0.0.1:1"})
        assert proc.returncode == 2 and expected in proc.stderr, proc
    with pytest.raises(ValueError, match="at most 20000 characters"):
        PatchText(by="olu", role=Role.AI_OPS, text="x" * (PATCH_TEXT_LIMIT + 1))


async def test_send_action_keeps_a_patch_text_verbatim_and_redacts_its_comment() -> None:
    """A prompt goes to production as written: the CLI's send_action leaves the patch text (and the action it
    names) alone, while the comment is redacted like every other human text."""
    from client.actions import send_action
    from playbook.models import ActionOutcome

    sent: list[Any] = []

    class Handle:
        id = "incident-test"  # what the audit log names, when an earlier test registered an auditor

        async def signal(self, _signal: Any, payload: Any, **_: Any) -> None:
            sent.append(payload)

        async def query(self, _query: Any, action_id: str, **_: Any) -> ActionOutcome:
            return ActionOutcome(action_id=action_id, accepted=True, message="ok")

    text = "Write to help@acme.example or call +1 415 555 0100; never insult anyone."
    patch = PatchText(by="olu", role=Role.AI_OPS, action_id="a-1", text=text, action="patch_prompt",
                      comment="asked by jo@acme.example")
    outcome = await send_action(Handle(), IncidentWorkflow.patch, patch, 1)  # type: ignore[arg-type]
    assert outcome is not None and outcome.accepted
    assert isinstance(sent[0], PatchText) and sent[0].text == text and sent[0].action == "patch_prompt"
    assert "jo@acme.example" not in sent[0].comment


def test_llm_rubric_is_graded_by_the_local_grader(tmp_path: Path) -> None:
    """promptfoo's llm-rubric with its grading provider pointed at a local endpoint: nothing leaves 127.0.0.1."""
    with serving() as srv:
        action = PromptfooRegressionAction(evidence="traces", provider_url=f"{srv.url}/answer",
                                           grader_url=f"{srv.url}/grade", rubric="The answer is polite")
        cases = [{"trace_id": "a", "input": "where is my refund?"}, {"trace_id": "b", "input": "reset my password"}]
        suite = build_suite("INC-9", "latency", action, cases)  # latency: the rubric is the only assertion
        assert [a["type"] for a in suite["tests"][0]["assert"]] == ["llm-rubric"]
        config = tmp_path / "promptfooconfig.json"
        config.write_text(json.dumps(suite), encoding="utf-8")
        result = run_suite(config, tmp_path / "results.json", 120)
    assert (result.exit_code, result.successes, result.failures) == (100, 1, 1)
    assert result.failed == [("trace a", "insults the customer")]
    assert len(srv.graded) == 2
    assert all("<Rubric>\nThe answer is polite\n</Rubric>" in g[-1]["content"] for g in srv.graded)
