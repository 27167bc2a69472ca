"""The blast-window pull for the evidence pack: root observations (one per trace) and scores of the window, and
how far the incident reached (traces, users, sessions, scores by name).

When the incident came from a Langfuse monitor (integrations/langfuse/monitor_slice.py), the pull is the monitor's
slice instead of the source's own scope: every observation the monitor's filters select (the monitor counts
observations, and a filter on the model selects generations, not roots), over a window that holds the one the
monitor evaluated."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from integrations.langfuse.client import OBSERVATION_PAGE, SCORE_PAGE, base_url_of, classify, client_for
from integrations.langfuse.formats import dump, iso
from integrations.langfuse.monitor_slice import MonitorSlice, observation_filters, pinned
from playbook.config import EvidenceSource, render_template
from playbook.redact import redact_text, redact_value

if TYPE_CHECKING:  # the SDK loads with the first Langfuse client (client_for), not with the worker
    from langfuse import Langfuse

OBSERVATION_FIELDS = "core,basic,io,trace_context"
# Identifiers Langfuse (or OpenTelemetry) generates: 16 or 32 hex digits (span and trace ids) or a UUID. A span id of
# 16 decimal digits that passes the Luhn check looks like a card number to the redactor (about one in 18,000 ids);
# these fields are kept as they are when they have that form, and redacted like the rest otherwise.
ID_FIELDS = frozenset({"id", "traceId", "parentObservationId", "observationId"})
GENERATED_ID = re.compile(r"[0-9a-f]{16}|[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class BlastWindow:
    start: datetime
    end: datetime


def follows(scope: MonitorSlice | None) -> bool:
    """Whether the pull follows a monitor's slice (an observations monitor whose filters the alert carried)."""
    return scope is not None and scope.usable and scope.observations_view


def blast_window(source: EvidenceSource, detected_at: datetime, now: datetime | None = None,
                 scope: MonitorSlice | None = None) -> BlastWindow:
    end = now or datetime.now(UTC)
    start = detected_at - timedelta(minutes=source.lookback_minutes)
    if scope is not None and scope.usable and scope.evaluated_from is not None:
        start = min(start, scope.evaluated_from)  # the whole window the monitor evaluated (a "1d" monitor's too)
    return BlastWindow(start=min(start, end), end=end)


