"""The cost/latency series of the blast window, from the Metrics API v2 (integrations/langfuse/metrics.py says
how the server names and fills it)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from integrations.langfuse.client import LangfuseRejected
from integrations.langfuse.evidence import BlastWindow
from integrations.langfuse.formats import dump, iso
from integrations.langfuse.metrics import (
    COUNT,
    MAX_ROW_LIMIT,
    STEP,
    TIME,
    MetricsAnswer,
    as_number,
    column,
    metric_scope,
    read_rows,
    rows_needed,
    series_limit,
)
from playbook.config import EvidenceSource, render_template
from playbook.redact import redact_value

if TYPE_CHECKING:  # the SDK loads with the first Langfuse client (client_for), not with the worker
    from langfuse import Langfuse

LATENCY, COST, TOKENS = column("latency", "p95"), column("totalCost", "sum"), column("totalTokens", "sum")


def series_start(window: BlastWindow, granularity: str) -> datetime:
    """The window's start, moved later when the window has more buckets than one answer may hold."""
    step = STEP[granularity]
    last = int(window.end.timestamp()) // step * step
    earliest = datetime.fromtimestamp(last - step * (MAX_ROW_LIMIT - 2), UTC)
    return max(window.start, earliest)


def checked(answer: MetricsAnswer, what: str) -> list[dict[str, Any]]:
    if answer.missing:
        raise LangfuseRejected(f"{what}: the answer had no column {', '.join(answer.missing)} (Langfuse names "
                               "Metrics v2 columns <aggregation>_<measure>; is this server older or newer than "
                               "the Langfuse v4 Firebreak was checked against?)")
    return answer.rows


def _summary(series: list[dict[str, Any]], granularity: str, cut: str) -> tuple[str, Any, Any]:
    """One line with the peaks over the buckets that had traces (the server fills the others with zeros)."""
    seen = [r for r in series if r["traces"] or r["observations"]]
    peak_latency = max((r for r in seen if r["latency_p95_ms"] is not None),
                       key=lambda r: r["latency_p95_ms"], default=None)
    peak_cost = max((r for r in seen if r["cost_usd_per_minute"] is not None),
                    key=lambda r: r["cost_usd_per_minute"], default=None)
    parts = []
    if peak_latency is not None:
        parts.append(f"peak p95 latency {peak_latency['latency_p95_ms']:.0f} ms at {peak_latency['bucket']}")
    if peak_cost is not None:
        parts.append(f"peak cost ${peak_cost['cost_usd_per_minute']:.4g}/min at {peak_cost['bucket']}")
    found = "; ".join(parts) if parts else "no data in the window"
    return f"cost/latency per {granularity}: {found}{cut}", peak_latency, peak_cost


def collect_series(client: Langfuse, source: EvidenceSource, variables: Mapping[str, object],
                   window: BlastWindow) -> tuple[bytes, str]:
    """Cost and latency over the blast window from Metrics v2, one row per `series_granularity` bucket: p95 latency
    (ms) of root observations (whole traces), total cost (USD), tokens and observation count of every observation of
    those traces. Every bucket of the window is there (the server fills empty ones); empty buckets carry no latency
    and no cost. A window with more buckets than one answer holds keeps its last ones; an answer cut at the row
    limit says so. An answer without the columns asked for is an error, never an empty series."""
    granularity = source.series_granularity
    start = series_start(window, granularity)
    cost_filters = metric_scope(source.environment,
                                render_template(source.trace_name, variables) if source.trace_name else None,
                                [t for t in (render_template(tag, variables) for tag in source.tags) if t])
    limit = series_limit(start, window.end, granularity)
    base = {"view": "observations", "fromTimestamp": iso(start), "toTimestamp": iso(window.end),
            "timeDimension": {"granularity": granularity}, "config": {"row_limit": limit}}
    latency_filters = [*cost_filters, {"column": "isRootObservation", "operator": "=", "value": True,
                                       "type": "boolean"}]
    latency = read_rows(client, {**base, "filters": latency_filters, "metrics": [
        {"measure": "latency", "aggregation": "p95"}, {"measure": "count", "aggregation": "count"}]},
        "reading the latency series")
    cost = read_rows(client, {**base, "filters": cost_filters, "metrics": [
        {"measure": "totalCost", "aggregation": "sum"}, {"measure": "totalTokens", "aggregation": "sum"},
        {"measure": "count", "aggregation": "count"}]}, "reading the cost series")
    buckets: dict[str, dict[str, Any]] = {}
    for row in checked(latency, "reading the latency series"):
        traces = int(as_number(row.get(COUNT)) or 0)
        buckets.setdefault(str(row.get(TIME)), {}).update(
            latency_p95_ms=as_number(row.get(LATENCY)) if traces else None, traces=traces)
    for row in checked(cost, "reading the cost series"):
        observations = int(as_number(row.get(COUNT)) or 0)
        buckets.setdefault(str(row.get(TIME)), {}).update(
            cost_usd=(as_number(row.get(COST)) or 0.0) if observations else None,
            tokens=(as_number(row.get(TOKENS)) or 0.0) if observations else None, observations=observations)
    per_minute = STEP[granularity] / 60
    series = [{"bucket": key, "latency_p95_ms": b.get("latency_p95_ms"), "cost_usd": b.get("cost_usd"),
               "cost_usd_per_minute": None if b.get("cost_usd") is None else b["cost_usd"] / per_minute,
               "tokens": b.get("tokens"), "traces": b.get("traces", 0), "observations": b.get("observations", 0)}
              for key, b in sorted(buckets.items())]
    short = latency if latency.truncated else cost if cost.truncated else None
    kept = rows_needed(start, window.end, granularity)
    notes = [f"the window was cut to its last {kept} {granularity} buckets" if start > window.start else "",
             f"Langfuse's answer was cut at {len(short.rows)} rows, so the latest buckets are missing" if short else ""]
    cut = "; ".join(n for n in notes if n)
    summary, peak_latency, peak_cost = _summary(series, granularity, f" (truncated: {cut})" if cut else "")
    content = {"window": {"from": iso(start), "to": iso(window.end)}, "granularity": granularity,
               "truncated": bool(cut), "truncated_because": cut or None, "filters": redact_value(cost_filters),
               "row_limit": limit, "series": series,
               "peak": {"latency_p95_ms": peak_latency, "cost_usd_per_minute": peak_cost}}
    return dump(content), summary

