"""The series of a Langfuse monitor's slice: the monitor's own metric per bucket over the blast window, with the
slice's cost, tokens and observation count, from Metrics API v2 with the monitor's view and filters as they are
(the monitor processor runs the same query without a time dimension; integrations/langfuse/monitor_slice.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from integrations.langfuse.evidence import BlastWindow
from integrations.langfuse.formats import dump, iso
from integrations.langfuse.metrics import (
    COUNT,
    MAX_ROW_LIMIT,
    STEP,
    TIME,
    as_number,
    column,
    read_rows,
    rows_needed,
    series_limit,
)
from integrations.langfuse.monitor_slice import MonitorSlice
from integrations.langfuse.series import checked, series_start
from playbook.redact import redact_value

if TYPE_CHECKING:  # the SDK loads with the first Langfuse client (client_for), not with the worker
    from langfuse import Langfuse

COST, TOKENS = column("totalCost", "sum"), column("totalTokens", "sum")
SUMMARY_LIMIT = 400  # what activities/investigate.py keeps of a summary (SUMMARY_CHARS)


def fitting_granularity(window: BlastWindow, configured: str) -> str:
    """The configured bucket, or a coarser one when the window (a long monitor window) has more buckets than one
    answer holds, so that the window the monitor evaluated stays in the series."""
    for granularity in [g for g in STEP if STEP[g] >= STEP[configured]]:
        if rows_needed(window.start, window.end, granularity) <= MAX_ROW_LIMIT - 1:
            return granularity
    return "day"


def _peak(rows: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    return max((r for r in rows if r["observations"] and r[key] is not None), key=lambda r: r[key], default=None)


def _summary(scope: MonitorSlice, granularity: str, peak: dict[str, Any] | None, costly: dict[str, Any] | None,
             cut: str) -> str:
    """"monitor <name> (<id>): <metric> over <window> where <filters>; per minute: peak ... (threshold ...)", with the
    filters shortened when the line would be too long, never the peaks."""
    found = []
    if peak is not None:
        threshold = f" (threshold {scope.threshold:g})" if scope.threshold is not None else ""
        found.append(f"peak {peak['value']:.6g} at {peak['bucket']}{threshold}")
    if costly is not None:
        found.append(f"peak cost ${costly['cost_usd_per_minute']:.4g}/min at {costly['bucket']}")
    tail = f"; per {granularity}: {'; '.join(found) if found else 'no data in the window'}{cut}"
    head = scope.describe()
    if len(head) + len(tail) > SUMMARY_LIMIT:
        head = head[:max(SUMMARY_LIMIT - len(tail) - 1, 40)] + "…"
    return head + tail


def collect_monitor_series(client: Langfuse, scope: MonitorSlice, window: BlastWindow,
                           configured: str) -> tuple[bytes, str]:
    """The monitor's metric (its aggregation of its measure), cost (USD), tokens and observation count per bucket,
    every bucket of the window (the server fills empty ones; those carry no value and no cost), on the monitor's
    view and filters. An answer without the columns asked for is an error; one cut at the row limit says so."""
    granularity = fitting_granularity(window, configured)
    start = series_start(window, granularity)
    limit = series_limit(start, window.end, granularity)
    base = {"view": scope.view, "fromTimestamp": iso(start), "toTimestamp": iso(window.end),
            "timeDimension": {"granularity": granularity}, "config": {"row_limit": limit},
            "filters": scope.applicable()}
    measured = scope.measure()
    value_column = column(measured[1], measured[0]) if measured else None
    answers = []
    if measured is not None and value_column != COUNT:
        answers.append(read_rows(client, {**base, "metrics": [
            {"measure": measured[1], "aggregation": measured[0]}, {"measure": "count", "aggregation": "count"}]},
            f"reading the monitor's {scope.metric} series"))
    answers.append(read_rows(client, {**base, "metrics": [
        {"measure": "totalCost", "aggregation": "sum"}, {"measure": "totalTokens", "aggregation": "sum"},
        {"measure": "count", "aggregation": "count"}]}, "reading the monitor slice's cost series"))
    buckets: dict[str, dict[str, Any]] = {}
    if len(answers) == 2:
        for row in checked(answers[0], f"reading the monitor's {scope.metric} series"):
            seen = int(as_number(row.get(COUNT)) or 0)
            value = as_number(row.get(value_column or COUNT)) if seen else None
            buckets.setdefault(str(row.get(TIME)), {})["value"] = value
    for row in checked(answers[-1], "reading the monitor slice's cost series"):
        seen = int(as_number(row.get(COUNT)) or 0)
        bucket = buckets.setdefault(str(row.get(TIME)), {})
        bucket.update(observations=seen, cost_usd=(as_number(row.get(COST)) or 0.0) if seen else None,
                      tokens=(as_number(row.get(TOKENS)) or 0.0) if seen else None)
        if value_column == COUNT:
            bucket["value"] = float(seen)
    per_minute = STEP[granularity] / 60
    series = [{"bucket": key, "value": b.get("value"), "observations": b.get("observations", 0),
               "cost_usd": b.get("cost_usd"),
               "cost_usd_per_minute": None if b.get("cost_usd") is None else b["cost_usd"] / per_minute,
               "tokens": b.get("tokens")} for key, b in sorted(buckets.items())]
    short = next((a for a in answers if a.truncated), None)
    notes = [f"the window was cut to its last {rows_needed(start, window.end, granularity)} {granularity} buckets"
             if start > window.start else "",
             f"Langfuse's answer was cut at {len(short.rows)} rows, so the latest buckets are missing" if short else ""]
    cut = "; ".join(n for n in notes if n)
    peak, costly = _peak(series, "value"), _peak(series, "cost_usd_per_minute")
    summary = _summary(scope, granularity, peak, costly, f" (truncated: {cut})" if cut else "")
    content = {"monitor": redact_value({"monitor_id": scope.monitor_id, "name": scope.name, "view": scope.view,
                                        "metric": scope.metric, "threshold": scope.threshold,
                                        "window": scope.window, "filters": scope.filters,
                                        "evaluated": {"from": iso(scope.evaluated_from) if scope.evaluated_from
                                                      else None,
                                                      "to": iso(scope.evaluated_to) if scope.evaluated_to
                                                      else None}}),
               "window": {"from": iso(start), "to": iso(window.end)}, "granularity": granularity,
               "truncated": bool(cut), "truncated_because": cut or None, "row_limit": limit,
               "filters_not_applied": redact_value(scope.redacted()),
               "value_is": scope.metric, "series": series,
               "peak": {"value": peak, "cost_usd_per_minute": costly}}
    return dump(content), summary
