"""The fake Langfuse's Observations API v2 and Scores API v3, answered as the server answers. Read from
langfuse/langfuse at v4.16.0-30-g6275144614 (commit 62751446149b702b419a9292ddfc2280cdf74b8c).

Observations v2 (web/src/pages/api/public/v2/observations/index.ts; GetObservationsV2Query in
web/src/features/public-api/types/observations.ts; packages/shared/src/server/repositories/events.ts
getObservationsV2FromEventsTableForPublicApi and enrichObservationsWithModelData):
- `fields` groups (packages/shared/src/domain/observation-field-groups.ts), default core,basic; unknown names are
  dropped, not refused (commaSeparatedEnumArray with unknownValues "filter"); `limit` at most 1000.
- Each group's wire names come from FIELD_SETS (packages/shared/src/server/queries/clickhouse-sql/
  event-query-builder.ts) through convertEventsObservation (repositories/observations_converters.ts): the `model`
  group's provided_model_name is sent as `model`; `usage` adds inputUsage/outputUsage/totalUsage and
  inputCost/outputCost/totalCost (totalCost is costDetails' total). Every row also carries `latency` and
  `timeToFirstToken` (seconds, computed from the core times; with the `metrics` group ClickHouse's, where 0 ms is
  null) and modelId/inputPrice/outputPrice/totalPrice (null unless `model` finds a priced model; the fake has
  no model prices).
- The JSON `filter` and the plain parameters are merged; a plain parameter is dropped only when a filter names
  the same column (packages/shared/src/server/queries/public-api-filter-builder.ts, deriveFilters). fromStartTime
  is `>=`, toStartTime `<`, environment (repeated) any of. Ordered by start time, newest first.

Scores v3 (web/src/pages/api/public/v3/scores/index.ts; GetScoresQueryV3 in packages/shared/src/features/scores/
interfaces/api/v3/endpoints.ts; listScoresV3ForPublicApi and scoreDomainToV3 in packages/shared/src/server/
repositories/scores.ts):
- unknown query parameters and unknown `fields` groups (core, details, subject, annotation) are 400; limit 1-100.
- name, environment, dataType ... are comma-separated lists matched with "any of"; fromTimestamp `>=`,
  toTimestamp `<`; valueMin needs dataType=NUMERIC; newest first; `meta.limit` always.
- core: id, projectId, name, dataType, value, source, timestamp, environment, createdAt, updatedAt; details adds
  comment, configId, metadata; annotation adds authorUserId, queueId; subject adds subject.

Cursors here are base64 offsets (the server's are base64 JSON of the last row's keys); clients treat them as
opaque.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.fake_langfuse_metrics import BadQuery, matches, parse_time

OBSERVATION_GROUPS = {
    "core": ("id", "traceId", "startTime", "endTime", "projectId", "parentObservationId", "type"),
    "basic": ("name", "level", "statusMessage", "version", "environment", "bookmarked", "public", "userId",
              "sessionId", "isRootObservation"),
    "time": ("completionStartTime", "createdAt", "updatedAt"),
    "io": ("input", "output"),
    "metadata": ("metadata",),
    "model": ("model", "internalModelId", "modelParameters"),
    "usage": ("usageDetails", "inputUsage", "outputUsage", "totalUsage", "costDetails", "inputCost", "outputCost",
              "totalCost", "usagePricingTierId", "usagePricingTierName"),
    "prompt": ("promptId", "promptName", "promptVersion"),
    "metrics": ("latency", "timeToFirstToken"),
    "trace_context": ("tags", "release", "traceName"),
}
ALWAYS = ("latency", "timeToFirstToken", "modelId", "inputPrice", "outputPrice", "totalPrice")
# plain query parameter -> (the column a JSON filter would name, how it compares)
SIMPLE = {"fromStartTime": ("startTime", ">="), "toStartTime": ("startTime", "<"), "traceId": ("traceId", "="),
          "name": ("name", "="), "userId": ("userId", "="), "sessionId": ("sessionId", "="), "type": ("type", "="),
          "level": ("level", "="), "version": ("version", "="), "parentObservationId": ("parentObservationId", "="),
          "isRootObservation": ("isRootObservation", "="), "environment": ("environment", "any of")}
SCORE_GROUPS = {"core": (), "details": ("comment", "configId", "metadata"), "annotation": ("authorUserId", "queueId"),
                "subject": ("subject",)}
SCORE_PARAMS = {"limit", "cursor", "fields", "id", "name", "source", "dataType", "environment", "configId",
                "queueId", "authorUserId", "value", "valueMin", "valueMax", "traceId", "sessionId", "observationId",
                "experimentId", "fromTimestamp", "toTimestamp", "userId", "traceTags"}


def _offset(query: dict[str, str]) -> int:
    return int(base64.b64decode(query["cursor"]).decode()) if query.get("cursor") else 0


def _next(start: int, limit: int, total: int) -> dict[str, Any]:
    return {"cursor": base64.b64encode(str(start + limit).encode()).decode()} if start + limit < total else {}


def _sum_like(details: dict[str, float], part: str) -> float | None:
    found = [float(v) for k, v in details.items() if part in k]
    return sum(found) if found else None


def _wire(obs: dict[str, Any], groups: list[str]) -> dict[str, Any]:
    """One observation as the v2 endpoint sends it for these field groups."""
    end, start = obs.get("endTime"), obs["startTime"]
    first = obs.get("completionStartTime")
    seconds = (parse_time(end) - parse_time(start)).total_seconds() if end else None
    derived: dict[str, Any] = {
        "latency": (seconds or None) if "metrics" in groups else seconds,
        "timeToFirstToken": (parse_time(first) - parse_time(start)).total_seconds() if first else None,
        "modelId": None, "inputPrice": None, "outputPrice": None, "totalPrice": None,
    }
    usage, cost = obs.get("usageDetails") or {}, obs.get("costDetails") or {}
    derived.update(inputUsage=_sum_like(usage, "input") or 0, outputUsage=_sum_like(usage, "output") or 0,
                   totalUsage=float(usage.get("total", 0)), inputCost=_sum_like(cost, "input"),
                   outputCost=_sum_like(cost, "output"), totalCost=float(cost.get("total", 0)))
    row = {name: obs.get(name) for group in ["core", *groups] for name in OBSERVATION_GROUPS[group]}
    row.update({k: v for k, v in derived.items() if k in row or k in ALWAYS})
    return row


def observations(store: list[dict[str, Any]], query: dict[str, str],
                 repeated: dict[str, list[str]]) -> tuple[int, Any]:
    """`repeated` has every value of a repeated parameter (`environment` may be given several times)."""
    limit = int(query.get("limit", 50))
    if not 0 <= limit <= 1000:
        return 400, {"message": "limit must be at most 1000"}
    if query.get("parseIoAsJson") == "true":
        return 400, {"message": "parseIoAsJson=true is no longer supported on the v2 observations endpoint."}
    advanced = json.loads(query["filter"]) if query.get("filter") else []
    named = {c["column"] for c in advanced}
    conditions = list(advanced)
    for param, (column, op) in SIMPLE.items():
        if param in query and column not in named:
            value: Any = query[param]
            if param == "environment":
                conditions.append({"type": "stringOptions", "column": column, "operator": op,
                                   "value": repeated[param]})
            elif column == "startTime":
                conditions.append({"type": "datetime", "column": column, "operator": op, "value": value})
            elif param == "isRootObservation":
                conditions.append({"type": "boolean", "column": column, "operator": op, "value": value == "true"})
            else:
                conditions.append({"type": "string", "column": column, "operator": op, "value": value})
    rows = [o for o in store if all(matches(o, c) for c in conditions)]
    rows.sort(key=lambda o: (parse_time(o["startTime"]), o["traceId"] or "", o["id"]), reverse=True)
    asked = (query.get("fields") or "core,basic").split(",")
    groups = [g for g in asked if g in OBSERVATION_GROUPS and g != "core"]
    start = _offset(query)
    return 200, {"data": [_wire(o, groups) for o in rows[start:start + limit]],
                 "meta": _next(start, limit, len(rows))}


def scores(store: list[dict[str, Any]], query: dict[str, str]) -> tuple[int, Any]:
    unknown = sorted(set(query) - SCORE_PARAMS)
    if unknown:
        return 400, {"message": f"Invalid request data: Unrecognized key(s) in object: {', '.join(unknown)}"}
    fields = [f.strip() for f in (query.get("fields") or "core").split(",") if f.strip()]
    bad = [f for f in fields if f not in SCORE_GROUPS]
    if bad:
        return 400, {"message": f"Invalid request data: fields: Invalid option {bad[0]}; expected one of "
                                "core, details, subject, annotation"}
    limit = int(query.get("limit", 50))
    if not 1 <= limit <= 100:
        return 400, {"message": "limit must be between 1 and 100"}
    if ("valueMin" in query or "valueMax" in query) and query.get("dataType") != "NUMERIC":
        return 400, {"message": "valueMin and valueMax require dataType=NUMERIC as a single value"}
    lists = {key: set(query[key].split(",")) for key in ("id", "name", "environment", "dataType", "source")
             if query.get(key)}
    rows = [s for s in store
            if all(str(s[key]) in wanted for key, wanted in lists.items())
            and ("fromTimestamp" not in query or parse_time(s["timestamp"]) >= parse_time(query["fromTimestamp"]))
            and ("toTimestamp" not in query or parse_time(s["timestamp"]) < parse_time(query["toTimestamp"]))
            and ("valueMin" not in query or s["value"] >= float(query["valueMin"]))
            and ("valueMax" not in query or s["value"] <= float(query["valueMax"]))]
    rows.sort(key=lambda s: (parse_time(s["timestamp"]), s["id"]), reverse=True)
    start = _offset(query)
    core = ("id", "projectId", "name", "dataType", "value", "source", "timestamp", "environment", "createdAt",
            "updatedAt")
    names = [*core, *(n for f in fields for n in SCORE_GROUPS[f])]
    return 200, {"data": [{n: s.get(n) for n in names} for s in rows[start:start + limit]],
                 "meta": {"limit": limit, **_next(start, limit, len(rows))}}


__all__ = ["BadQuery", "observations", "scores"]
