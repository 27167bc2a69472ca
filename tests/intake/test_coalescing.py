"""Group commit: concurrent alerts for one incident ride in one Temporal call; each waits for that call."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from intake.coalesce import Coalescer, Sent
from playbook.models import Detection, SignalKind
from tests.intake.support import AM_TOKEN, Running, am_alert, am_message, bearer
from tests.support import wait_for


def _det(alert_id: str, firing: bool = True) -> Detection:
    return Detection(kind=SignalKind.TOXICITY, services=["s"], fingerprint="fp", alert_id=alert_id, firing=firing)


class FakeTemporal:
    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[tuple[str, list[str], bool]] = []
        self.gate = asyncio.Event()
        self.fail_first = fail_first

    async def send(self, key: str, detections: list[Detection], start: bool) -> str:
        self.calls.append((key, [d.identity() for d in detections], start))
        await self.gate.wait()
        if len(self.calls) <= self.fail_first:
            raise ConnectionError("temporal unavailable")
        return "recorded" if start else "no_incident"


async def test_requests_arriving_during_a_call_share_the_next_call() -> None:
    fake = FakeTemporal()
    co = Coalescer(fake.send, min_interval=0)
    tasks = [asyncio.create_task(co.submit("k", [_det("a0")]))]
    await asyncio.sleep(0.01)
    tasks += [asyncio.create_task(co.submit("k", [_det(f"a{i % 10}")])) for i in range(1, 50)]
    await asyncio.sleep(0.01)
    assert len(fake.calls) == 1 and not any(t.done() for t in tasks)  # nobody is answered before the call returns
    fake.gate.set()
    assert await asyncio.gather(*tasks) == ["recorded"] * 50
    assert len(fake.calls) == 2
    assert sorted(fake.calls[1][1]) == sorted({f"a{i % 10}" for i in range(1, 50)})  # repeats travel once


async def test_a_failed_call_fails_every_request_it_carried_and_the_next_call_proceeds() -> None:
    fake = FakeTemporal(fail_first=1)
    co = Coalescer(fake.send, min_interval=0)
    first = asyncio.create_task(co.submit("k", [_det("a")]))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(co.submit("k", [_det("b")]))
    fake.gate.set()
    with pytest.raises(ConnectionError):
        await first
    assert await second == "recorded"


async def test_big_requests_are_split_and_answered_after_every_part() -> None:
    fake = FakeTemporal()
    fake.gate.set()
    co = Coalescer(fake.send, max_batch=100, min_interval=0)
    assert await co.submit("k", [_det(f"a{i}") for i in range(250)]) == "recorded"
    assert [len(c[1]) for c in fake.calls] == [100, 100, 50]


async def test_resolves_alone_never_start_and_interval_bounds_the_call_rate() -> None:
    fake = FakeTemporal()
    fake.gate.set()
    co = Coalescer(fake.send, min_interval=0.1)
    assert await co.submit("k", [_det("a", firing=False)], start=False) == "no_incident"
    started = time.monotonic()
    assert await co.submit("k", [_det("b")]) == "recorded"
    assert time.monotonic() - started >= 0.09
    assert [c[2] for c in fake.calls] == [False, True]
    assert await co.submit("other", [_det("c")]) == "recorded"  # other incidents do not wait


async def test_storm_through_http_is_one_incident_counted_by_alert_id(api: Running, worker: None,
                                                                       dev_env: WorkflowEnvironment) -> None:
    group_key = f'{{}}:{{alertname="Storm", run="{uuid.uuid4().hex}"}}'
    distinct = 150
    bodies = [am_message([am_alert(f"{i % distinct:016x}")], group_key=group_key) for i in range(600)]
    sem = asyncio.Semaphore(100)

    async def post(body: dict) -> int:  # type: ignore[type-arg]
        async with sem:
            r = await api.http.post("/v1/alerts/alertmanager", json=body, headers=bearer(AM_TOKEN))
            return r.status_code

    stats = api.app.state.intake.coalescer.stats
    calls_before = stats.calls
    assert await asyncio.gather(*(post(b) for b in bodies)) == [202] * len(bodies)
    calls = stats.calls - calls_before
    assert calls < len(bodies) / 5, f"{calls} Temporal calls for {len(bodies)} requests"
    r = await api.http.post("/v1/alerts/alertmanager", json=bodies[0], headers=bearer(AM_TOKEN))
    handle = dev_env.client.get_workflow_handle(r.json()["incidents"][0]["workflow_id"])
    state = await wait_for(handle, lambda s: s.alert_count == distinct)
    assert len(set(state.seen_alert_ids)) == distinct
    events = [e async for e in handle.fetch_history_events()]
    assert len(events) < 400, len(events)


class FakeRuns:
    """Temporal as the coalescer sees it with run ids: signal-with-start answers the run it reached (a new one when
    none runs), describe the running one. `close()` is the incident ending."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.run: str | None = None
        self.runs = 0

    async def send(self, key: str, detections: list[Detection], start: bool) -> Sent:
        self.calls.append([d.identity() for d in detections])
        if self.run is None:
            self.runs += 1
            self.run = f"run-{self.runs}"
        return Sent("recorded", self.run)

    async def running(self, key: str) -> str | None:
        return self.run

    def close(self) -> None:
        self.run = None


