"""The latency, cost, agent-loop and data-exposure watchers: their playbook checks and decisions, and watch runs on
the time-skipping server reading the fake Langfuse through the real SDK (Metrics API v2, Observations API v2).

Each watcher fires once for a breach, not again on the next run (the memory file carries it across worker
restarts), and not at all when a page fails mid-pagination; a data-exposure Detection never carries the data.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from cli import build_parser
from client.schedules import watcher_schedule
from playbook.config import MetricWatcher, PlaybookError, parse_playbook
from playbook.models import SignalKind
from playbook.watch import WatchCount, WatchMemory, decide
from tests.behaviour import run_watch, started, terminate_leftovers, worker  # noqa: F401
from tests.fake_langfuse import FakeLangfuse, fake_langfuse
from tests.support import ROSTER, state_of, wait_for, write_playbook
from workflows.incident import IncidentWorkflow

T0 = datetime(2026, 3, 1, 12, 1, tzinfo=UTC)
PII = ["jane.doe@example.com", "+44 20 7946 0958", "4111 1111 1111 1111", "sk-proj-AbCdEf0123456789xyzXYZ"]


# ---------------------------------------------------------------------------------------------- playbook


def _watcher(body: str) -> None:
    parse_playbook(ROSTER + "[watchers.w]\nservice = \"support-bot\"\n" + body)


def test_the_new_kinds_load_with_their_defaults_and_mistakes_are_named() -> None:
    pb = parse_playbook(ROSTER + """
[watchers.slow]
kind = "latency_spike"
service = "support-bot"
above = 8000
[watchers.spend]
kind = "cost_spike"
service = "support-bot"
ratio = 3
[watchers.loops]
kind = "agent_loop"
service = "agent-api"
observation_types = ["tool"]
[watchers.pii]
kind = "data_exposure"
service = "support-bot"
[watchers.tox]
service = "support-bot"
score_names = ["toxicity"]
threshold = 0.8
""")
    slow, spend = pb.watchers["slow"], pb.watchers["spend"]
    assert isinstance(slow, MetricWatcher) and (slow.measure, slow.aggregation) == ("latency", "p95")
    assert isinstance(spend, MetricWatcher) and (spend.measure, spend.aggregation) == ("totalCost", "sum")
    assert slow.signal == SignalKind.LATENCY_SPIKE and spend.signal == SignalKind.COST_SPIKE
    assert pb.watchers["loops"].signal == SignalKind.AGENT_LOOP
    assert pb.watchers["loops"].observation_types == ["TOOL"]  # type: ignore[union-attr]
    assert pb.watchers["pii"].signal == SignalKind.PII_IN_LOGS
    assert pb.watchers["tox"].kind == "guardrail_scores"  # no kind: the guardrail watcher, as before
    for body, reason in [
        ('kind = "cost_spike"\n', "give 'above'"),
        ('kind = "cost_spike"\nabove = 1\nmeasure = "latency"\n', "does not fit kind"),
        ('kind = "cost_spike"\nabove = 1\naggregation = "p95"\n', "sums its measure"),
        ('kind = "latency_spike"\nratio = 1\n', "greater than 1"),
        ('kind = "latency_spike"\nabove = 1\nobservation_type = "LLM"\n', "unknown observation_type"),
        ('kind = "agent_loop"\nobservation_types = ["TOOLS"]\n', "unknown observation type"),
        ('kind = "data_exposure"\npii_kinds = ["SSN"]\n', "unknown PII kind"),
        ('kind = "data_exposure"\nscore_names = ["x"]\n', "score_names"),
        ('kind = "sentiment"\n', "does not match any of the expected tags"),
    ]:
        with pytest.raises(PlaybookError, match=reason):
            _watcher(body)


def test_the_playbooks_commented_examples_load_and_make_schedules() -> None:
    """The examples in playbook.toml are true to the code: uncommented, they load, and each watcher gets a
    schedule whose note says what it watches."""
    text = (Path(__file__).resolve().parent.parent / "playbook.toml").read_text(encoding="utf-8")
    blocks = re.findall(r"#   \[(?:watchers|evidence)\.[^\n]*\n(?:#   [^\[][^\n]*\n)*", text)
    examples = "\n".join(line[4:] for block in blocks for line in block.splitlines())
    pb = parse_playbook(text + "\n" + examples)
    assert {w.kind for w in pb.watchers.values()} == {"guardrail_scores", "latency_spike", "cost_spike",
                                                      "agent_loop", "data_exposure", "training_data"}
    assert pb.evidence["prompt_deploys"].kind == "deploys" and pb.evidence["evals"].kind == "promptfoo"
    notes = {name: watcher_schedule(name, w).state.note for name, w in pb.watchers.items()}
    assert notes["support_latency"] == ("Firebreak watcher support_latency (latency_spike): latency_p95_ms > 8000 "
                                        "and >= 3x baseline on support-bot")
    assert notes["agent_spend"] and "cost_per_minute_usd > 5" in notes["agent_spend"]


def test_a_metric_breach_needs_enough_data_and_every_limit_given() -> None:
    w = MetricWatcher(kind="latency_spike", service="s", above=5000, ratio=3, min_observations=10)

    def run(value: float | None, count: int, baseline: float | None) -> tuple[bool, str]:
        d = decide("slow", w, WatchCount(count=count, value=value, baseline=baseline, memory=WatchMemory()), T0)
        return d.raise_alert, d.reason

    assert run(9000, 30, 1500) == (True, "latency_p95_ms 9000: over 5000 and 6.00x the baseline 1500")
    assert run(9000, 5, 1500)[1] == "5 observation(s), fewer than 10; no judgement"
    assert run(4000, 30, 500)[1] == "latency_p95_ms 4000 not over 5000"
    assert run(9000, 30, 4000)[1] == "latency_p95_ms 9000 is 2.25x the baseline 4000"
    assert run(9000, 30, None)[1] == "latency_p95_ms 9000; no baseline to compare with"
    assert run(None, 0, None)[0] is False


# ---------------------------------------------------------------------------------------------- watch runs


def _playbook(tmp_path: Path, fake: FakeLangfuse, name: str, body: str) -> Path:
    return write_playbook(tmp_path, f'[watchers.{name}]\nservice = "support-bot"\nbase_url = "{fake.url}"\n{body}')


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _memory(home: Path, name: str) -> WatchMemory:
    return WatchMemory.model_validate_json((home / "artefacts" / "_watchers" / f"{name}.json").read_text())


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLangfuse]:
    with fake_langfuse(monkeypatch) as server:
        yield server


async def test_latency_and_cost_spikes_fire_once_with_their_metrics(ts_env: WorkflowEnvironment, task_queue: str,
                                                                    tmp_path: Path, home: Path,
                                                                    fake: FakeLangfuse) -> None:
    slow, spend = f"slow{uuid.uuid4().hex[:6]}", f"spend{uuid.uuid4().hex[:6]}"
    playbook = write_playbook(tmp_path, f"""
