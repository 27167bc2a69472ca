"""Latency and cost watchers on Metrics v2 answers as Langfuse gives them (tests/fake_langfuse_metrics.py:
`<aggregation>_<measure>` columns, every hour of the baseline filled with zeros, counts as strings from an older
ClickHouse), run as a schedule tick runs them: WatchWorkflow on the time-skipping server, the real worker and the
real SDK."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.behaviour import run_watch, started, terminate_leftovers, worker  # noqa: F401
from tests.fake_langfuse import FakeLangfuse, fake_langfuse
from tests.support import state_of, write_playbook


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLangfuse]:
    with fake_langfuse(monkeypatch) as server:
        yield server


def _playbook(tmp_path: Path, fake: FakeLangfuse, slow: str, tokens: str) -> Path:
    return write_playbook(tmp_path, f"""
[watchers.{slow}]
kind = "latency_spike"
service = "support-bot"
ratio = 3
min_observations = 5
baseline_minutes = 360
base_url = "{fake.url}"
[watchers.{tokens}]
kind = "cost_spike"
service = "agent-api"
measure = "totalTokens"
ratio = 3
min_observations = 5
baseline_minutes = 360
base_url = "{fake.url}"
""")


def _seed(fake: FakeLangfuse, now: datetime) -> None:
    """Traffic in two of the six baseline hours (the other four come back filled with zeros) and a spike now."""
    hour_start = datetime.fromtimestamp(int((now - timedelta(minutes=15)).timestamp()) // 3600 * 3600, UTC)
    for hours_back, latency, tokens in ((2, 1000, 600), (5, 1400, 1200)):
        for i in range(4):
            fake.add_span(trace_id=uuid.uuid4().hex, start=hour_start - timedelta(hours=hours_back, minutes=-10 - i),
                          latency_ms=latency, tokens=tokens, root=True)
    for i in range(10):
        fake.add_span(trace_id=uuid.uuid4().hex, start=now - timedelta(minutes=3, seconds=i), latency_ms=9000,
                      tokens=4000, root=True)


async def test_spikes_fire_from_filled_series_and_empty_hours_are_no_baseline(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path, fake: FakeLangfuse) -> None:
    slow, tokens = f"slow{uuid.uuid4().hex[:6]}", f"tokens{uuid.uuid4().hex[:6]}"
    playbook = _playbook(tmp_path, fake, slow, tokens)
    fake.quote_64bit_integers = True  # Langfuse on ClickHouse before 25.8: counts and token sums as strings
    async with worker(ts_env.client, task_queue, playbook, home):
        _seed(fake, await ts_env.get_current_time())
        latency = await run_watch(ts_env, task_queue, slow, playbook)
        assert latency.decision.raise_alert and latency.value == 9000, latency.decision.reason
        assert latency.decision.reason == "latency_p95_ms 9000: 7.50x the baseline 1200"  # the median of 1000, 1400
        state = await state_of(started(ts_env.client.get_workflow_handle(latency.incident_workflow_id or "")))
        assert state.detection.metrics["baseline_latency_p95_ms"] == 1200
        assert "truncated" not in state.detection.labels

        spend = await run_watch(ts_env, task_queue, tokens, playbook)
        # 40000 tokens in 15 minutes against the median of 2400/60 and 4800/60 a minute: four empty hours,
        # "0" tokens each, would have made the baseline 0 and the watcher blind.
        assert spend.decision.raise_alert, spend.decision.reason
        state = await state_of(started(ts_env.client.get_workflow_handle(spend.incident_workflow_id or "")))
        assert state.detection.metrics["tokens_per_minute"] == pytest.approx(40000 / 15)
        assert state.detection.metrics["baseline_tokens_per_minute"] == pytest.approx(60)

    baselines = [r for r in fake.responses if r["path"] == "/api/public/v2/metrics"
                 and "timeDimension" in json.loads(r["query"]["query"])]
    rows = baselines[-1]["body"]["data"]
    assert len(rows) == 6 and [r["count_count"] for r in rows].count("0") == 4  # the server's filled hours
    assert json.loads(baselines[-1]["query"]["query"])["config"] == {"row_limit": 8}  # 6 hours, +1, +1


async def test_a_missing_column_and_a_cut_baseline_are_said_not_taken_for_no_data(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path, fake: FakeLangfuse) -> None:
    slow, tokens = f"slow{uuid.uuid4().hex[:6]}", f"tokens{uuid.uuid4().hex[:6]}"
    playbook = _playbook(tmp_path, fake, slow, tokens)
    async with worker(ts_env.client, task_queue, playbook, home):
        _seed(fake, await ts_env.get_current_time())
        fake.rename_metric_columns = {"p95_latency": "p95_latency_ms"}  # a server naming its columns otherwise
        unread = await run_watch(ts_env, task_queue, slow, playbook)
        assert not unread.decision.raise_alert
        assert unread.decision.reason == "the answer had no column p95_latency (Metrics API v2); no judgement"

        fake.rename_metric_columns = {}
        fake.metric_row_cap = 3  # the baseline's answer stops after its first three hours
        cut = await run_watch(ts_env, task_queue, slow, playbook)
        assert cut.decision.raise_alert  # judged on what came (the 1400 ms hour), and said to be partial
        assert cut.decision.reason == ("latency_p95_ms 9000: 6.43x the baseline 1400; the baseline's answer was "
                                       "cut short, missing its latest hours")
        state = await state_of(started(ts_env.client.get_workflow_handle(cut.incident_workflow_id or "")))
        assert state.detection.labels["truncated"] == "true"
