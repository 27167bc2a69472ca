"""The slice of Langfuse data a Langfuse monitor alert was about, read back from its Detection's labels.

intake/langfuse_monitors.py files a monitor alert with the monitor's view, metric, window, evaluated window and
filters in the Detection's labels. The filters are the monitor query's Metrics API v2 filters: the monitor
processor runs `{view, metrics, filters, fromTimestamp, toTimestamp}` through the v2 query builder
(langfuse/langfuse at 62751446: packages/shared/src/features/monitors/processor/processor.ts, buildMonitorQuery
and executeQuery(..., "v2")). So the evidence reads the same slice: the Metrics v2 series with those filters as
they are, and the Observations v2 pull with the filters that endpoint accepts under the same column names.

Observations v2 takes its `filter` through the events table's UI columns (packages/shared/src/server/
tableMappings/mapEventsTable.ts, eventsTableNativeUiColumnDefinitions) and checks each filter's type against the
column's (packages/shared/src/eventsTable.ts eventsTableCols, with COMPATIBLE_FILTER_TYPES in
packages/shared/src/server/queries/clickhouse-sql/filterTypeCompatibility.ts). Of the observations view's Metrics
v2 dimensions (packages/shared/src/features/query/dataModel.ts, eventsObservationsView) most have a column of the
same id and a compatible type; `promptVersion` is a string dimension but a number column, and traceRelease,
traceVersion, startTimeMonth, costType and usageType have no column. Those are translated or left out, and the
evidence says which.

A Detection is redacted on its way into Temporal (workflows/client.py), its labels too: a filter whose value looked
like personal data (an e-mail address as userId) arrives as "[REDACTED:EMAIL]" and cannot select anything. Such
filters are left out of both reads (a wider slice), and the evidence lists them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from playbook.alert_labels import MONITOR_SOURCE
from playbook.models import Detection

if TYPE_CHECKING:  # the SDK loads with the first Langfuse client (client_for), not with the worker
    from langfuse import Langfuse

REDACTED = "[REDACTED:"
_TEXT, _ARRAY = frozenset({"string", "stringOptions"}), frozenset({"arrayOptions", "stringOptions"})
# Observations v2 filter column -> the filter types it accepts (eventsTableCols' type through
# COMPATIBLE_FILTER_TYPES; `tags` and `parentObservationId` have a UI column but no column definition, so the
# server checks no type for them).
OBSERVATION_COLUMNS: dict[str, frozenset[str]] = {
    **{c: _TEXT for c in ("id", "traceId", "environment", "type", "name", "level", "version", "userId",
                          "sessionId", "release", "traceName", "providedModelName", "promptName", "experimentName",
                          "experimentDatasetId", "experimentId", "parentObservationId")},
    "tags": _ARRAY, "toolNames": _ARRAY, "calledToolNames": _ARRAY,
    "isRootObservation": frozenset({"boolean"}), "metadata": frozenset({"stringObject"}),
    "promptVersion": frozenset({"number"}),
}


@dataclass(frozen=True)
class MonitorSlice:
    """One monitor's slice: its view and metric, the window it evaluated, and its filters (None when the
    Detection could not carry them)."""

    monitor_id: str
    name: str
    project_id: str | None
    view: str
    metric: str | None
    window: str
    evaluated_from: datetime | None
    evaluated_to: datetime | None
    filters: list[dict[str, Any]] | None
    threshold: float | None = None
    ignored: str | None = field(default=None, compare=False)  # why the source's own scope is used instead

    @property
    def usable(self) -> bool:
        return self.filters is not None and self.ignored is None

    @property
    def observations_view(self) -> bool:
        return self.view == "observations"

    def measure(self) -> tuple[str, str] | None:
        """(aggregation, measure) of the monitor's metric, from its label "p95(observations.latency)"."""
        if not self.metric or "(" not in self.metric or "." not in self.metric:
            return None
        aggregation, _, rest = self.metric.partition("(")
        return aggregation, rest.rstrip(")").rpartition(".")[2]

    def applicable(self) -> list[dict[str, Any]]:
        """The filters that can be applied: all but those redacted on the way into Temporal."""
        return [f for f in self.filters or [] if not _redacted(f)]

    def redacted(self) -> list[dict[str, Any]]:
        return [f for f in self.filters or [] if _redacted(f)]

    def ignoring(self, why: str) -> MonitorSlice:
        return replace(self, ignored=why)

    def where(self) -> str:
        """The filters in a few words: "traceName any of support-bot, metadata.tenant = acme"."""
        if not self.filters:
            return "no filters"
        parts = []
        for f in self.filters:
            column = f"{f.get('column')}.{f['key']}" if f.get("key") else str(f.get("column"))
            value = f.get("value")
            shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            parts.append(f"{column} {f.get('operator')} {shown}")
        return "; ".join(parts)

    def describe(self) -> str:
        """Which monitor and which slice, in one line for the evidence summaries."""
        what = f"{self.metric} over {self.window}" if self.metric else f"{self.view} over {self.window}"
        return f"monitor {self.name} ({self.monitor_id}): {what} where {self.where()}"