[watchers.{slow}]
kind = "latency_spike"
service = "support-bot"
above = 5000
min_observations = 10
severity_hint = "SEV2"
base_url = "{fake.url}"
[watchers.{spend}]
kind = "cost_spike"
service = "agent-api"
ratio = 4
above = 0.5
min_observations = 10
baseline_minutes = 360
base_url = "{fake.url}"
""")
    async with worker(ts_env.client, task_queue, playbook, home):
        now = await ts_env.get_current_time()
        hour_start = datetime.fromtimestamp(int((now - timedelta(minutes=15)).timestamp()) // 3600 * 3600, UTC)
        for hour in range(1, 6):  # the baseline: $0.10 an hour in the clock hours before the window's, fast traces
            for i in range(4):
                fake.add_span(trace_id=uuid.uuid4().hex, start=hour_start - timedelta(hours=hour, minutes=-10 - i),
                              latency_ms=1200, cost=0.025, root=True, tokens=100)
        quiet = await run_watch(ts_env, task_queue, slow, playbook)
        assert not quiet.decision.raise_alert and "fewer than 10" in quiet.decision.reason

        for i in range(12):  # the spike: slow traces costing $1 each, 12 in the last 15 minutes
            fake.add_span(trace_id=uuid.uuid4().hex, start=now - timedelta(minutes=2, seconds=i), latency_ms=9000,
                          cost=1.0, root=True, tokens=4000)
        fake.fail_paths["/api/public/v2/metrics"] = 1  # Langfuse fails once: Temporal retries the read
        latency = await run_watch(ts_env, task_queue, slow, playbook)
        assert latency.decision.raise_alert and latency.incident_workflow_id and latency.value == 9000
        assert fake.fail_paths["/api/public/v2/metrics"] == 0
        state = await wait_for(started(ts_env.client.get_workflow_handle(latency.incident_workflow_id)),
                               lambda s: s.ticket is not None)
        assert state.detection.kind == SignalKind.LATENCY_SPIKE and state.detection.source == "langfuse"
        assert state.detection.metrics["latency_p95_ms"] == 9000 and state.detection.metrics["threshold"] == 5000
        assert state.severity.value == "SEV2"

        cost = await run_watch(ts_env, task_queue, spend, playbook)
        assert cost.decision.raise_alert and cost.incident_workflow_id
        state = await state_of(started(ts_env.client.get_workflow_handle(cost.incident_workflow_id)))
        metrics = state.detection.metrics
        assert state.detection.kind == SignalKind.COST_SPIKE and state.detection.services == ["agent-api"]
        assert metrics["cost_per_minute_usd"] == pytest.approx(12 / 15)
        assert metrics["baseline_cost_per_minute_usd"] == pytest.approx(0.1 / 60)
        assert metrics["ratio_to_baseline"] > 4

        assert not (await run_watch(ts_env, task_queue, slow, playbook)).decision.raise_alert  # the same window
        assert not (await run_watch(ts_env, task_queue, spend, playbook)).decision.raise_alert
        queries = [json.loads(r["query"]["query"]) for r in fake.requests if r["path"] == "/api/public/v2/metrics"]
        window, baseline = queries[-2], queries[-1]  # the cost watcher's last run
        assert window["view"] == "observations" and "timeDimension" not in window
        assert window["metrics"] == [{"measure": "totalCost", "aggregation": "sum"},
                                     {"measure": "count", "aggregation": "count"}]
        assert baseline["timeDimension"] == {"granularity": "hour"}
        assert baseline["toTimestamp"] == hour_start.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # whole hours only
        assert _time(baseline["toTimestamp"]) - _time(baseline["fromTimestamp"]) == timedelta(hours=6)
        assert {"column": "isRootObservation", "operator": "=", "value": True, "type": "boolean"} in queries[0][
            "filters"]  # latency: whole traces


async def test_agent_loop_fires_once_per_trace_and_never_on_a_half_read(ts_env: WorkflowEnvironment,
                                                                        task_queue: str, tmp_path: Path, home: Path,
                                                                        fake: FakeLangfuse,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    name = f"loops{uuid.uuid4().hex[:6]}"
    playbook = _playbook(tmp_path, fake, name, 'kind = "agent_loop"\nmax_repeats = 20\nmin_traces = 1\n')
    async with worker(ts_env.client, task_queue, playbook, home):
        now = await ts_env.get_current_time()
        looping = "a" * 32
        for i in range(1100):  # two pages of 1000: the busy fleet, each trace calling a tool a few times
            fake.add_span(trace_id=f"{i // 4:032x}", start=now - timedelta(minutes=10, seconds=i / 10), type="TOOL",
                          name="search")
        for i in range(25):  # one trace calling the same tool 25 times, its calls on the second page
            fake.add_span(trace_id=looping, start=now - timedelta(minutes=1, seconds=i), type="TOOL",
                          name="search")
        fake.add_span(trace_id="b" * 32, start=now - timedelta(minutes=1), type="GENERATION", name="llm")

        fake.fail_cursor_pages = 3  # every attempt's second page fails
        with pytest.raises(WorkflowFailureError):
            await run_watch(ts_env, task_queue, name, playbook)
        memory = _memory(home, name)
        assert memory.failures == 1 and "503" in (memory.last_error or "") and not memory.reported
        pages = [bool(r["query"].get("cursor")) for r in fake.requests if r["path"] == "/api/public/v2/observations"]
        assert pages == [False, True] * 3  # each attempt starts again from the first page; none decided on one
        status = build_parser().parse_args(["--playbook", str(playbook), "watchers", "status", "--json"])
        assert status.run(status) == 1  # `firebreak watchers status` says it is failing, and why
        shown = json.loads(capsys.readouterr().out)
        assert shown[0]["failures"] == 1 and "503" in shown[0]["last_error"] and shown[0]["kind"] == "agent_loop"

        fake.fail_cursor_pages = 1  # the first attempt fails on its second page, the retry reads it all
        first = await run_watch(ts_env, task_queue, name, playbook)
        assert first.decision.raise_alert and first.count == 1 and first.incident_workflow_id
        state = await state_of(started(ts_env.client.get_workflow_handle(first.incident_workflow_id)))
        assert state.detection.kind == SignalKind.AGENT_LOOP and state.detection.metrics["looping_traces"] == 1
        assert state.detection.metrics["max_repeats_seen"] >= 25
        assert state.detection.links == [f"langfuse-trace:{looping}"]
        assert state.detection.labels["looping"].startswith("TOOL search x")
        assert _memory(home, name).failures == 0 and _memory(home, name).traces == [looping]
        assert status.run(status) == 0 and json.loads(capsys.readouterr().out)[0]["episode"]
        flt = json.loads(next(r for r in fake.requests if r["path"] == "/api/public/v2/observations")["query"][
            "filter"])
        assert {"type": "stringOptions", "column": "type", "operator": "any of", "value": ["TOOL", "AGENT"]} in flt

    async with worker(ts_env.client, task_queue, playbook, home):  # a new worker: the memory file carries on
        await ts_env.sleep(timedelta(minutes=15))  # a new window: the same trace loops on, and is not news
        now = await ts_env.get_current_time()
        for i in range(25):
            fake.add_span(trace_id=looping, start=now - timedelta(minutes=1, seconds=i), type="TOOL",
                          name="search")
        again = await run_watch(ts_env, task_queue, name, playbook)
        assert not again.decision.raise_alert and again.count == 0
        for i in range(21):  # another trace starts looping: the same breach, a new alert on the same incident
            fake.add_span(trace_id="c" * 32, start=now - timedelta(minutes=1, seconds=i), type="AGENT", name="plan")
        later = await run_watch(ts_env, task_queue, name, playbook)
        assert later.decision.raise_alert and later.incident_workflow_id == first.incident_workflow_id
        started(ts_env.client.get_workflow_handle(later.incident_workflow_id))  # a new run: the old one was ended


async def test_data_exposure_reports_counts_never_the_data(ts_env: WorkflowEnvironment, task_queue: str,
                                                           tmp_path: Path, home: Path, fake: FakeLangfuse) -> None:
    name = f"pii{uuid.uuid4().hex[:6]}"
    playbook = _playbook(tmp_path, fake, name, 'kind = "data_exposure"\npii_kinds = ["EMAIL", "CARD", "SECRET"]\n'
                         '[[severity.rules]]\nkinds = ["pii_in_logs"]\nseverity = "SEV1"\n')
    async with worker(ts_env.client, task_queue, playbook, home):
        now = await ts_env.get_current_time()
        for i in range(5):
            fake.add_observation(trace_id=f"{i:032x}", start=now - timedelta(minutes=3), input="what is my balance?",
                                 output=f"call {PII[1]}")  # a phone number: not a watched kind
        quiet = await run_watch(ts_env, task_queue, name, playbook)
        assert not quiet.decision.raise_alert and quiet.count == 0

        fake.add_observation(trace_id="d" * 32, start=now - timedelta(minutes=2), input=f"I am {PII[0]}",
                             output=f"your card {PII[2]} and key {PII[3]}")
        fake.add_observation(trace_id="e" * 32, start=now - timedelta(minutes=2), output=f"mail {PII[0]}")
        found = await run_watch(ts_env, task_queue, name, playbook)
        assert found.decision.raise_alert and found.count == 2 and found.incident_workflow_id
        incident = started(ts_env.client.get_workflow_handle(found.incident_workflow_id))
        state = await wait_for(incident, lambda s: s.ticket is not None)
        det = state.detection
        assert det.kind == SignalKind.PII_IN_LOGS and det.labels["pii_kinds"] == "CARD,EMAIL,SECRET"
        assert det.metrics["pii_traces"] == 2 and det.metrics["pii_email"] == 2 and det.metrics["pii_card"] == 1
        assert det.metrics["traces_read"] == 7 and state.severity.value == "SEV1"  # the playbook's data rule
        assert sorted(det.links) == [f"langfuse-trace:{'d' * 32}", f"langfuse-trace:{'e' * 32}"]

        again = await run_watch(ts_env, task_queue, name, playbook)  # the same traces are not reported twice
        assert not again.decision.raise_alert and again.count == 0

        timeline = await incident.query(IncidentWorkflow.get_timeline)
        seen = [state.model_dump_json(), json.dumps([e.model_dump(mode="json") for e in timeline]),
                found.model_dump_json(), (home / "artefacts" / "_watchers" / f"{name}.json").read_text()]
        seen += [p.read_text(errors="replace") for p in (home / "artefacts").rglob("*") if p.is_file()]
        history = await ts_env.client.get_workflow_handle(found.incident_workflow_id).fetch_history()
        seen.append(b"".join(e.SerializeToString() for e in history.events).decode(errors="replace"))  # payloads raw
        for text in seen:
            for raw in PII:
                assert raw not in text
