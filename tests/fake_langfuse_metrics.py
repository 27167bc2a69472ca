"""The fake Langfuse's Metrics API v2 (GET /api/public/v2/metrics?query=<json>), view `observations`, answered the
way the server builds and runs the query. Read from langfuse/langfuse at v4.16.0-30-g6275144614 (commit
62751446149b702b419a9292ddfc2280cdf74b8c):

- web/src/pages/api/public/v2/metrics.ts: `row_limit` defaults to 100 (DEFAULT_ROW_LIMIT) when the query has none;
  web/src/features/public-api/types/metrics.ts (MetricsQueryObjectV2): `config.row_limit` a positive integer up to
  1000, `fromTimestamp` before `toTimestamp`, granularities auto/minute/hour/day/week/month; the answer is
  `{"data": [row, ...]}`, rows `Record<string, unknown>`.
- packages/shared/src/features/query/server/queryBuilder.ts: a metric's column is `<aggregation>_<measure alias>`
  (buildSingleLevelMetricsPart, buildOuterMetricsPart; the public v2 route always takes the single-level path), the
  bucket is `time_dimension` (buildTimeDimensionSql); the window is `start_time >= from AND start_time <= to`
  (addStandardFilters, both ends inclusive); with a timeDimension and no orderBy the rows are ordered by
  time_dimension and filled `WITH FILL FROM bucket(from) TO bucket(to) STEP <granularity>` (buildWithFillClause);
  then `LIMIT row_limit` (buildLimitClause), which cuts filled rows too. Filters must name a dimension of the view
  with a compatible filter type (validateFilters; filterTypeCompatibility.ts).
- `metadata` is no dimension but a filter column of its own: type `stringObject` with a `key` and a string value
  (queryBuilder.ts validateFilters), matched on the events table's metadata_names / metadata_values arrays: the key
  must be there, then "=", "contains", "does not contain", "starts with" or "ends with" on its value
  (packages/shared/src/server/queries/clickhouse-sql/clickhouse-filter.ts StringObjectFilter, fts.ts). The
  Observations API v2 filter takes the same `metadata` column (tableMappings/mapEventsTable.ts).
- packages/shared/src/features/query/dataModel.ts (eventsObservationsView): the measures' SQL, hence their
  ClickHouse types: count `count(1)` UInt64; latency `date_diff('millisecond', start_time, end_time)` Nullable(Int64)
  (end_time is Nullable); totalCost `toNullable(total_cost)` Nullable(Decimal); input/outputCost arraySum of
  Decimal; totalTokens `usage_details['total']` UInt64; input/outputTokens arraySum of UInt64
  (events_core: packages/shared/clickhouse/migrations/unclustered/0040_create_events_core.up.sql).

ClickHouse decides the cells (https://clickhouse.com/docs/reference/formats/JSON and the ORDER BY ... WITH FILL
docs), and these were run on ClickHouse 26.9 (chdb 4.4.0) with the SQL the builder emits: decimals and floats come
as numbers, NaN (a quantile or avg of nothing) as null; a filled row carries each column's default: 0, NULL for
Nullable columns (p95_latency, sum_totalCost). Int64/UInt64 (counts, token sums) come as JSON strings when
output_format_json_quote_64bit_integers is 1, its default before ClickHouse 25.8 (system.settings_changes: 25.8
"Disable quoting of the 64 bit integers in JSON by default"); Langfuse's queryExecutor.ts does not set it, and its
docker-compose.yml runs ClickHouse 25.12, so `quote_64bit` is off unless a test asks for an older ClickHouse.
quantile is the reservoir sampler's linear interpolation at level * (n - 1) (ClickHouse src/AggregateFunctions/
ReservoirSampler.h, quantileInterpolated; exact below 8192 values).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

DEFAULT_ROW_LIMIT = 100
MAX_ROW_LIMIT = 1000
GRANULARITY = {"minute": 60, "hour": 3600, "day": 86400}


def _keys_like(details: dict[str, Any] | None, part: str) -> float:
    return sum(float(v) for k, v in (details or {}).items() if part in k.lower())


def _latency_ms(obs: dict[str, Any]) -> int | None:
    if not obs.get("endTime"):
        return None
    return int((parse_time(obs["endTime"]) - parse_time(obs["startTime"])).total_seconds() * 1000)


# measure -> (ClickHouse type of one row's value: "uint", "int", "decimal"; Nullable?, the value of one observation)
MEASURES: dict[str, tuple[str, bool, Callable[[dict[str, Any]], float | None]]] = {
    "count": ("uint", False, lambda o: 1),
    "latency": ("int", True, _latency_ms),
    "totalCost": ("decimal", True, lambda o: float((o.get("costDetails") or {}).get("total", 0))),
    "inputCost": ("decimal", False, lambda o: _keys_like(o.get("costDetails"), "input")),
    "outputCost": ("decimal", False, lambda o: _keys_like(o.get("costDetails"), "output")),
    "totalTokens": ("uint", False, lambda o: int((o.get("usageDetails") or {}).get("total", 0))),
    "inputTokens": ("uint", False, lambda o: int(_keys_like(o.get("usageDetails"), "input"))),
    "outputTokens": ("uint", False, lambda o: int(_keys_like(o.get("usageDetails"), "output"))),
}
AGGREGATIONS = {"sum", "avg", "count", "max", "min", "p50", "p75", "p90", "p95", "p99", "uniq"}
# dimension -> (its type in eventsObservationsView, the observation field the fake keeps it in)
DIMENSIONS = {"environment": "string", "traceName": "string", "tags": "string[]", "providedModelName": "string",
              "type": "string", "isRootObservation": "boolean", "name": "string", "userId": "string",
              "sessionId": "string", "level": "string", "traceId": "string", "version": "string",
              "promptName": "string"}
FIELD_OF = {"providedModelName": "model"}
COMPATIBLE = {"string": {"string", "stringOptions"}, "string[]": {"arrayOptions"}, "boolean": {"boolean"}}


class BadQuery(ValueError):
    """Answered 400, as the server answers an InvalidRequestError or a zod failure."""


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def floor_to(when: datetime, step: int) -> datetime:
    return datetime.fromtimestamp(int(when.timestamp()) // step * step, UTC)


def bucket_text(when: datetime, granularity: str) -> str:
    """ClickHouse's date_time_output_format 'iso' (queryExecutor.ts): DateTime as 2026-01-01T10:00:00Z; `day`
    buckets are toDate(), a Date."""
    return when.strftime("%Y-%m-%d") if granularity == "day" else when.strftime("%Y-%m-%dT%H:%M:%SZ")


def matches(obs: dict[str, Any], cond: dict[str, Any]) -> bool:
    column, op, value, kind = cond["column"], cond["operator"], cond.get("value"), cond["type"]
    have = obs.get(FIELD_OF.get(column, column))
    if kind == "datetime":
        left, right = parse_time(str(have)), parse_time(str(value))
        return {">=": left >= right, ">": left > right, "<": left < right, "<=": left <= right}[op]
    if kind == "boolean":
        return bool(have) == bool(value) if op == "=" else bool(have) != bool(value)
    if kind == "stringObject":
        found = (obs.get(column) or {}) if column == "metadata" else {}
        if cond.get("key") not in found:
            return False  # has(metadata_names, key) comes first for every operator
        text, wanted = str(found[cond["key"]]), str(value)
        tests = {"=": text == wanted, "contains": wanted in text, "does not contain": wanted not in text,
                 "starts with": text.startswith(wanted), "ends with": text.endswith(wanted)}
        if op not in tests:
            raise BadQuery(f"the fake does not support the filter {cond}")
        return tests[op]
    if kind in ("stringOptions", "categoryOptions"):
        return (have in (value or [])) == (op == "any of")
    if kind == "arrayOptions":
        overlap = set(have or []) & set(value or [])
        return {"any of": bool(overlap), "none of": not overlap, "all of": set(value or []) <= set(have or [])}[op]
    if op == "=":
        return bool(have == value)
    raise BadQuery(f"the fake does not support the filter {cond}")


def _aggregate(values: list[float], aggregation: str) -> float | None:
    if aggregation in ("count", "uniq"):
        return len(values) if aggregation == "count" else len(set(values))
    if not values:
        return None
    if aggregation == "sum":
        return sum(values)
    if aggregation == "avg":
        return sum(values) / len(values)
    if aggregation in ("min", "max"):
        return min(values) if aggregation == "min" else max(values)
    ranked, level = sorted(values), int(aggregation[1:]) / 100
    index = level * (len(ranked) - 1)
    left = int(index)
    if left + 1 >= len(ranked):
        return ranked[left]
    return ranked[left] * (left + 1 - index) + ranked[left + 1] * (index - left)


def _cell(value: float | None, kind: str, nullable: bool, aggregation: str, filled: bool, quote: bool) -> Any:
    """One cell as ClickHouse writes it: the result type follows the aggregation and the measure's type."""
    def integer(number: float) -> Any:
        return str(int(number)) if quote else int(number)

    if aggregation in ("count", "uniq"):
        return integer(value or 0)                       # UInt64, never NULL
    result = kind if aggregation in ("sum", "min", "max") else "float"
    if filled or value is None:
        if nullable or (value is None and result == "float"):
            return None                                  # NULL, or NaN written as null
        return integer(0) if result in ("uint", "int") else 0   # the type's default
    if result in ("uint", "int"):
        return integer(value)
    return float(value)


