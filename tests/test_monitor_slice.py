"""Reading a Langfuse monitor's slice back from its Detection (integrations/langfuse/monitor_slice.py): another
project's monitor and a scores monitor say what was pulled instead, the filters Observations v2 cannot take are
left out and listed, and the window holds the whole window the monitor evaluated. The monitor alerts are built as
Langfuse's worker builds them (tests/intake/test_langfuse_monitors.py) and filed by the intake's own code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.context import ActivityContext
from activities.investigate import InvestigateActivities
from intake.config import LabelMapping
from intake.langfuse_monitors import MonitorAlertEvent, monitor_detection
from integrations.artefacts import ArtefactStore
from integrations.langfuse.evidence import blast_window, slice_record
from integrations.langfuse.monitor_series import fitting_granularity
from integrations.langfuse.monitor_slice import monitor_slice, observation_filters
from playbook.config import EvidenceSource
from playbook.messages import EvidenceInput, EvidencePack
from playbook.redact import outbound
from tests.fake_langfuse import PROJECT, FakeLangfuse, fake_langfuse
from tests.intake.test_langfuse_monitors import LATENCY_FILTERS, monitor_alert
from tests.intake.test_monitor_evidence import seed


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLangfuse]:
    with fake_langfuse(monkeypatch) as server:
        yield server


def _collect(fake: FakeLangfuse, tmp_path: Path, body: bytes, **fields: Any) -> EvidencePack:
    ctx = ActivityContext(store=ArtefactStore(tmp_path / "artefacts"), playbook_path=tmp_path / "playbook.toml")
    detection = monitor_detection(MonitorAlertEvent.model_validate_json(body), LabelMapping())
    source = EvidenceSource.model_validate({"kind": "langfuse", "base_url": fake.url, "trace_name": "support-bot",
                                            **fields})
    return ActivityEnvironment().run(InvestigateActivities(ctx).collect_evidence, EvidenceInput(
        incident_number="INC-5", workflow_id="incident-m", detection=detection, sources={"lf": source},
        variables={"service": "support-bot"}))


def test_another_projects_monitor_and_a_scores_monitor_say_what_they_pulled(fake: FakeLangfuse,
                                                                           tmp_path: Path) -> None:
    run_at = datetime.now(UTC) - timedelta(minutes=2)
    in_slice = seed(fake, run_at - timedelta(minutes=15, seconds=30))
    # A monitor of another Langfuse project: its filters would select nothing it saw; the source's own scope.
    pack = _collect(fake, tmp_path / "a", monitor_alert("ALERT", "clmonother", run_at, project="clotherproject"))
    radius = next(i for i in pack.items if i.name == "lf.blast_radius.json")
    assert radius.summary == ("blast radius: 7 trace(s), 0 user(s), 0 session(s) in the window (monitor Support bot "
                              "latency not followed: the monitor is in Langfuse project clotherproject, this source's "
                              f"keys read {PROJECT})")
    series = next(i for i in pack.items if i.name == "lf.series.json")
    assert series.summary and series.summary.startswith("cost/latency per minute: peak p95 latency 20000 ms")
    # A scores monitor: the score it watches is pulled; the observations stay the source's scope, and say why.
    for i, trace in enumerate(in_slice):
        fake.add_score(name="toxicity", value=0.9, when=run_at - timedelta(minutes=5 + i), trace_id=trace)
    body = monitor_alert("ALERT", "clmontox", run_at, name="Toxic answers", view="scores-numeric",
                         aggregation="avg", measure="value", threshold=0.8, project=PROJECT,
                         filters=[{"column": "name", "operator": "any of", "value": ["toxicity"],
                                   "type": "stringOptions"}])
    pack = _collect(fake, tmp_path / "b", body)
    radius_item = next(i for i in pack.items if i.name == "lf.blast_radius.json")
    radius = json.loads((tmp_path / "b" / "artefacts" / "INC-5" / "evidence" / "lf.blast_radius.json").read_text())
    assert radius["scores"] == {"toxicity": {"count": 4, "mean": 0.9, "max": 0.9}}
    assert radius_item.summary and radius_item.summary.endswith(
        "(monitor Toxic answers not followed: a scores-numeric monitor: its score is pulled, the observations are "
        "the source's own scope)")


def test_what_observations_v2_cannot_take_is_left_out_and_said() -> None:
    filters: list[dict[str, Any]] = [
        *LATENCY_FILTERS,
        {"column": "promptVersion", "operator": "any of", "value": ["7"], "type": "stringOptions"},
        {"column": "promptVersion", "operator": "none of", "value": ["3"], "type": "stringOptions"},
        {"column": "traceRelease", "operator": "=", "value": "v2", "type": "string"}]
    body = monitor_alert("ALERT", "clmon1", datetime.now(UTC), filters=filters)
    scope = monitor_slice(monitor_detection(MonitorAlertEvent.model_validate_json(body), LabelMapping()))
    assert scope is not None and scope.usable
    kept, left_out = observation_filters(scope)
    assert kept == [*LATENCY_FILTERS, {"type": "number", "column": "promptVersion", "operator": "=", "value": 7}]
    assert left_out == filters[-2:]  # a number column has no negation; traceRelease is no observations column
    # A value that looks like personal data is redacted on the way into Temporal (workflows/client.py redacts the
    # Detection with `outbound`): it can select nothing, so it is left out of every read and listed.
    person = {"column": "userId", "operator": "=", "value": "jane.doe@example.com", "type": "string"}
    body = monitor_alert("ALERT", "clmon1", datetime.now(UTC), filters=[*LATENCY_FILTERS, person])
    detection = outbound(monitor_detection(MonitorAlertEvent.model_validate_json(body), LabelMapping()),
                         keep=("fingerprint", "alert_id", "detected_at"))
    scope = monitor_slice(detection)
    assert scope is not None and scope.applicable() == LATENCY_FILTERS
    assert observation_filters(scope) == (LATENCY_FILTERS, [])
    record = slice_record(scope)
    assert record is not None and record["filters_redacted_on_the_way_in"] == [{**person, "value": "[REDACTED:EMAIL]"}]
    raw = json.loads(body)
    raw["payload"]["filters"] = [{"column": "metadata", "key": f"k{i}", "operator": "=", "value": "x" * 40,
                                  "type": "stringObject"} for i in range(60)]
    too_long = monitor_detection(MonitorAlertEvent.model_validate(raw), LabelMapping())
    scope = monitor_slice(too_long)
    assert scope is not None and not scope.usable
    assert scope.ignored == "the monitor's filters were too long to carry in the alert"


def test_the_window_holds_the_whole_window_the_monitor_evaluated() -> None:
    """A "1d" monitor evaluated a day; the source looks back an hour: the pull and the series cover the day, in
    buckets one answer can hold."""
    run_at = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)
    body = monitor_alert("ALERT", "clmonday", run_at, window="1d")
    scope = monitor_slice(monitor_detection(MonitorAlertEvent.model_validate_json(body), LabelMapping()))
    source = EvidenceSource(kind="langfuse", lookback_minutes=60)
    window = blast_window(source, run_at, run_at + timedelta(minutes=5), scope)
    assert window.start == run_at - timedelta(days=1, seconds=30)
    assert blast_window(source, run_at, run_at + timedelta(minutes=5)).start == run_at - timedelta(hours=1)
    assert fitting_granularity(window, "minute") == "hour"
    assert fitting_granularity(blast_window(source, run_at, run_at, None), "minute") == "minute"
