"""The cost/latency series of the blast window, from the Metrics API v2."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from langfuse import Langfuse

from integrations.langfuse.client import classify
from integrations.langfuse.evidence import BlastWindow
from integrations.langfuse.formats import dump, iso
from integrations.langfuse.metrics import as_number, metric_scope
from integrations.redact import redact_value
from playbook.config import EvidenceSource, render_template

SERIES_MAX_BUCKETS = 1000   # the Metrics v2 row_limit maximum; the API has no pagination
_STEP = {"minute": 60, "hour": 3600, "day": 86400}


def _series_rows(client: Langfuse, query: dict[str, Any], what: str) -> list[dict[str, Any]]:
    try:
        return [dict(r) for r in client.api.metrics.metrics(query=json.dumps(query)).data]
    except Exception as err:  # noqa: BLE001
        raise classify(err, what) from err


def _bucket(row: Mapping[str, Any]) -> str:
    return str(row.get("time_dimension") or row.get("timeDimension") or "")


def collect_series(client: Langfuse, source: EvidenceSource, variables: Mapping[str, object],
                   window: BlastWindow) -> tuple[bytes, str]:
    """Cost and latency over the blast window from Metrics v2, one row per `series_granularity` bucket: p95 latency
    (ms) of root observations (whole traces), total cost (USD), tokens and observation count of every observation of
    those traces. At most SERIES_MAX_BUCKETS buckets: a longer window keeps its last ones and says truncated."""
    step = _STEP[source.series_granularity]
    start, truncated = window.start, False
    if (window.end - start).total_seconds() / step > SERIES_MAX_BUCKETS - 1:
        start, truncated = window.end - timedelta(seconds=step * (SERIES_MAX_BUCKETS - 1)), True
    cost_filters = metric_scope(source.environment,
                                render_template(source.trace_name, variables) if source.trace_name else None,
                                [t for t in (render_template(tag, variables) for tag in source.tags) if t])
    base = {"view": "observations", "fromTimestamp": iso(start), "toTimestamp": iso(window.end),
            "timeDimension": {"granularity": source.series_granularity},
            "config": {"row_limit": SERIES_MAX_BUCKETS}}
    latency_filters = [*cost_filters, {"column": "isRootObservation", "operator": "=", "value": True,
                                       "type": "boolean"}]
    latency = _series_rows(client, {**base, "filters": latency_filters, "metrics": [
        {"measure": "latency", "aggregation": "p95"}, {"measure": "count", "aggregation": "count"}]},
        "reading the latency series")
    cost = _series_rows(client, {**base, "filters": cost_filters, "metrics": [
        {"measure": "totalCost", "aggregation": "sum"}, {"measure": "totalTokens", "aggregation": "sum"},
        {"measure": "count", "aggregation": "count"}]}, "reading the cost series")
    truncated = truncated or len(latency) >= SERIES_MAX_BUCKETS or len(cost) >= SERIES_MAX_BUCKETS
    buckets: dict[str, dict[str, Any]] = {}
    for row in latency:
        buckets.setdefault(_bucket(row), {}).update(
            latency_p95_ms=as_number(row.get("latency_p95")), traces=int(as_number(row.get("count_count")) or 0))
    for row in cost:
        buckets.setdefault(_bucket(row), {}).update(
            cost_usd=as_number(row.get("totalCost_sum")), tokens=as_number(row.get("totalTokens_sum")),
            observations=int(as_number(row.get("count_count")) or 0))
    per_minute = step / 60
    series = [{"bucket": key, "latency_p95_ms": b.get("latency_p95_ms"), "cost_usd": b.get("cost_usd"),
               "cost_usd_per_minute": None if b.get("cost_usd") is None else b["cost_usd"] / per_minute,
               "tokens": b.get("tokens"), "traces": b.get("traces", 0), "observations": b.get("observations", 0)}
              for key, b in sorted(buckets.items())]
    peak_latency = max((r for r in series if r["latency_p95_ms"] is not None),
                       key=lambda r: r["latency_p95_ms"], default=None)
    peak_cost = max((r for r in series if r["cost_usd_per_minute"] is not None),
                    key=lambda r: r["cost_usd_per_minute"], default=None)
    parts = []
    if peak_latency is not None:
        parts.append(f"peak p95 latency {peak_latency['latency_p95_ms']:.0f} ms at {peak_latency['bucket']}")
    if peak_cost is not None:
        parts.append(f"peak cost ${peak_cost['cost_usd_per_minute']:.4g}/min at {peak_cost['bucket']}")
    cut = " (truncated: the window has more buckets than Metrics v2 returns)" if truncated else ""
    summary = (f"cost/latency per {source.series_granularity}: {'; '.join(parts)}{cut}" if parts
               else f"cost/latency per {source.series_granularity}: no data in the window{cut}")
    content = {"window": {"from": iso(start), "to": iso(window.end)}, "granularity": source.series_granularity,
               "truncated": truncated, "filters": redact_value(cost_filters), "series": series,
               "peak": {"latency_p95_ms": peak_latency, "cost_usd_per_minute": peak_cost}}
    return dump(content), summary