def _sent_as(alert_id: str) -> Detection:
    return _det(alert_id).model_copy(update={"detected_at": datetime(2026, 11, 27, 10, 42, tzinfo=UTC)})


async def test_a_repeat_the_running_incident_holds_needs_no_call_and_a_closed_one_gets_it_again() -> None:
    fake = FakeRuns()
    # A sender's repeat is the same alert to the byte (Alertmanager re-sends startsAt; a Detection's default
    # detected_at is the time it was built)
    co = Coalescer(fake.send, min_interval=0, running=fake.running)
    assert await co.submit("k", [_sent_as("a"), _sent_as("b")]) == "recorded"
    assert await co.submit("k", [_sent_as("a")]) == "recorded"  # held by the running run: answered, nothing sent
    assert await co.submit("k", [_sent_as("b"), _sent_as("c")]) == "recorded"  # only the new alert travels
    assert fake.calls == [["a", "b"], ["c"]] and co.stats.repeats_skipped == 2
    changed = _sent_as("a").model_copy(update={"summary": "another text"})
    assert await co.submit("k", [changed]) == "recorded"  # not the same alert as sent: it travels
    assert fake.calls[-1] == ["a"]
    fake.close()  # the incident closed: a repeat opens a new one, as without the intake's memory
    assert await co.submit("k", [_sent_as("b")]) == "recorded"
    assert fake.calls[-1] == ["b"] and fake.run == "run-2"
    fake.close()  # closed again; a batch with a new alert reaches a new run, and the repeats follow it there
    assert await co.submit("k", [_sent_as("b"), _sent_as("d")]) == "recorded"
    assert fake.calls[-2:] == [["d"], ["b"]] and fake.run == "run-3"


async def test_a_repeat_after_its_incident_ended_opens_a_new_one(api: Running, worker: None,
                                                                  dev_env: WorkflowEnvironment) -> None:
    body = am_message([am_alert("00000000000000aa")])
    first = await api.http.post("/v1/alerts/alertmanager", json=body, headers=bearer(AM_TOKEN))
    handle = dev_env.client.get_workflow_handle(first.json()["incidents"][0]["workflow_id"])
    run_id = (await handle.describe()).run_id
    calls = api.app.state.intake.coalescer.stats.calls
    again = await api.http.post("/v1/alerts/alertmanager", json=body, headers=bearer(AM_TOKEN))
    assert again.status_code == 202 and api.app.state.intake.coalescer.stats.calls == calls  # no call carried it
    await handle.terminate("the incident ended")
    third = await api.http.post("/v1/alerts/alertmanager", json=body, headers=bearer(AM_TOKEN))
    assert third.status_code == 202
    reopened = await dev_env.client.get_workflow_handle(handle.id).describe()
    assert reopened.run_id != run_id and reopened.status == WorkflowExecutionStatus.RUNNING
    state = await wait_for(dev_env.client.get_workflow_handle(handle.id), lambda s: s.alert_count == 1)
    assert state.seen_alert_ids == [state.seen_alert_ids[0]]