def redact_rows(rows: list[dict[str, Any]], counts: Counter[str]) -> list[dict[str, Any]]:
    """Rows redacted like any other data, except Langfuse's own identifiers (ID_FIELDS in a generated form)."""
    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {redact_text(str(k), counts): v if k in ID_FIELDS and isinstance(v, str)
                    and GENERATED_ID.fullmatch(v) else walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return redact_value(value, counts)
    return [walk(row) for row in rows]


def observation_filter(source: EvidenceSource, variables: Mapping[str, object], window: BlastWindow,
                       scope: MonitorSlice | None = None) -> str:
    """The observations v2 `filter` JSON. It takes precedence over query parameters, so it carries the window.
    Following a monitor, the monitor's filters (those the endpoint takes) replace the source's scope."""
    conditions: list[dict[str, Any]] = [
        {"type": "datetime", "column": "startTime", "operator": ">=", "value": iso(window.start)},
        {"type": "datetime", "column": "startTime", "operator": "<", "value": iso(window.end)},
    ]
    if scope is not None and follows(scope):
        return json.dumps([*conditions, *observation_filters(scope)[0]])
    conditions.append({"type": "boolean", "column": "isRootObservation", "operator": "=", "value": True})
    if source.trace_name:
        conditions.append({"type": "string", "column": "traceName", "operator": "=",
                           "value": render_template(source.trace_name, variables)})
    tags = [t for t in (render_template(tag, variables) for tag in source.tags) if t]
    if tags:
        conditions.append({"type": "arrayOptions", "column": "tags", "operator": "any of", "value": tags})
    if source.environment:
        conditions.append({"type": "string", "column": "environment", "operator": "=", "value": source.environment})
    return json.dumps(conditions)


def fetch_observations(client: Langfuse, source: EvidenceSource, variables: Mapping[str, object],
                       window: BlastWindow, scope: MonitorSlice | None = None) -> tuple[list[dict[str, Any]], bool]:
    """Root observations (one per trace) in the window, or every observation of a monitor's slice, following
    cursors; (rows, truncated)."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    flt = observation_filter(source, variables, window, scope)
    root = None if follows(scope) else True
    for _ in range(source.max_observations // OBSERVATION_PAGE + 2):  # bounded: never more pages than needed
        try:
            page = client.api.observations.get_many(
                fields=OBSERVATION_FIELDS, limit=OBSERVATION_PAGE, cursor=cursor, is_root_observation=root,
                from_start_time=window.start, to_start_time=window.end, filter=flt)
        except Exception as err:  # noqa: BLE001
            raise classify(err, "reading observations") from err
        rows.extend(o.dict(by_alias=True, exclude_none=True) for o in page.data)
        cursor = page.meta.cursor if page.meta is not None else None
        if len(rows) >= source.max_observations:
            return rows[:source.max_observations], bool(cursor) or len(rows) > source.max_observations
        if not cursor:
            return rows, False
    return rows, True


def fetch_scores(client: Langfuse, source: EvidenceSource, window: BlastWindow,
                 scope: MonitorSlice | None = None) -> tuple[list[dict[str, Any]], bool]:
    """Scores of the configured names in the window, following cursors; (rows, truncated). Following a monitor:
    in the environment the monitor pins, and for a scores monitor, the score it watches too."""
    names = list(source.score_names)
    environment = source.environment
    if scope is not None and scope.usable:
        environment = pinned(scope, "environment") or environment
        watched = pinned(scope, "name") if scope.view.startswith("scores") else None
        names += [watched] if watched and watched not in names else []
    if not names:
        return [], False
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(source.max_scores // SCORE_PAGE + 2):
        try:
            page = client.api.scores.get_many(
                name=",".join(names), from_timestamp=window.start, to_timestamp=window.end,
                fields="details,subject", limit=SCORE_PAGE, cursor=cursor, environment=environment)
        except Exception as err:  # noqa: BLE001
            raise classify(err, "reading scores") from err
        rows.extend(s.dict(by_alias=True, exclude_none=True) for s in page.data)
        cursor = page.meta.cursor
        if len(rows) >= source.max_scores:
            return rows[:source.max_scores], bool(cursor) or len(rows) > source.max_scores
        if not cursor:
            return rows, False
    return rows, True


def blast_radius(observations: list[dict[str, Any]], scores: list[dict[str, Any]], window: BlastWindow,
                 truncated: bool) -> dict[str, Any]:
    """How far the incident reached in the window: traces, users and sessions, and the scores by name."""
    traces = sorted({str(o["traceId"]) for o in observations if o.get("traceId")})
    users = {str(o["userId"]) for o in observations if o.get("userId")}
    sessions = {str(o["sessionId"]) for o in observations if o.get("sessionId")}
    by_name: dict[str, list[float]] = {}
    for score in scores:
        value = score.get("value")
        if isinstance(value, bool | int | float):
            by_name.setdefault(str(score.get("name")), []).append(float(value))
    return {
        "window": {"from": iso(window.start), "to": iso(window.end)},
        "traces_affected": len(traces), "users_affected": len(users), "sessions_affected": len(sessions),
        "trace_ids": traces, "truncated": truncated,
        "scores": {name: {"count": len(vals), "mean": round(sum(vals) / len(vals), 4), "max": max(vals)}
                   for name, vals in sorted(by_name.items())},
    }


def slice_record(scope: MonitorSlice | None) -> dict[str, Any] | None:
    """What the evidence says about the monitor it followed (or why it did not)."""
    if scope is None:
        return None
    record: dict[str, Any] = {
        "monitor_id": scope.monitor_id, "name": scope.name, "view": scope.view, "metric": scope.metric,
        "window": scope.window, "threshold": scope.threshold,
        "evaluated": {"from": iso(scope.evaluated_from) if scope.evaluated_from else None,
                      "to": iso(scope.evaluated_to) if scope.evaluated_to else None},
        "filters": scope.filters, "followed": follows(scope)}
    if scope.ignored or not scope.observations_view:
        record["not_followed_because"] = scope.ignored or (
            f"a {scope.view} monitor: its score is pulled, the observations are the source's own scope")
    elif left_out := observation_filters(scope)[1]:
        record["filters_not_applied_to_observations"] = left_out
    if scope.redacted():
        record["filters_redacted_on_the_way_in"] = scope.redacted()  # left out of every read
    return record


def collect_langfuse_evidence(source: EvidenceSource, variables: Mapping[str, object], detected_at: datetime,
                              now: datetime | None = None,
                              scope: MonitorSlice | None = None) -> tuple[str, dict[str, bytes]]:
    """(where it came from, {suffix: redacted JSON}) for the observations, the scores and the blast radius: the
    source's scope, or the slice of the monitor the incident came from."""
    client = client_for(source)
    window = blast_window(source, detected_at, now, scope)
    observations, obs_cut = fetch_observations(client, source, variables, window, scope)
    scores, scores_cut = fetch_scores(client, source, window, scope)
    radius = blast_radius(observations, scores, window, obs_cut or scores_cut)
    counts: Counter[str] = Counter()
    safe_obs = redact_rows(observations, counts)
    safe_scores = redact_rows(scores, counts)
    radius["redactions"] = dict(sorted(counts.items()))
    monitor = redact_value(slice_record(scope))  # a filter may name a user
    if monitor is not None:
        radius["monitor"] = monitor
    where = f"{base_url_of(source)}/api/public/v2/observations+v3/scores"
    return where, {
        "observations.json": dump({"window": radius["window"], "truncated": obs_cut, "observations": safe_obs,
                                   **({"monitor": monitor} if monitor is not None else {})}),
        "scores.json": dump({"window": radius["window"], "truncated": scores_cut, "scores": safe_scores}),
        "blast_radius.json": dump(redact_value(radius)),
    }
