"""What the Metrics API v2 readers (watchers and the evidence series) share."""

from __future__ import annotations

from typing import Any


def as_number(value: Any) -> float | None:
    """A metrics row value as a float (ClickHouse may send big numbers as strings); None when absent."""
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

