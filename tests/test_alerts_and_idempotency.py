"""Duplicate alerts count once; retried side effects happen once (tickets, comms archive)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from activities.communicate import CommunicateActivities
from activities.context import ActivityContext
from activities.detect import DetectActivities
from client.temporal import raise_detection
from integrations.artefacts import ArtefactStore
from playbook import search_attributes as sa
from playbook.messages import OpenedIncident, OpenIncidentInput, SendBrief, SendResult
from playbook.models import Detection, Severity
from tests.behaviour import (  # noqa: F401  (terminate_leftovers is an autouse fixture)
    approve_briefs_until,
    open_incident,
    read_jsonl,
    settle,
    started,
    terminate_leftovers,
    whats,
    worker,
)
from tests.support import activity_types, detection, recorder, wait_for, write_playbook
from workflows.incident import IncidentWorkflow


async def test_repeated_alerts_count_once_per_alert_id(ts_env: WorkflowEnvironment, task_queue: str,
                                                       tmp_path: Path, home: Path) -> None:
    playbook = write_playbook(tmp_path)
    async with worker(ts_env.client, task_queue, playbook, home):
        first = detection(alert_id="a-1")
        handle = started(await raise_detection(ts_env.client, first, task_queue=task_queue))
        await wait_for(handle, lambda s: s.ticket is not None)

        def again(alert_id: str, **changes: object) -> Detection:
            return first.model_copy(update={"alert_id": alert_id, **changes})

        for alert_id in ("a-1", "a-1", "a-2", "a-1", "a-2"):
            await handle.signal(IncidentWorkflow.alert, again(alert_id))
        await handle.signal(IncidentWorkflow.alert_batch, [again("a-3"), again("a-3"), again("a-1")])
        await handle.signal(IncidentWorkflow.alert, again("a-2", firing=False))  # resolved at the source: no count
        source_ack = again("a-3", labels={"pagerduty_event_action": "acknowledge"})
        await handle.signal(IncidentWorkflow.alert_batch, [source_ack, source_ack])  # recorded once, not counted
        state = await settle(handle)
        assert state.alert_count == 3 and state.seen_alert_ids == ["a-1", "a-2", "a-3"]
        assert [w for w in whats(state) if w.startswith("alert ")] == [
            "alert a-1 received", "alert a-2 received", "alert a-3 received", "alert a-2 resolved at the source",
            "alert a-3 acknowledged at the source"]
        assert state.acknowledged_at is None  # the sender's acknowledgement is not the incident commander's
        attrs = (await handle.describe()).typed_search_attributes
        assert attrs.get(sa.ALERT_COUNT) == 3

        # The same fingerprint through raise_detection joins the running incident (signal-with-start).
        joined = await raise_detection(ts_env.client, again("a-4"), task_queue=task_queue)
        repeat = await raise_detection(ts_env.client, again("a-1"), task_queue=task_queue)
        assert joined.id == repeat.id == handle.id
        assert joined.result_run_id == repeat.result_run_id == handle.result_run_id
        state = await settle(handle)
        assert state.alert_count == 4
        assert (await handle.describe()).typed_search_attributes.get(sa.ALERT_COUNT) == 4
        assert [w for w in whats(state) if w.startswith("incident opened")] == ["incident opened as SEV3"]


async def test_a_new_fingerprint_opens_a_separate_incident(ts_env: WorkflowEnvironment, task_queue: str,
                                                           tmp_path: Path, home: Path) -> None:
    playbook = write_playbook(tmp_path)
    async with worker(ts_env.client, task_queue, playbook, home) as ctx:
        # detection() gives each call a fresh fingerprint
        one = started(await raise_detection(ts_env.client, detection(), task_queue=task_queue))
        two = started(await raise_detection(ts_env.client, detection(), task_queue=task_queue))
        assert one.id != two.id
        numbers = {(await wait_for(h, lambda s: s.ticket is not None)).number for h in (one, two)}
        assert len(numbers) == 2
        assert sorted(p.parent.name for p in ctx.store.root.glob("*/ticket.json")) == sorted(numbers)  # type: ignore


async def test_a_ticket_created_by_an_attempt_that_then_failed_is_not_created_again(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path) -> None:
    playbook = write_playbook(tmp_path)
    store = ArtefactStore(home / "artefacts")
    real = DetectActivities(ActivityContext(store=store, playbook_path=playbook))
    attempts: list[int] = []

    @activity.defn(name="open_incident")
    async def flaky_open_incident(request: OpenIncidentInput) -> OpenedIncident:
        opened = real.open_incident(request)  # numbers the incident and, tickets being local, opens its ticket
        attempts.append(activity.info().attempt)
        if activity.info().attempt == 1:
            raise RuntimeError("worker lost after the ticket was written")
        return opened

    async with worker(ts_env.client, task_queue, playbook, home,
                               replace={"open_incident": flaky_open_incident}):
        handle, state = await open_incident(ts_env, task_queue, acknowledge=False)
        assert attempts == [1, 2]
        assert state.ticket is not None and state.ticket.key == state.number
        tickets = list(store.root.glob("*/ticket.json"))
        assert [p.parent.name for p in tickets] == [state.number]
        assert json.loads(tickets[0].read_text())["key"] == state.number
        assert list(store.numbers().values()) == [state.number]
        assert [w for w in whats(state) if w.startswith("ticket ")] == [f"ticket {state.number} created"]
        # One activity opens a local ticket with the incident (open-ticket-v1): no create_ticket.
        called = await activity_types(handle)
        assert called[0] == "open_incident" and "create_ticket" not in called


async def test_a_brief_archived_by_an_attempt_that_then_failed_is_archived_once(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path) -> None:
    with recorder() as stakeholders:
        playbook = write_playbook(tmp_path, f"""
