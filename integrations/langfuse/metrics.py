"""What the Metrics API v2 readers (watchers and the evidence series) share: the server's column names, the row
limit a time series needs, and an answer checked for missing columns and for being cut short.

From langfuse/langfuse (v4.16.0-30-g6275144614; docs/langfuse-fidelity.md says what was read):
- a metric's column is `<aggregation>_<measure>` (`p95_latency`, `sum_totalCost`, `count_count`) and the bucket is
  `time_dimension` (packages/shared/src/features/query/server/queryBuilder.ts: buildSingleLevelMetricsPart,
  buildOuterMetricsPart, buildTimeDimensionSql);
- a time series without orderBy has a row for every bucket from the start's up to (not including) the end's
  (`WITH FILL`), plus the end's bucket when it has data; counts of an empty bucket are 0, most other values 0 or
  null (buildWithFillClause);
- the answer is cut at `config.row_limit`, 100 when the query gives none, at most 1000, filled rows included
  (web/src/pages/api/public/v2/metrics.ts, buildLimitClause, MetricsQueryObjectV2);
- 64-bit integers (counts, token sums) come as JSON strings from ClickHouse before 25.8 (where quoting was the
  default) and as numbers since; both are read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from integrations.langfuse.client import classify

if TYPE_CHECKING:  # the SDK loads with the first Langfuse client (client_for), not with the worker
    from langfuse import Langfuse
    from langfuse.api.core.request_options import RequestOptions

COUNT = "count_count"          # {"measure": "count", "aggregation": "count"}
TIME = "time_dimension"
DEFAULT_ROW_LIMIT = 100        # what the server applies when the query sets no config.row_limit
MAX_ROW_LIMIT = 1000           # the largest config.row_limit the server accepts; the API has no pagination
STEP = {"minute": 60, "hour": 3600, "day": 86400}


def column(measure: str, aggregation: str) -> str:
    """The server's name for a metric's column."""
    return f"{aggregation}_{measure}"


def as_number(value: Any) -> float | None:
    """A metrics row value as a float (ClickHouse before 25.8 sends 64-bit integers as strings); None when
    absent."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN: no data


def metric_scope(environment: str | None, trace_name: str | None, tags: list[str]) -> list[dict[str, Any]]:
    """Metrics v2 filters for the traces a watcher or an evidence source looks at."""
    conditions: list[dict[str, Any]] = []
    if environment:
        conditions.append({"column": "environment", "operator": "=", "value": environment, "type": "string"})
    if trace_name:
        conditions.append({"column": "traceName", "operator": "=", "value": trace_name, "type": "string"})
    if tags:
        conditions.append({"column": "tags", "operator": "any of", "value": tags, "type": "arrayOptions"})
    return conditions


def _floor(when: datetime, step: int) -> int:
    return int(when.timestamp()) // step * step


def rows_needed(start: datetime, end: datetime, granularity: str) -> int:
    """The most rows a filled series of [start, end] has: the filled buckets and the end's own bucket."""
    step = STEP[granularity]
    return (_floor(end, step) - _floor(start, step)) // step + 1


def series_limit(start: datetime, end: datetime, granularity: str) -> int:
    """The row_limit a series of [start, end] needs: one more than it can have, so a whole answer never reaches
    it (an answer at the limit was cut). Callers keep windows within MAX_ROW_LIMIT - 1 rows."""
    return min(MAX_ROW_LIMIT, rows_needed(start, end, granularity) + 1)


@dataclass(frozen=True)
class MetricsAnswer:
    rows: list[dict[str, Any]]
    missing: tuple[str, ...]   # the columns asked for that no row of the answer has
    truncated: bool            # cut at the row limit (or short of the window's last bucket)


def _bucket_time(text: Any) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _ends_early(rows: list[dict[str, Any]], query: dict[str, Any]) -> bool:
    """A filled series runs at least to the bucket before the end's; an answer stopping earlier was cut."""
    granularity = (query.get("timeDimension") or {}).get("granularity")
    if granularity not in STEP or query.get("orderBy") or not rows:
        return False
    step = STEP[granularity]
    start, end = _bucket_time(query["fromTimestamp"]), _bucket_time(query["toTimestamp"])
    last = _bucket_time(rows[-1].get(TIME))
    if start is None or end is None or last is None or _floor(end, step) <= _floor(start, step):
        return False
    return last.timestamp() < _floor(end, step) - step


def read_rows(client: Langfuse, query: dict[str, Any], what: str,
              request_options: RequestOptions | None = None) -> MetricsAnswer:
    """One Metrics v2 query, its rows checked against the columns it asked for and the row limit."""
    try:
        rows = [dict(r) for r in client.api.metrics.metrics(query=json.dumps(query),
                                                             request_options=request_options).data]
    except Exception as err:  # noqa: BLE001 - the SDK raises ApiError, httpx errors and its own
        raise classify(err, what) from err
    wanted = [column(m["measure"], m["aggregation"]) for m in query["metrics"]]
    if query.get("timeDimension"):
        wanted.append(TIME)
    missing = tuple(c for c in wanted if rows and not any(c in r for r in rows))
    limit = int((query.get("config") or {}).get("row_limit") or DEFAULT_ROW_LIMIT)
    return MetricsAnswer(rows=rows, missing=missing, truncated=len(rows) >= limit or _ends_early(rows, query))
