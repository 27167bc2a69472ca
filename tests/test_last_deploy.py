"""A watcher-raised incident names the last deploy of its prompt from the deploy log (Langfuse prompt-version
webhooks received by the real intake), in the ticket, the brief and `firebreak show`, instead of "unknown"."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from client import admission
from intake.app import create_app
from integrations.artefacts import ArtefactStore
from integrations.deploys import last_deploy, record_deploy
from playbook.models import Role
from tests.behaviour import run_watch, started, terminate_leftovers, worker  # noqa: F401
from tests.fake_langfuse import fake_langfuse
from tests.intake.support import config, secrets, serving
from tests.intake.test_alert_labels import FIREBREAK, run
from tests.intake.test_langfuse_webhook import SECRET, event, signed
from tests.support import human, wait_for, write_playbook

PROMPT = "support/answer"


def _playbook(tmp_path: Path, url: str, name: str) -> Path:
    return write_playbook(tmp_path, f"""
[watchers.{name}]
service = "support-bot"
signal = "toxicity"
score_names = ["toxicity"]
threshold = 0.8
min_count = 1
window_minutes = 15
base_url = "{url}"

[services.support-bot]
known_good = {{ prompt_name = "{PROMPT}", prompt_version = 12 }}
""")


async def test_a_watcher_incident_names_the_last_deploy_of_its_prompt(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"tox{uuid.uuid4().hex[:6]}"
    now = await ts_env.get_current_time()
    # Langfuse's clock in this story is the time-skipping server's, which runs ahead of the intake's wall clock by
    # however far earlier tests skipped: widen the door's "now + 1 day" by that much (the window's own tests are in
    # tests/intake/test_limits.py).
    monkeypatch.setattr(admission, "AHEAD", admission.AHEAD + max(now - datetime.now(UTC), timedelta(0)))
    store = ArtefactStore(home / "artefacts")
    cfg = config()
    app = create_app(cfg, secrets(cfg), address="127.0.0.1:1", langfuse_secret=SECRET.encode(), store=store)
    # What Langfuse sends when v13 is promoted to production (the version gaining it, the one losing it), then a
    # tag edit on v13 (also "updated"), and v14's promotion after the detection.
    events = [event(12, "created", at=now - timedelta(days=3), labels=["production", "latest"]),
              event(13, "created", at=now - timedelta(hours=2), labels=["latest"]),
              event(13, "updated", at=now - timedelta(minutes=30), labels=["production", "latest"]),
              event(12, "updated", at=now - timedelta(minutes=30), labels=[]),
              event(13, "updated", at=now - timedelta(minutes=10), labels=["production", "latest"], tags=["x"]),
              event(14, "updated", at=now + timedelta(hours=2), labels=["production"])]
    async with serving(app) as api:
        for e in events:
            body = json.dumps({**e, "prompt": {**e["prompt"], "name": PROMPT}}).encode()
            answer = await api.http.post("/v1/langfuse/webhook", content=body, headers=signed(body))
            assert answer.status_code == 200, answer.text

    with fake_langfuse(monkeypatch) as fake:
        playbook = _playbook(tmp_path, fake.url, name)
        fake.add_score(name="toxicity", value=0.95, when=now - timedelta(minutes=1), trace_id=uuid.uuid4().hex)
        async with worker(ts_env.client, task_queue, playbook, home):
            result = await run_watch(ts_env, task_queue, name, playbook)
            assert result.incident_workflow_id, result.decision.reason
            handle = started(ts_env.client.get_workflow_handle(result.incident_workflow_id))
            state = await wait_for(handle, lambda s: s.ticket is not None)
            expected = f"{PROMPT} v13 to production at {now - timedelta(minutes=30):%Y-%m-%d %H:%M} UTC by Carol Ops"
            assert state.detection.deploy_id is not None and state.detection.deploy_id.startswith(expected)
            ticket = (home / "artefacts" / str(state.number) / "ticket.md").read_text()
            assert f"| last deploy | {expected}" in ticket

            env = {**os.environ, "TEMPORAL_ADDRESS": ts_env.client.service_client.config.target_host}
            assert f"last deploy: {expected}" in await run(FIREBREAK, "show", handle.id, env=env)

            await handle.signal("acknowledge", human("ian", Role.INCIDENT_COMMANDER))
            await wait_for(handle, lambda s: any(e.what.endswith("drafted") for e in s.timeline), env=ts_env,
                           step=timedelta(minutes=30), attempts=20)
            [draft] = (home / "artefacts" / str(state.number) / "briefs").glob("*-draft.md")
            assert f"Last deploy: {expected}" in draft.read_text()


def test_the_last_deploy_is_a_version_gaining_the_label_before_detection(tmp_path: Path) -> None:
    store = ArtefactStore(tmp_path)
    t0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)

    def log(version: int, minutes: int, labels: list[str], action: str = "updated") -> None:
        record_deploy(store, uuid.uuid4().hex, {"prompt": PROMPT, "version": version, "action": action,
                                                "labels": labels, "at": (t0 + timedelta(minutes=minutes)).isoformat()})

    assert last_deploy(store, PROMPT, t0) is None
    log(3, 0, ["production"], "created")
    log(4, 10, ["latest"], "created")  # a new version, not deployed
    assert last_deploy(store, PROMPT, t0 + timedelta(minutes=15))["version"] == 3  # type: ignore[index]
    log(3, 20, ["production"])  # a tag edit on the deployed version: not a deploy
    assert last_deploy(store, PROMPT, t0 + timedelta(minutes=25))["at"] == t0.isoformat()  # type: ignore[index]
    log(4, 30, ["production", "latest"])
    log(3, 30, [])
    log(3, 40, ["production"])  # a rollback to v3 is a deploy too
    assert last_deploy(store, PROMPT, t0 + timedelta(minutes=35))["version"] == 4  # type: ignore[index]
    assert last_deploy(store, PROMPT, t0 + timedelta(minutes=45))["version"] == 3  # type: ignore[index]
    assert last_deploy(store, "another prompt", t0 + timedelta(minutes=45)) is None
