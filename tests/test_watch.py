"""Guardrail-score watchers: the decision, a watch run raising one incident per breach on the time-skipping
server, and `firebreak watchers sync` making Temporal Schedules match the playbook on the dev server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleOverlapPolicy
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from cli import build_parser
from client.schedules import schedule_id, sync_watchers
from playbook.config import GuardrailWatcher, PlaybookError, parse_playbook
from playbook.models import SignalKind
from playbook.watch import WatchCount, WatchMemory, decide
from tests.behaviour import run_watch, started, terminate_leftovers, worker  # noqa: F401
from tests.fake_langfuse import FakeLangfuse, fake_langfuse
from tests.support import ROSTER, state_of, write_playbook

WATCHER = GuardrailWatcher(service="support-bot", score_names=["toxicity"], threshold=0.8, min_count=3,
                           window_minutes=15)
T0 = datetime(2026, 3, 1, 12, 1, tzinfo=UTC)


def _count(n: int, memory: WatchMemory) -> WatchCount:
    return WatchCount(count=n, memory=memory)


def test_one_breach_one_fingerprint_reported_once_per_window_then_forgotten() -> None:
    first = decide("tox", WATCHER, _count(3, WatchMemory()), T0)
    assert first.raise_alert and first.fingerprint == "watch-tox-20260301T1200Z"
    assert first.alert_id == "watch-tox-20260301T1200Z@20260301T1200Z"

    same_window = decide("tox", WATCHER, _count(5, first.memory), T0 + timedelta(minutes=5))
    assert not same_window.raise_alert and "already reported" in same_window.reason

    next_window = decide("tox", WATCHER, _count(4, same_window.memory), T0 + timedelta(minutes=15))
    assert next_window.raise_alert and next_window.fingerprint == first.fingerprint  # the same breach, still on
    assert next_window.alert_id == "watch-tox-20260301T1200Z@20260301T1215Z"

    too_few = decide("tox", WATCHER, _count(2, next_window.memory), T0 + timedelta(minutes=20))
    assert not too_few.raise_alert and too_few.memory.episode == first.fingerprint  # not a whole quiet window yet
    over = decide("tox", WATCHER, _count(0, too_few.memory), T0 + timedelta(minutes=31))
    assert not over.raise_alert and over.memory.episode is None and "is over" in over.reason

    again = decide("tox", WATCHER, _count(3, over.memory), T0 + timedelta(minutes=60))
    assert again.raise_alert and again.fingerprint == "watch-tox-20260301T1300Z"  # a new breach, a new incident


def test_playbook_watchers_are_checked() -> None:
    pb = parse_playbook(ROSTER + '[watchers.tox]\nservice = "support-bot"\nscore_names = ["toxicity"]\n'
                        'threshold = 0.8\nsignal = "toxicity"\n')
    assert pb.watchers["tox"].every_minutes == 5 and pb.watchers["tox"].signal == SignalKind.TOXICITY
    with pytest.raises(PlaybookError, match="score_names"):
        parse_playbook(ROSTER + '[watchers.tox]\nservice = "s"\nscore_names = []\nthreshold = 0.8\n')
    with pytest.raises(PlaybookError, match="schedule id"):
        parse_playbook(ROSTER + '[watchers."a b"]\nservice = "s"\nscore_names = ["t"]\nthreshold = 0.8\n')
    args = build_parser().parse_args(["watchers", "sync"])
    assert args.run.__name__ == "cmd_watchers_sync"


def _watch_playbook(tmp_path: Path, url: str, name: str) -> Path:
    return write_playbook(tmp_path, f"""