def monitor_slice(detection: Detection) -> MonitorSlice | None:
    """The monitor's slice when the Detection came from a Langfuse monitor alert, else None."""
    if detection.source != MONITOR_SOURCE:
        return None
    labels = detection.labels
    filters: list[dict[str, Any]] | None
    try:
        parsed = json.loads(labels.get("filters", ""))
        filters = [f for f in parsed if isinstance(f, dict) and f.get("column")] if isinstance(parsed, list) \
            else None
    except ValueError:
        filters = None
    found = MonitorSlice(
        monitor_id=labels.get("monitor_id") or detection.fingerprint or "?", name=labels.get("monitor", "?"),
        project_id=labels.get("langfuse_project_id") or None, view=labels.get("view", ""),
        metric=labels.get("metric"), window=labels.get("window", "?"), evaluated_from=_time(labels.get("from")),
        evaluated_to=_time(labels.get("to")), filters=filters, threshold=detection.metrics.get("threshold"))
    if "filters" not in labels:
        return found.ignoring("the alert carried no filters")
    if filters is None:
        return found.ignoring("the monitor's filters were too long to carry in the alert")
    return found


def _redacted(f: dict[str, Any]) -> bool:
    return REDACTED in json.dumps(f.get("value")) or REDACTED in str(f.get("key") or "")


def _time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def observation_filters(scope: MonitorSlice) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the monitor's filters as Observations v2 takes them, the filters it cannot take). A promptVersion filter
    naming one version becomes the number filter that column takes."""
    kept: list[dict[str, Any]] = []
    left_out: list[dict[str, Any]] = []
    for f in scope.applicable():
        accepted = OBSERVATION_COLUMNS.get(str(f.get("column")))
        if accepted is not None and (f.get("type") in accepted or f.get("type") == "null"):
            kept.append(f)  # a "null" filter (is null / is not null) is checked against no column type
        elif f.get("column") == "promptVersion" and (number := _one_version(f)) is not None:
            kept.append({"type": "number", "column": "promptVersion", "operator": "=", "value": number})
        else:
            left_out.append(f)
    return kept, left_out


def _one_version(f: dict[str, Any]) -> int | None:
    value = f.get("value")
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else None
    if f.get("operator") not in ("=", "any of"):  # a number filter has no negation (filterOperators.number)
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


def pinned(scope: MonitorSlice, column: str) -> str | None:
    """The one value the monitor pins `column` to (an "=" or a one-value "any of"), else None."""
    for f in scope.applicable():
        value = f.get("value")
        if f.get("column") != column or f.get("key"):
            continue
        if f.get("operator") == "any of" and isinstance(value, list) and len(value) == 1:
            return str(value[0])
        if f.get("operator") == "=" and isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
    return None


def for_project(client: Langfuse, scope: MonitorSlice) -> MonitorSlice:
    """The slice, or the slice marked not followed when this source's keys read another Langfuse project than the
    monitor's (a playbook with several Langfuse sources): another project's data under the monitor's filters
    would be a slice of nothing the monitor saw."""
    if not scope.usable or not scope.project_id:
        return scope
    try:
        ids = [p.id for p in client.api.projects.get().data]
    except Exception:  # noqa: BLE001 - cannot tell: follow the monitor; the reads below report a failing Langfuse
        return scope
    if ids and scope.project_id not in ids:
        return scope.ignoring(f"the monitor is in Langfuse project {scope.project_id}, this source's keys read "
                              f"{', '.join(ids)}")
    return scope