def _row(group: list[dict[str, Any]], metrics: list[dict[str, str]], filled: bool, quote: bool) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for metric in metrics:
        measure, aggregation = metric["measure"], metric["aggregation"]
        kind, nullable, read = MEASURES[measure]
        values = [v for v in (read(o) for o in group) if v is not None]
        value = None if filled else _aggregate(values, aggregation)
        row[f"{aggregation}_{measure}"] = _cell(value, kind, nullable, aggregation, filled, quote)
    return row


def _validate(query: dict[str, Any]) -> tuple[datetime, datetime, int, str | None]:
    missing = [k for k in ("view", "metrics", "fromTimestamp", "toTimestamp") if k not in query]
    if missing:
        raise BadQuery(f"Invalid query: missing {', '.join(missing)}")
    if query["view"] != "observations":
        raise BadQuery(f"the fake answers only the observations view, not {query['view']}")
    since, until = parse_time(query["fromTimestamp"]), parse_time(query["toTimestamp"])
    if since >= until:
        raise BadQuery("fromTimestamp must be before toTimestamp")
    limit = (query.get("config") or {}).get("row_limit", DEFAULT_ROW_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= MAX_ROW_LIMIT:
        raise BadQuery("config.row_limit must be a positive integer less than or equal to 1000")
    granularity = (query.get("timeDimension") or {}).get("granularity")
    if granularity is not None and granularity not in GRANULARITY:
        raise BadQuery(f"the fake buckets by minute, hour or day, not {granularity}")
    if query.get("dimensions"):
        raise BadQuery("the fake does not group by dimensions")
    for metric in query["metrics"]:
        if metric.get("measure") not in MEASURES:
            raise BadQuery(f"Invalid metric {metric.get('measure')}. Must be one of {','.join(MEASURES)}")
        if metric.get("aggregation") not in AGGREGATIONS:
            raise BadQuery(f"Invalid aggregation {metric.get('aggregation')}")
    for cond in query.get("filters") or []:
        if cond.get("column") == "metadata":
            if cond.get("type") != "stringObject" or "key" not in cond or not isinstance(cond.get("value"), str):
                raise BadQuery("Invalid filter for field 'metadata': Metadata filters require type 'stringObject' "
                               "with a 'key' property and a string value")
            continue
        kind = DIMENSIONS.get(cond.get("column", ""))
        if kind is None:
            raise BadQuery(f"the fake has no dimension {cond.get('column')}")
        if cond.get("type") not in COMPATIBLE[kind]:
            raise BadQuery(f"Invalid filter for field '{cond['column']}': Filter type '{cond.get('type')}' is not "
                           f"supported for dimension type '{kind}'.")
    return since, until, limit, granularity


def answer(observations: Iterable[dict[str, Any]], query: dict[str, Any], rename: dict[str, str] | None = None,
           quote_64bit: bool = False) -> list[dict[str, Any]]:
    """The rows of a Metrics v2 answer; BadQuery for what the server refuses. `rename` renames columns in the
    answer (a server whose names differ), for tests of a reader's missing-column handling; `quote_64bit` sends
    64-bit integers as strings, as ClickHouse before 25.8 does."""
    since, until, limit, granularity = _validate(query)
    rows = [o for o in observations if since <= parse_time(o["startTime"]) <= until
            and all(matches(o, c) for c in query.get("filters") or [])]
    metrics = query["metrics"]
    if granularity is None:
        out = [_row(rows, metrics, filled=False, quote=quote_64bit)]  # an aggregate without GROUP BY: always one row
    else:
        step = GRANULARITY[granularity]
        groups: dict[datetime, list[dict[str, Any]]] = {}
        for o in rows:
            groups.setdefault(floor_to(parse_time(o["startTime"]), step), []).append(o)
        if not query.get("orderBy"):
            at, end = floor_to(since, step), floor_to(until, step)
            while at < end:  # WITH FILL ... TO is exclusive
                groups.setdefault(at, [])
                at += timedelta(seconds=step)
        out = [{"time_dimension": bucket_text(at, granularity),
                **_row(group, metrics, filled=not group, quote=quote_64bit)} for at, group in sorted(groups.items())]
        for order in reversed(query.get("orderBy") or []):
            field: str = order["field"]
            out.sort(key=lambda r: _sort_key(r.get(field)), reverse=order["direction"] == "desc")  # noqa: B023
    out = out[:limit]
    if rename:
        out = [{rename.get(k, k): v for k, v in r.items()} for r in out]
    return out


def _sort_key(value: Any) -> tuple[int, float | str]:
    if value is None:
        return (1, 0.0)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return (0, str(value))
    return (0, number if not math.isnan(number) else 0.0)
