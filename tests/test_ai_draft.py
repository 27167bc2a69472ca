"""The retrospective drafted with AI: `firebreak retro INC --draft` against a chat-completions endpoint on 127.0.0.1,
grounded only in the redacted record, saved for the incident commander and never recorded by itself; a refusal,
a timeout, a cut-off and an over-long answer give no draft and say why; the prompt from Langfuse when configured."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from openai.types.chat import ChatCompletion
from temporalio.testing import WorkflowEnvironment

from activities.ai_brief import ai_first_draft
from integrations.ai_draft import AiDraftError, ask
from integrations.langfuse.prompts import managed_prompt
from playbook.ai_draft import RETRO_PROMPT
from playbook.config import AiDraftConfig, LangfuseConnection
from playbook.models import Brief, Resolution, Role, Severity
from tests.behaviour import open_incident, terminate_leftovers, worker  # noqa: F401  (autouse fixture)
from tests.fake_langfuse import fake_langfuse
from tests.fake_openai import FakeChatCompletions, completion
from tests.support import serving, state_of, wait_for, write_playbook
from workflows.incident import IncidentWorkflow

FIREBREAK = str(Path(sys.executable).parent / "firebreak")
DRAFT = {"root_cause": "prompt v13 dropped the refusal rule", "contributing_factors": ["no regression suite"],
         "went_well": ["paged within a minute"], "went_badly": ["rollback took an hour"],
         "preventative_actions": ["gate prompt releases"],
         "action_items": [{"what": "add a promptfoo gate", "owner": "olu", "due": None}]}


async def _draft(incident: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The CLI in a thread: this process's event loop runs the worker that answers its query."""
    return await asyncio.to_thread(subprocess.run, [FIREBREAK, "retro", incident, "--draft"], env=env,
                                   capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_every_answer_of_the_fake_parses_with_the_sdk_models() -> None:
    for answer in (completion("{}"), completion(None, refusal="I can't help with that."),
                   completion("x", finish_reason="length"), completion("", finish_reason="content_filter")):
        parsed = ChatCompletion.model_validate(answer)
        assert parsed.object == "chat.completion" and parsed.choices[0].message.role == "assistant"


def test_refusal_timeout_cut_off_and_over_long_answers_give_no_draft(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRAFT_KEY", "sk-test")
    with serving(FakeChatCompletions(), poll_interval=0.05) as fake:
        cfg = AiDraftConfig(enabled=True, base_url=f"{fake.url}/v1", model="drafter-1", api_key_env="DRAFT_KEY",
                            timeout_seconds=0.5, max_answer_chars=500)
        fake.answer = json.dumps(DRAFT)
        answer = ask(cfg, "system text", "user text")
        assert json.loads(answer.text) == DRAFT and answer.model == "drafter-1"
        sent = fake.requests[-1]
        assert sent["headers"]["authorization"] == "Bearer sk-test"
        assert sent["body"]["model"] == "drafter-1" and [m["role"] for m in sent["body"]["messages"]] == [
            "system", "user"]
        cases: list[tuple[dict[str, object], str]] = [
                 ({"refusal": "I can't help with that."}, "the model refused: I can't help with that."),
                 ({"answer": "x" * 501}, "501 characters, over ai_draft.max_answer_chars (500)"),
                 ({"answer": "{\"root_cause\": \"pro", "finish_reason": "length"}, "cut off"),
                 ({"delay": 1.0}, "did not answer within 0.5 s")]
        for setup, message in cases:
            fake.answer, fake.refusal, fake.finish_reason, fake.delay = json.dumps(DRAFT), None, "stop", 0.0
            for name, value in setup.items():
                setattr(fake, name, value)
            with pytest.raises(AiDraftError, match=message.replace("(", r"\(").replace(")", r"\)")):
                ask(cfg, "system text", "user text")
        monkeypatch.delenv("DRAFT_KEY")
        with pytest.raises(AiDraftError, match=r"set \$DRAFT_KEY"):
            ask(cfg, "system text", "user text")


def test_the_prompt_comes_from_langfuse_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_langfuse(monkeypatch) as lf:
        conn = LangfuseConnection(base_url=lf.url)
        assert managed_prompt(conn, "firebreak-retrospective-draft", "production", RETRO_PROMPT)[0] == RETRO_PROMPT
        lf.add_prompt("firebreak-retrospective-draft", "Draft it our way.", labels=["production"])
        text, source = managed_prompt(conn, "firebreak-retrospective-draft", "production", RETRO_PROMPT)
        assert (text, source) == ("Draft it our way.", "langfuse firebreak-retrospective-draft v1@production")
    assert managed_prompt(None, "firebreak-retrospective-draft", "production", RETRO_PROMPT) == (RETRO_PROMPT,
                                                                                                  "built-in")


async def test_retro_draft_from_the_cli(ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                                        home: Path) -> None:
    with serving(FakeChatCompletions(), poll_interval=0.05) as fake:
        playbook = write_playbook(tmp_path, f"""
[ai_draft]
enabled = true
base_url = "{fake.url}/v1"
model = "drafter-1"
api_key_env = "DRAFT_KEY"
""")
        env = {**os.environ, "TEMPORAL_ADDRESS": ts_env.client.service_client.config.target_host,
               "FIREBREAK_HOME": str(home), "FIREBREAK_PLAYBOOK": str(playbook), "DRAFT_KEY": "sk-test"}
        async with worker(ts_env.client, task_queue, playbook, home):
            handle, state = await open_incident(ts_env, task_queue,
                                                summary="bot mailed jane.doe@example.com her neighbour's invoice")
            await handle.signal(IncidentWorkflow.resolve, Resolution(by="ian", role=Role.INCIDENT_COMMANDER,
                                                                     comment="rolled back to v12"))
            await wait_for(handle, lambda s: s.retrospective_path is not None)
            fake.answer = "```json\n" + json.dumps(DRAFT) + "\n```"
            done = await _draft(state.workflow_id, env)
            assert done.returncode == 0, done.stderr
            saved = home / "artefacts" / str(state.number) / "retrospective-draft.json"
            assert json.loads(saved.read_text()) == DRAFT and "prompt v13 dropped the refusal rule" in done.stdout
            assert "It is not the retrospective" in done.stderr and "prompt: built-in" in done.stderr
            messages = fake.requests[-1]["body"]["messages"]
            assert messages[0]["content"] == RETRO_PROMPT
            assert str(state.number) in messages[1]["content"] and "rolled back to v12" in messages[1]["content"]
            assert "jane.doe@example.com" not in messages[1]["content"]  # redacted before it left
            assert (await state_of(handle)).retrospective is None  # a draft is never the record



async def test_a_brief_first_drafted_by_ai_still_waits_for_the_sme(ts_env: WorkflowEnvironment, task_queue: str,
                                                                   tmp_path: Path, home: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRAFT_KEY", "sk-test")
    with serving(FakeChatCompletions(), poll_interval=0.05) as fake:
        playbook = write_playbook(tmp_path, f"""
[ai_draft]
enabled = true
briefs = true
base_url = "{fake.url}/v1"
model = "drafter-1"
api_key_env = "DRAFT_KEY"
""")
        fake.answer = "## Status\nToxic answers on support-bot; mail ops@example.com for details."
        async with worker(ts_env.client, task_queue, playbook, home) as ctx:
            handle, state = await open_incident(ts_env, task_queue, Severity.SEV2)
            state = await wait_for(handle, lambda s: s.approval("brief-1") is not None, env=ts_env,
                                   step=timedelta(minutes=5), attempts=20)
            draft = (ctx.store.root / str(state.number) / "briefs" / "0001-draft.md").read_text()
            assert draft.startswith("## Status\nToxic answers on support-bot") and "ops@example.com" not in draft
            assert "First draft by AI (drafter-1, prompt: built-in)" in draft
            assert state.approval("brief-1").role == Role.DOMAIN_SME  # type: ignore[union-attr]
            user = fake.requests[-1]["body"]["messages"][1]["content"]
            assert "Template brief (responders, tactical)" in user and str(state.number) in user

            # A refusal leaves the templated brief as it was.
            fake.refusal = "I can't help with that."
            template = Brief(incident_number=str(state.number), seq=9, severity=Severity.SEV2, title="t",
                             status=state.status, text="the template", drafted_at=state.timeline[0].at)
            assert ai_first_draft(template, state) == template