[channels.stakeholders]
kind = "webhook"
url = "{stakeholders.url}/briefs"
[communicate]
channels = ["stakeholders"]
""")
        real = CommunicateActivities(ActivityContext(store=ArtefactStore(home / "artefacts"), playbook_path=playbook))
        attempts: list[tuple[int, str, int]] = []

        @activity.defn(name="send_brief")
        async def flaky_send_brief(request: SendBrief) -> SendResult:
            result = real.send_brief(request)
            attempts.append((request.brief.seq, request.channel, activity.info().attempt))
            if activity.info().attempt == 1:
                raise RuntimeError("worker lost after the brief was sent and archived")
            return result

        async with worker(ts_env.client, task_queue, playbook, home,
                                   replace={"send_brief": flaky_send_brief}) as ctx:
            handle, state = await open_incident(ts_env, task_queue, Severity.SEV1)
            assert state.acknowledged_at is not None
            await approve_briefs_until(handle, ts_env, state.acknowledged_at + timedelta(minutes=65))
            state = await wait_for(handle, lambda s: s.briefs_sent == 2, ts_env)

    assert sorted(attempts) == sorted((seq, ch, n) for seq in (1, 2) for ch in ("archive", "stakeholders")
                                      for n in (1, 2))
    assert [w for w in whats(state) if " sent to " in w] == [
        "brief #1 sent to archive, stakeholders", "brief #2 sent to archive, stakeholders"]
    comms = ctx.store.root / str(state.number) / "comms"
    assert sorted(p.name for p in comms.glob("*-brief.md")) == ["0001-brief.md", "0002-brief.md"]
    archive = read_jsonl(comms / "archive.jsonl")
    assert sorted((r["seq"], r["channel"]) for r in archive) == [(1, "archive"), (1, "stakeholders"),
                                                                  (2, "archive"), (2, "stakeholders")]
    # The webhook saw the retry, with the same Idempotency-Key both times, so a receiver can drop it.
    keys = [r["headers"]["Idempotency-Key"] for r in stakeholders.requests]
    assert len(keys) == 4 and len(set(keys)) == 2
    assert [json.loads(r["body"])["approved_by"] for r in stakeholders.requests] == ["sam"] * 4


async def test_briefs_after_a_storm_do_not_carry_its_alert_ids(ts_env: WorkflowEnvironment, task_queue: str,
                                                               tmp_path: Path, home: Path) -> None:
    async with worker(ts_env.client, task_queue, write_playbook(tmp_path), home):
        handle, state = await open_incident(ts_env, task_queue, severity=Severity.SEV1)
        fingerprint = state.detection.fingerprint
        await handle.signal(IncidentWorkflow.alert_batch, [
            detection(fingerprint=fingerprint, alert_id=f"storm-{i:04d}") for i in range(500)])
        await wait_for(handle, lambda s: s.alert_count == 501)
        assert state.acknowledged_at is not None
        await approve_briefs_until(handle, ts_env, state.acknowledged_at + timedelta(minutes=35))
        inputs = [event.activity_task_scheduled_event_attributes.input.payloads[0].data
                  async for event in handle.fetch_history_events()
                  if event.activity_task_scheduled_event_attributes.activity_type.name == "draft_brief"]
        assert len(inputs) == 1
        brief_input = json.loads(inputs[0])
        assert brief_input["state"]["alert_count"] == 501 and brief_input["state"]["seen_alert_ids"] == []
        assert b"storm-0499" not in inputs[0]