[watchers.{name}]
service = "support-bot"
signal = "toxicity"
score_names = ["toxicity", "guardrail_toxic"]
threshold = 0.8
min_count = 2
window_minutes = 15
base_url = "{url}"
""")


def _breaches(fake: FakeLangfuse, now: datetime, n: int, value: float = 0.93) -> None:
    for i in range(n):
        fake.add_score(name="toxicity", value=value, when=now - timedelta(minutes=1, seconds=i),
                       trace_id=uuid.uuid4().hex)


async def test_a_breach_opens_one_incident_and_later_runs_join_it(ts_env: WorkflowEnvironment, task_queue: str,
                                                                  tmp_path: Path, home: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"tox{uuid.uuid4().hex[:6]}"
    with fake_langfuse(monkeypatch) as fake:
        playbook = _watch_playbook(tmp_path, fake.url, name)
        async with worker(ts_env.client, task_queue, playbook, home):
            now = await ts_env.get_current_time()
            fake.add_score(name="toxicity", value=0.5, when=now - timedelta(minutes=2), trace_id="a" * 32)  # under
            _breaches(fake, now, 1)
            quiet = await run_watch(ts_env, task_queue, name, playbook)
            assert (quiet.count, quiet.decision.raise_alert, quiet.incident_workflow_id) == (1, False, None)

            _breaches(fake, now, 2)
            first = await run_watch(ts_env, task_queue, name, playbook)
            assert first.count == 3 and first.decision.raise_alert and first.incident_workflow_id
            incident = started(ts_env.client.get_workflow_handle(first.incident_workflow_id))
            state = await state_of(incident)
            assert state.detection.source == "langfuse" and state.detection.kind == SignalKind.TOXICITY
            assert state.detection.labels["watcher"] == name and state.alert_count == 1
            assert state.detection.metrics["breaches"] == 3.0

            repeat = await run_watch(ts_env, task_queue, name, playbook)  # the same window: nothing new to report
            assert not repeat.decision.raise_alert and repeat.incident_workflow_id is None

            await ts_env.sleep(timedelta(minutes=15))  # the breach goes on into the next window
            _breaches(fake, await ts_env.get_current_time(), 2)
            later = await run_watch(ts_env, task_queue, name, playbook)
            assert later.decision.raise_alert and later.incident_workflow_id == first.incident_workflow_id
            state = await state_of(incident)
            assert state.alert_count == 2
            requests = [r for r in fake.requests if r["path"] == "/api/public/v3/scores"]
            assert requests[0]["query"]["valueMin"] == "0.8" and requests[0]["query"]["dataType"] == "NUMERIC"
            assert requests[0]["query"]["name"] == "toxicity,guardrail_toxic"
            assert (home / "artefacts" / "_watchers" / f"{name}.json").exists()


async def _gone(client: Client, schedule: str) -> bool:
    try:
        await client.get_schedule_handle(schedule).describe()
    except RPCError:
        return True
    return False


async def test_sync_creates_updates_and_deletes_schedules(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    client, name = dev_env.client, f"tox{uuid.uuid4().hex[:6]}"
    body = (f'[watchers.{name}]\nservice = "support-bot"\nscore_names = ["toxicity"]\nthreshold = 0.8\n'
            'every_minutes = {every}\n')
    path = tmp_path / "playbook.toml"
    path.write_text(ROSTER + body.format(every=5), encoding="utf-8")
    env = {**os.environ, "TEMPORAL_ADDRESS": client.service_client.config.target_host,
           "FIREBREAK_TASK_QUEUE": "tq-watch-test"}
    try:
        cli = subprocess.run([str(Path(sys.executable).parent / "firebreak"), "--playbook", str(path), "watchers",
                              "sync"], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert (cli.returncode, cli.stdout) == (0, f"{schedule_id(name)}: created\n"), cli.stderr
        described = await client.get_schedule_handle(schedule_id(name)).describe()
        assert described.schedule.spec.intervals[0].every == timedelta(minutes=5)
        assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow) and action.workflow == "WatchWorkflow"
        assert action.task_queue == "tq-watch-test"

        assert (name, "updated") in await sync_watchers(client, parse_playbook(ROSTER + body.format(every=10)),
                                                        task_queue="tq-watch-test")
        described = await client.get_schedule_handle(schedule_id(name)).describe()
        assert described.schedule.spec.intervals[0].every == timedelta(minutes=10)

        empty = parse_playbook(ROSTER)
        for _ in range(50):  # the schedule list is eventually consistent: wait until it shows the schedule
            if (name, "deleted") in await sync_watchers(client, empty, task_queue="tq-watch-test"):
                break
            await asyncio.sleep(0.2)
        assert await _gone(client, schedule_id(name))
    finally:
        if not await _gone(client, schedule_id(name)):
            await client.get_schedule_handle(schedule_id(name)).delete()
