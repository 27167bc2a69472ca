"""The guardrail and metric watchers' reads: breaching scores (scores v3), and a latency or cost value with its
baseline (Metrics API v2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from integrations.langfuse.client import NO_SDK_RETRIES, SCORE_PAGE, classify
from integrations.langfuse.formats import iso
from integrations.langfuse.metrics import COUNT, as_number, column, metric_scope, read_rows, series_limit
from playbook.config import MetricWatcher

if TYPE_CHECKING:  # the SDK loads with the first Langfuse client (client_for), not with the worker
    from langfuse import Langfuse


@dataclass(frozen=True)
class BreachCount:
    count: int
    max_value: float | None
    trace_ids: list[str]
    truncated: bool


def count_breaches(client: Langfuse, score_names: list[str], threshold: float, start: datetime, end: datetime,
                   environment: str | None = None, max_scores: int = 1000) -> BreachCount:
    """How many NUMERIC scores of these names are at or over `threshold` in [start, end), following cursors."""
    count, top, cursor = 0, None, None
    traces: list[str] = []
    for _ in range(max_scores // SCORE_PAGE + 1):
        try:
            page = client.api.scores.get_many(
                name=",".join(score_names), data_type="NUMERIC", value_min=threshold, from_timestamp=start,
                to_timestamp=end, environment=environment, fields="subject", limit=SCORE_PAGE, cursor=cursor,
                request_options=NO_SDK_RETRIES)
        except Exception as err:  # noqa: BLE001
            raise classify(err, "reading scores") from err
        for score in page.data:
            value = getattr(score, "value", None)
            if not isinstance(value, int | float) or value < threshold:  # a server that ignores valueMin
                continue
            count += 1
            top = value if top is None else max(top, value)
            subject = getattr(score, "subject", None)
            kind = getattr(subject, "kind", None)
            trace = getattr(subject, "trace_id", None) if kind == "observation" else (
                getattr(subject, "id", None) if kind == "trace" else None)
            if trace and len(traces) < 10 and str(trace) not in traces:
                traces.append(str(trace))
        cursor = page.meta.cursor
        if not cursor:
            return BreachCount(count, float(top) if top is not None else None, traces, False)
    return BreachCount(count, float(top) if top is not None else None, traces, True)


# ---------------------------------------------------------------------------------------------- metric watchers

@dataclass(frozen=True)
class MetricReading:
    value: float | None      # the window's value (per minute for sums); None when Langfuse had no data
    count: int               # observations in the window
    baseline: float | None   # the median of the baseline's hourly values (per minute for sums)
    baseline_buckets: int
    missing: tuple[str, ...] = ()  # columns the server's answers lacked: nothing to judge, and it must be said
    truncated: bool = False        # the baseline's answer was cut at the row limit


def metric_filters(watcher: MetricWatcher) -> list[dict[str, Any]]:
    conditions = metric_scope(watcher.environment, watcher.trace_name, watcher.tags)
    if watcher.model:
        conditions.append({"column": "providedModelName", "operator": "=", "value": watcher.model, "type": "string"})
    if watcher.observation_type:
        conditions.append({"column": "type", "operator": "=", "value": watcher.observation_type, "type": "string"})
    elif watcher.kind == "latency_spike":  # end-to-end: the trace's own (root) observation
        conditions.append({"column": "isRootObservation", "operator": "=", "value": True, "type": "boolean"})
    return conditions


def metric_query(watcher: MetricWatcher, start: datetime, end: datetime,
                 granularity: str | None = None) -> dict[str, Any]:
    """The Metrics API v2 query (view observations): the measure and the observation count, maybe per bucket
    with the row limit the series needs."""
    query: dict[str, Any] = {
        "view": "observations",
        "metrics": [{"measure": watcher.measure, "aggregation": watcher.aggregation},
                    {"measure": "count", "aggregation": "count"}],
        "filters": metric_filters(watcher), "fromTimestamp": iso(start), "toTimestamp": iso(end)}
    if granularity:
        query["timeDimension"] = {"granularity": granularity}
        query["config"] = {"row_limit": series_limit(start, end, granularity)}
    return query


def read_metric(client: Langfuse, watcher: MetricWatcher, start: datetime, end: datetime) -> MetricReading:
    """The window's value and observation count, and (for `ratio`) the baseline: the median of the hourly values
    of the `baseline_minutes` (rounded up to whole clock hours) before the hour the window starts in, hours
    without observations left out (the server fills them with zeros). Sums are taken per minute so windows of
    any length compare. Columns the answers lack are named in `missing`, never read as "no data"."""
    key, sums = column(str(watcher.measure), str(watcher.aggregation)), watcher.aggregation == "sum"
    window_minutes = max((end - start).total_seconds() / 60, 1e-9)
    window = read_rows(client, metric_query(watcher, start, end), f"reading {key} for the window", NO_SDK_RETRIES)
    missing = list(window.missing)
    row = window.rows[0] if window.rows else {}
    value = as_number(row.get(key))
    count = int(as_number(row.get(COUNT)) or 0)
    if value is not None and sums:
        value /= window_minutes
    baseline, buckets, truncated = None, 0, False
    if watcher.ratio is not None:
        # Whole clock hours only, so every bucket covers its 60 minutes: the hours before the one the window
        # starts in.
        until = datetime.fromtimestamp(int(start.timestamp()) // 3600 * 3600, UTC)
        since = until - timedelta(hours=-(-watcher.baseline_minutes // 60))
        hourly = read_rows(client, metric_query(watcher, since, until, "hour"), f"reading the {key} baseline",
                           NO_SDK_RETRIES)
        missing += [c for c in hourly.missing if c not in missing]
        truncated = hourly.truncated
        values = sorted(v / 60 if sums else v for v in (
            as_number(r.get(key)) for r in hourly.rows if (as_number(r.get(COUNT)) or 0) > 0) if v is not None)
        buckets = len(values)
        if values:
            mid = len(values) // 2
            baseline = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
    return MetricReading(value=value, count=count, baseline=baseline, baseline_buckets=buckets,
                         missing=tuple(missing), truncated=truncated)
