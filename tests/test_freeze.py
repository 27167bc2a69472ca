"""Evidence frozen before anything changes, on the time-skipping server: a prompt's model switched and a cache
purged (real redis-server), each after its target was snapshotted into the evidence pack and named by its record;
a required snapshot that fails holds its action until the incident commander overrides with a reason."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from playbook.models import Role, Severity
from playbook.render import incident_text
from tests.behaviour import open_incident, read_jsonl, terminate_leftovers, worker  # noqa: F401
from tests.fake_langfuse import fake_langfuse
from tests.fake_unleash import TOKEN, FakeUnleash
from tests.servers.redis import RedisServer, redis_server  # noqa: F401
from tests.support import decision, serving, wait_for, write_playbook
from tests.test_remedy import resolve
from workflows.incident import IncidentWorkflow

PROMPT = "support/answer"
PLAYBOOK = """
[actions.model_to_known_good]
kind = "langfuse_prompt_model"
base_url = "{url}"
[actions.purge_semantic_cache]
kind = "redis_purge"
patterns = ["semcache:${{service}}:*"]
[approvals.actions.model_to_known_good]
SEV2 = "auto"
[actions.purge_answer_cache]
kind = "redis_purge"
patterns = ["answers:${{service}}:*"]
[approvals.actions.purge_semantic_cache]
SEV2 = "auto"
[approvals.actions.purge_answer_cache]
SEV2 = "auto"
[services.support-bot]
known_good = {{ model = "gpt-4o-2024-08-06", prompt_name = "{prompt}" }}
stabilise = ["model_to_known_good"]
contain = ["purge_semantic_cache"]
remediate = ["purge_answer_cache"]
"""

FLAG_PLAYBOOK = """
[actions.disable_tools]
kind = "unleash_flag"
base_url = "{url}"
feature = "${{service}}.tools"
freeze = "required"
[approvals.actions.disable_tools]
SEV2 = "auto"
[services.support-bot]
contain = ["disable_tools"]
"""


def frozen(root: Path, ref: str | None) -> dict[str, object]:
    """The snapshot a record names, checked against the sha256 it names."""
    assert ref is not None
    path, _, digest = ref.partition(" (sha256 ")
    data = (root / path).read_bytes()
    assert hashlib.sha256(data).hexdigest().startswith(digest.rstrip(")"))
    return dict(json.loads(data))


async def test_the_target_is_frozen_before_each_change_and_the_records_name_the_snapshots(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path, redis_server: RedisServer,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    cache = redis_server.client()
    cache.flushdb()
    cache.mset({f"semcache:support-bot:{i}": "a toxic answer" for i in range(40)} | {"semcache:other:1": "kept"})
    with fake_langfuse(monkeypatch) as fake:
        fake.add_prompt(PROMPT, "You answer support questions.", ["production"],
                        config={"model": "gpt-4o-mini-2024-07-18", "temperature": 0.2})
        playbook = write_playbook(tmp_path, PLAYBOOK.format(url=fake.url, prompt=PROMPT))
        async with worker(ts_env.client, task_queue, playbook, home) as ctx:
            handle, _ = await open_incident(ts_env, task_queue, Severity.SEV2,
                                            links=["langfuse-trace:t-1", "langfuse-trace:t-2"])
            state = await wait_for(handle, lambda s: len(s.mitigations) >= 2)
            model, purge = state.mitigations[:2]
            assert (model.action, model.outcome, purge.action, purge.outcome) == (
                "model_to_known_good", "done", "purge_semantic_cache", "done"), state.mitigations
            # The model changed through a new version, label moved, text and other config kept.
            assert fake.label_versions(PROMPT, "production") == [2]
            assert fake.prompts[PROMPT][1]["config"] == {"model": "gpt-4o-2024-08-06", "temperature": 0.2}
            assert fake.prompts[PROMPT][1]["prompt"] == "You answer support questions."
            assert "(verified)" in model.detail and "gpt-4o-mini-2024-07-18" in model.detail
            assert cache.get("semcache:other:1") == b"kept" and "purged 40 cache key(s)" in purge.detail

            root = ctx.store.root
            before_model = frozen(root, model.snapshot)
            target = before_model["target"]
            assert isinstance(target, dict)
            assert (target["version"], target["config"], target["labels"]) == (
                1, {"model": "gpt-4o-mini-2024-07-18", "temperature": 0.2}, ["latest", "production"])
            assert target["text"] == {"sha256": hashlib.sha256(b"You answer support questions.").hexdigest(),
                                      "chars": 29}
            assert before_model["trace_ids"] == ["t-1", "t-2"]
            before_purge = frozen(root, purge.snapshot)
            assert before_purge["target"]["patterns"] == {  # type: ignore[index]
                "semcache:support-bot:*": {"keys": 40, "capped": False}}
            shown = incident_text(state)  # what `firebreak show` prints
            assert "model_to_known_good -> done" in shown and f"[frozen before: {model.snapshot}]" in shown
            records = read_jsonl(root / str(state.number) / "actions.jsonl")
            assert [r["snapshot"] for r in records][:2] == [model.snapshot, purge.snapshot]
            timeline = [e.what for e in state.timeline]
            assert timeline.index("model_to_known_good: evidence frozen before the change") < \
                timeline.index("model_to_known_good: done")

            state = await wait_for(handle, lambda s: s.status.value == "monitoring")
            manifest = json.loads((root / str(state.number) / "evidence" / "manifest.json").read_text())
            # investigate listed the first two; the remediation's snapshot, frozen after it, joined the list
            assert [f["action"] for f in manifest["frozen"]] == ["model_to_known_good", "purge_semantic_cache",
                                                                 "purge_answer_cache"]
            accepted, message = await resolve(handle, undo=["model_to_known_good"])
            assert accepted, message
            state = await wait_for(handle, lambda s: s.in_place[0].outcome != "in_place")
            assert state.in_place[0].outcome == "undone", state.in_place[0].outcome_detail
            assert fake.label_versions(PROMPT, "production") == [1]


async def test_a_required_snapshot_that_fails_holds_the_action_until_the_ic_overrides_with_a_reason(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", TOKEN)
    with serving(FakeUnleash(), 0.05) as fake:
        fake.add_feature("support-bot.tools", {"production": True})
        fake.fail_reads = 3  # every attempt of the snapshot finds Unleash restarting
        playbook = write_playbook(tmp_path, FLAG_PLAYBOOK.format(url=fake.url))
        async with worker(ts_env.client, task_queue, playbook, home):
            handle, _ = await open_incident(ts_env, task_queue, Severity.SEV2)
            rid = "freeze-override-contain-disable_tools"
            # The snapshot's retries back off on the test server's clock: let it pass while waiting.
            state = await wait_for(handle, lambda s: any(a.request_id == rid for a in s.pending_approvals()),
                                   env=ts_env, step=timedelta(seconds=2), attempts=40)
            request = state.approval(rid)
            assert request is not None and request.role == Role.INCIDENT_COMMANDER
            assert "WITHOUT frozen evidence" in request.subject and "503" in request.subject
            assert fake.enabled("support-bot.tools", "production")  # held: nothing changed

            await handle.signal(IncidentWorkflow.approve, decision(rid, "ian", Role.INCIDENT_COMMANDER))
            state = await wait_for(handle, lambda s: any("needs a reason" in e.what or "needs a reason" in
                                                         str(e.details) for e in s.timeline))
            assert fake.enabled("support-bot.tools", "production")
            await handle.signal(IncidentWorkflow.approve, decision(rid, "ian", Role.INCIDENT_COMMANDER,
                                                                   "users are being harmed now"))
            state = await wait_for(handle, lambda s: any(m.action == "disable_tools" for m in s.mitigations))
            done = next(m for m in state.mitigations if m.action == "disable_tools")
            assert done.outcome == "done" and done.snapshot is None, done
            assert not fake.enabled("support-bot.tools", "production")
            override = next(e for e in state.timeline if e.what == "disable_tools: run without frozen evidence "
                                                                    "(override)")
            assert (override.actor, override.details["reason"]) == ("ian", "users are being harmed now")


async def test_a_held_action_whose_override_is_rejected_never_runs(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNLEASH_ADMIN_TOKEN", TOKEN)
    with serving(FakeUnleash(), 0.05) as fake:
        fake.add_feature("support-bot.tools", {"production": True})
        fake.fail_reads = 3
        playbook = write_playbook(tmp_path, FLAG_PLAYBOOK.format(url=fake.url))
        async with worker(ts_env.client, task_queue, playbook, home):
            handle, _ = await open_incident(ts_env, task_queue, Severity.SEV2)
            rid = "freeze-override-contain-disable_tools"
            await wait_for(handle, lambda s: any(a.request_id == rid for a in s.pending_approvals()),
                           env=ts_env, step=timedelta(seconds=2), attempts=40)
            await handle.signal(IncidentWorkflow.reject, decision(rid, "ian", Role.INCIDENT_COMMANDER,
                                                                  "wait for the snapshot"))
            state = await wait_for(handle, lambda s: any(m.action == "disable_tools" for m in s.mitigations))
            held = next(m for m in state.mitigations if m.action == "disable_tools")
            assert held.outcome == "held" and "did not override (rejected)" in held.detail
            assert fake.enabled("support-bot.tools", "production")
            assert not any(m.name == "disable_tools" for m in state.in_place)
            assert not [r for r in fake.requests if r[0] == "POST"]
