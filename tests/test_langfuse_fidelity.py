"""The fake Langfuse held to the server's own behaviour (langfuse/langfuse v4.16.0-30-g6275144614; what each rule
follows is cited in tests/fake_langfuse_metrics.py and tests/fake_langfuse_reads.py), and Firebreak's readers on
those answers, all through the real langfuse 5 SDK: Metrics v2 column names, filled buckets, 64-bit integers
quoted or not, row limits, the environment scope of scores and observations, and the v2 observation field
groups."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from langfuse import Langfuse
from langfuse.api.core.api_error import ApiError

from integrations.langfuse.client import LangfuseRejected, client_for
from integrations.langfuse.evidence import BlastWindow, fetch_observations, fetch_scores
from integrations.langfuse.series import collect_series
from integrations.langfuse.watchers import count_breaches
from playbook.config import EvidenceSource, LangfuseConnection
from tests.fake_langfuse import FakeLangfuse, fake_langfuse, iso

NOW = datetime(2026, 3, 1, 12, 30, 20, tzinfo=UTC)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLangfuse]:
    with fake_langfuse(monkeypatch) as server:
        yield server


def _client(fake: FakeLangfuse) -> Langfuse:
    return client_for(LangfuseConnection(base_url=fake.url))


def _metrics(fake: FakeLangfuse, **query: Any) -> list[dict[str, Any]]:
    body = {"view": "observations", "fromTimestamp": iso(NOW - timedelta(minutes=10)), "toTimestamp": iso(NOW),
            **query}
    return [dict(r) for r in _client(fake).api.metrics.metrics(query=json.dumps(body)).data]


def _int(value: int, quoted: bool) -> int | str:
    return str(value) if quoted else value


@pytest.mark.parametrize("quoted", [False, True], ids=["clickhouse-25.8+", "clickhouse-before-25.8"])
def test_metrics_columns_are_aggregation_then_measure_and_64_bit_integers_quoted_or_not(
        fake: FakeLangfuse, quoted: bool) -> None:
    fake.quote_64bit_integers = quoted
    for i in range(3):
        fake.add_span(trace_id=f"{i:032x}", start=NOW - timedelta(minutes=5), latency_ms=1000 * (i + 1), cost=0.5,
                      tokens=100, root=True)
    rows = _metrics(fake, metrics=[{"measure": "latency", "aggregation": "p95"},
                                   {"measure": "totalCost", "aggregation": "sum"},
                                   {"measure": "totalTokens", "aggregation": "sum"},
                                   {"measure": "count", "aggregation": "count"}])
    # queryBuilder.ts names a column `${aggregation}_${measure}`; UInt64 (count, token sums) come quoted from
    # ClickHouse before 25.8, as numbers since.
    assert rows == [{"p95_latency": pytest.approx(2900.0), "sum_totalCost": 1.5,
                     "sum_totalTokens": _int(300, quoted), "count_count": _int(3, quoted)}]
    # An aggregate over nothing is still one row: count 0, NULL sums and NaN quantiles as null, UInt64 sums 0.
    assert _metrics(fake, metrics=[{"measure": "latency", "aggregation": "p95"},
                                   {"measure": "totalCost", "aggregation": "sum"},
                                   {"measure": "totalTokens", "aggregation": "sum"},
                                   {"measure": "count", "aggregation": "count"}],
                    filters=[{"column": "environment", "operator": "=", "value": "staging", "type": "string"}]) == [
        {"p95_latency": None, "sum_totalCost": None, "sum_totalTokens": _int(0, quoted),
         "count_count": _int(0, quoted)}]


@pytest.mark.parametrize("quoted", [False, True], ids=["clickhouse-25.8+", "clickhouse-before-25.8"])
def test_a_time_series_has_every_bucket_of_the_window_and_the_row_limit_cuts_it(fake: FakeLangfuse,
                                                                                quoted: bool) -> None:
    fake.quote_64bit_integers = quoted
    fake.add_span(trace_id="a" * 32, start=NOW - timedelta(minutes=7), latency_ms=800, cost=0.1, tokens=10,
                  root=True)
    metrics = [{"measure": "latency", "aggregation": "p95"}, {"measure": "totalCost", "aggregation": "sum"},
               {"measure": "totalTokens", "aggregation": "sum"}, {"measure": "count", "aggregation": "count"}]
    rows = _metrics(fake, metrics=metrics, timeDimension={"granularity": "minute"})
    # WITH FILL FROM toStartOfMinute(from) TO toStartOfMinute(to): 12:20 .. 12:29, the end's minute excluded.
    assert [r["time_dimension"] for r in rows] == [f"2026-03-01T12:{m}:00Z" for m in range(20, 30)]
    # As ClickHouse 26.9 answered this SQL: a filled row's Nullable columns are null, its UInt64 ones 0.
    empty = {"p95_latency": None, "sum_totalCost": None, "sum_totalTokens": _int(0, quoted),
             "count_count": _int(0, quoted)}
    assert rows[3] == {"time_dimension": "2026-03-01T12:23:00Z", "p95_latency": 800.0, "sum_totalCost": 0.1,
                       "sum_totalTokens": _int(10, quoted), "count_count": _int(1, quoted)}
    assert all({k: v for k, v in r.items() if k != "time_dimension"} == empty for r in rows if r is not rows[3])
    # An orderBy turns the filling off; the default row_limit is 100 and the most a query may ask is 1000.
    assert len(_metrics(fake, metrics=metrics, timeDimension={"granularity": "minute"},
                        orderBy=[{"field": "count_count", "direction": "desc"}])) == 1
    day = {"fromTimestamp": iso(NOW - timedelta(hours=3)), "timeDimension": {"granularity": "minute"}}
    assert len(_metrics(fake, metrics=metrics, **day)) == 100
    assert len(_metrics(fake, metrics=metrics, **day, config={"row_limit": 500})) == 180
    with pytest.raises(ApiError) as refused:
        _metrics(fake, metrics=metrics, **day, config={"row_limit": 1001})
    assert refused.value.status_code == 400


def test_the_evidence_series_reads_the_servers_names_and_says_when_an_answer_was_cut(fake: FakeLangfuse) -> None:
    fake.add_span(trace_id="a" * 32, start=NOW - timedelta(minutes=7), latency_ms=800, cost=0.12, tokens=10,
                  root=True)
    client, window = _client(fake), BlastWindow(start=NOW - timedelta(minutes=10), end=NOW)
    content, summary = collect_series(client, EvidenceSource(kind="langfuse", base_url=fake.url), {}, window)
    assert summary == ("cost/latency per minute: peak p95 latency 800 ms at 2026-03-01T12:23:00Z; peak cost "
                       "$0.12/min at 2026-03-01T12:23:00Z")
    assert json.loads(content)["truncated"] is False
    fake.metric_row_cap = 4  # a deployment answering fewer rows than asked: the latest buckets are missing
    content, summary = collect_series(client, EvidenceSource(kind="langfuse", base_url=fake.url), {}, window)
    assert summary.endswith("(truncated: Langfuse's answer was cut at 4 rows, so the latest buckets are missing)")
    assert json.loads(content)["truncated"] is True
    fake.metric_row_cap = None
    week = BlastWindow(start=NOW - timedelta(days=7), end=NOW)  # 10080 minutes: the last 999 are kept
    content, summary = collect_series(client, EvidenceSource(kind="langfuse", base_url=fake.url), {}, week)
    assert "(truncated: the window was cut to its last 999 minute buckets)" in summary
    last = json.loads(fake.requests[-1]["query"]["query"])
    assert last["config"] == {"row_limit": 1000} and len(json.loads(content)["series"]) == 998
    fake.rename_metric_columns = {"p95_latency": "p95_latency_ms"}  # a server naming its columns otherwise
    with pytest.raises(LangfuseRejected, match="the answer had no column p95_latency"):
        collect_series(client, EvidenceSource(kind="langfuse", base_url=fake.url), {}, window)


def test_scores_and_observations_keep_to_the_environment_asked_for(fake: FakeLangfuse) -> None:
    for env, value in (("staging", 0.99), ("staging", 0.95), ("production", 0.9)):
        fake.add_score(name="toxicity", value=value, when=NOW - timedelta(minutes=2), trace_id=f"t-{env}",
                       environment=env)
        fake.add_observation(trace_id=f"t-{env}-{value}", start=NOW - timedelta(minutes=2), environment=env)
    client = _client(fake)
    start = NOW - timedelta(minutes=5)
    production = count_breaches(client, ["toxicity"], 0.8, start, NOW, environment="production")
    assert (production.count, production.max_value, production.trace_ids) == (1, 0.9, ["t-production"])
    assert count_breaches(client, ["toxicity"], 0.8, start, NOW, environment="staging").count == 2
    assert count_breaches(client, ["toxicity"], 0.8, start, NOW).count == 3
    source = EvidenceSource(kind="langfuse", base_url=fake.url, score_names=["toxicity"], environment="production")
    window = BlastWindow(start=start, end=NOW)
    scores, _ = fetch_scores(client, source, window)
    observations, _ = fetch_observations(client, source, {}, window)
    assert {s["environment"] for s in scores} == {"production"} and len(scores) == 1
    assert [o["traceId"] for o in observations] == ["t-production-0.9"]
    # The plain `environment` parameter (repeatable) counts too when no JSON filter names the column.
    page = client.api.observations.get_many(environment=["staging"], from_start_time=start, to_start_time=NOW)
    assert sorted(o.trace_id for o in page.data) == ["t-staging-0.95", "t-staging-0.99"]


# The names each v2 field group puts on the wire: FIELD_SETS (event-query-builder.ts) through
# convertEventsObservation (observations_converters.ts); provided_model_name is sent as `model`.
WIRE_GROUPS = {
    "core": {"id", "traceId", "startTime", "endTime", "projectId", "parentObservationId", "type"},
    "basic": {"name", "level", "statusMessage", "version", "environment", "bookmarked", "public", "userId",
              "sessionId", "isRootObservation"},
    "time": {"completionStartTime", "createdAt", "updatedAt"},
    "io": {"input", "output"},
    "metadata": {"metadata"},
    "model": {"model", "internalModelId", "modelParameters"},
    "usage": {"usageDetails", "inputUsage", "outputUsage", "totalUsage", "costDetails", "inputCost", "outputCost",
              "totalCost", "usagePricingTierId", "usagePricingTierName"},
    "prompt": {"promptId", "promptName", "promptVersion"},
    "metrics": {"latency", "timeToFirstToken"},
    "trace_context": {"tags", "release", "traceName"},
}
ALWAYS = {"latency", "timeToFirstToken", "modelId", "inputPrice", "outputPrice", "totalPrice"}


def test_observation_field_groups_send_the_servers_names_and_unknown_groups_are_dropped(
        fake: FakeLangfuse) -> None:
    fake.add_span(trace_id="a" * 32, start=NOW - timedelta(minutes=2), model="gpt-4o", cost=0.2, tokens=10)
    client, seen = _client(fake), set()
    for group, names in WIRE_GROUPS.items():
        client.api.observations.get_many(fields=f"core,{group}", limit=1)
        keys = set(fake.responses[-1]["body"]["data"][0])
        assert keys == WIRE_GROUPS["core"] | names | ALWAYS, group
        seen |= keys
    assert "providedModelName" not in seen  # the server's wire name for the model is `model`
    row = client.api.observations.get_many(fields="model,usage", limit=1).data[0]
    assert (row.model, row.total_cost, row.usage_details) == ("gpt-4o", 0.2, {"input": 5, "output": 5, "total": 10})
    # GetObservationsV2Query drops unknown groups (unknownValues "filter"): core alone, never a 400.
    client.api.observations.get_many(fields="core,bogus", limit=1)
    assert set(fake.responses[-1]["body"]["data"][0]) == WIRE_GROUPS["core"] | ALWAYS


def test_score_field_groups_and_unknown_ones_refused(fake: FakeLangfuse) -> None:
    fake.add_score(name="toxicity", value=0.9, when=NOW, trace_id="t1", comment="detector")
    client = _client(fake)
    core = {"id", "projectId", "name", "dataType", "value", "source", "timestamp", "environment", "createdAt",
            "updatedAt"}
    for fields, more in (("core", set()), ("details", {"comment", "configId", "metadata"}),
                         ("subject", {"subject"}), ("annotation", {"authorUserId", "queueId"})):
        client.api.scores.get_many(fields=fields)
        assert set(fake.responses[-1]["body"]["data"][0]) == core | more, fields
    with pytest.raises(ApiError) as refused:  # GetScoresQueryV3: fields is an enum list, unknown ones are 400
        client.api.scores.get_many(fields="details,bogus")
    assert refused.value.status_code == 400
