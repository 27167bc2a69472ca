"""The loop and data-exposure watchers' reads: tool/agent observations repeating within a trace, and personal
data or secrets in trace input/output (Observations API v2)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from integrations.langfuse.client import NO_SDK_RETRIES, OBSERVATION_PAGE, classify
from integrations.langfuse.formats import iso
from playbook.config import AgentLoopWatcher, DataExposureWatcher
from playbook.redact import redact_text

if TYPE_CHECKING:  # the SDK loads with the first Langfuse client (client_for), not with the worker
    from langfuse import Langfuse

LOOP_PAGE = 1000         # loop scans read core fields only, so the API's maximum page


def _scope_filter(scope: AgentLoopWatcher | DataExposureWatcher, start: datetime, end: datetime,
                  extra: list[dict[str, Any]]) -> str:
    conditions: list[dict[str, Any]] = [
        {"type": "datetime", "column": "startTime", "operator": ">=", "value": iso(start)},
        {"type": "datetime", "column": "startTime", "operator": "<", "value": iso(end)}, *extra]
    if scope.trace_name:
        conditions.append({"type": "string", "column": "traceName", "operator": "=", "value": scope.trace_name})
    if scope.tags:
        conditions.append({"type": "arrayOptions", "column": "tags", "operator": "any of", "value": scope.tags})
    if scope.environment:
        conditions.append({"type": "string", "column": "environment", "operator": "=", "value": scope.environment})
    return json.dumps(conditions)


def _observation_pages(client: Langfuse, flt: str, fields: str, start: datetime, end: datetime, max_rows: int,
                       page_size: int, what: str) -> tuple[list[Any], bool]:
    """Every observation the filter matches, up to `max_rows`; (rows, truncated). All or nothing: a page that
    fails raises, so a caller never decides on the first pages of an answer."""
    rows: list[Any] = []
    cursor: str | None = None
    for _ in range(max_rows // page_size + 2):
        try:
            page = client.api.observations.get_many(fields=fields, limit=page_size, cursor=cursor,
                                                    from_start_time=start, to_start_time=end, filter=flt,
                                                    request_options=NO_SDK_RETRIES)
        except Exception as err:  # noqa: BLE001
            raise classify(err, f"{what} (after {len(rows)} observation(s))") from err
        rows.extend(page.data)
        cursor = page.meta.cursor if page.meta is not None else None
        if len(rows) >= max_rows:
            return rows[:max_rows], bool(cursor) or len(rows) > max_rows
        if not cursor:
            return rows, False
    return rows, True


@dataclass(frozen=True)
class LoopScan:
    looping: dict[str, tuple[str, str, int]]  # trace id -> (observation type, name, times), its worst repeat
    scanned: int
    truncated: bool


def scan_loops(client: Langfuse, watcher: AgentLoopWatcher, start: datetime, end: datetime) -> LoopScan:
    """Traces whose tool/agent observations (same type and name) repeat more than `max_repeats` times."""
    extra: list[dict[str, Any]] = [{"type": "stringOptions", "column": "type", "operator": "any of",
                                    "value": watcher.observation_types}]
    if watcher.names:
        extra.append({"type": "stringOptions", "column": "name", "operator": "any of", "value": watcher.names})
    rows, truncated = _observation_pages(client, _scope_filter(watcher, start, end, extra), "core,basic", start, end,
                                         watcher.max_observations, LOOP_PAGE, "reading tool/agent observations")
    counts: Counter[tuple[str, str, str]] = Counter(
        (str(o.trace_id), str(o.type), str(getattr(o, "name", None) or "")) for o in rows if o.trace_id)
    looping: dict[str, tuple[str, str, int]] = {}
    for (trace, kind, name), times in counts.most_common():
        if times > watcher.max_repeats and trace not in looping:
            looping[trace] = (kind, name, times)
    return LoopScan(looping=looping, scanned=len(rows), truncated=truncated)


@dataclass(frozen=True)
class PiiScan:
    traces: dict[str, dict[str, int]]  # trace id -> {kind: how many}, only traces with a watched kind
    scanned: int
    truncated: bool


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def scan_pii(client: Langfuse, watcher: DataExposureWatcher, start: datetime, end: datetime) -> PiiScan:
    """Personal data and secrets in the input/output of up to `sample` traces (root observations) of the window,
    found with playbook/redact.py's detectors. Only counts leave this function, never the text."""
    rows, truncated = _observation_pages(
        client, _scope_filter(watcher, start, end, [{"type": "boolean", "column": "isRootObservation",
                                                     "operator": "=", "value": True}]),
        "core,basic,io", start, end, watcher.sample, OBSERVATION_PAGE, "reading trace input/output")
    wanted = set(watcher.pii_kinds)
    found: dict[str, dict[str, int]] = {}
    for o in rows:
        counts: Counter[str] = Counter()
        redact_text(_text(getattr(o, "input", None)), counts)
        redact_text(_text(getattr(o, "output", None)), counts)
        hits = {k: n for k, n in sorted(counts.items()) if k in wanted and n}
        if hits and o.trace_id:
            merged = found.setdefault(str(o.trace_id), {})
            for k, n in hits.items():
                merged[k] = merged.get(k, 0) + n
    return PiiScan(traces=found, scanned=len(rows), truncated=truncated)
