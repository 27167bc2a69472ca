"""The Langfuse adapter, over the real langfuse 5 SDK: prompt-label rollback with read-back verification,
the blast-window pull (root observations and scores) for the evidence pack, and the watchers' reads (breaching
scores, Metrics API v2 values and baselines, tool/agent loops, personal data in trace input/output).

Keys come from the environment variables the playbook names (LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY by
default), never from the playbook itself. Errors are sorted for Temporal: `LangfuseUnavailable` may pass on
a retry, `LangfuseRejected` will not (bad keys, unknown prompt or version, a label that did not move).

The SDK keeps one client per public key per process (`LangfuseResourceManager`), whatever base URL a later
`Langfuse(...)` asks for; `client_for` refuses that mix-up instead of silently talking to the wrong host.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from langfuse import Langfuse
from langfuse.api import NotFoundError
from langfuse.api.core.api_error import ApiError
from langfuse.api.core.request_options import RequestOptions

from integrations.redact import redact_text, redact_value
from playbook.config import (
    AgentLoopWatcher,
    DataExposureWatcher,
    EvidenceSource,
    LangfuseConnection,
    LangfusePromptRollbackAction,
    MetricWatcher,
    render_template,
)

CLOUD_URL = "https://cloud.langfuse.com"
OBSERVATION_PAGE = 100   # the API allows up to 1000; 100 keeps each response small
SCORE_PAGE = 100         # the API's maximum for scores v3
LOOP_PAGE = 1000         # loop scans read core fields only, so the API's maximum page
# Watchers leave retrying to Temporal (each attempt recorded, backoff on the workflow's clock), not the SDK's own
# wall-clock retries.
NO_SDK_RETRIES: RequestOptions = {"max_retries": 0}
OBSERVATION_FIELDS = "core,basic,io,trace_context"


class LangfuseError(Exception):
    pass


class LangfuseUnavailable(LangfuseError):
    """Langfuse did not answer usefully (network, 5xx, 429); a retry may succeed."""


class LangfuseRejected(LangfuseError):
    """Langfuse answered and answering again will not help, or the configuration is wrong."""


class LangfuseVerificationError(LangfuseRejected):
    """The label move was accepted but reading the prompt back shows the label elsewhere."""


_clients: dict[tuple[str, str, str], Langfuse] = {}
_clients_lock = threading.Lock()


def base_url_of(conn: LangfuseConnection) -> str:
    return (conn.base_url or os.environ.get("LANGFUSE_BASE_URL") or os.environ.get("LANGFUSE_HOST")
            or CLOUD_URL).rstrip("/")


def client_for(conn: LangfuseConnection) -> Langfuse:
    """A Langfuse client (tracing off: Firebreak only reads and moves labels) for this connection."""
    public_key = os.environ.get(conn.public_key_env, "")
    secret_key = os.environ.get(conn.secret_key_env, "")
    missing = [name for name, value in ((conn.public_key_env, public_key), (conn.secret_key_env, secret_key))
               if not value]
    if missing:
        raise LangfuseRejected(f"set the environment variable(s) {', '.join(missing)} to the Langfuse project's "
                               "keys on the worker (the playbook names the variables, never the keys)")
    url = base_url_of(conn)
    key = (url, public_key, secret_key)
    with _clients_lock:
        if key in _clients:
            return _clients[key]
        clash = next((k for k in _clients if k[1] == public_key), None)
        if clash is not None:
            raise LangfuseRejected(f"this worker already uses public key {public_key[:12]}... with {clash[0]}; the "
                                   f"langfuse SDK keeps one client per public key, so {url} needs its own key")
        client = Langfuse(public_key=public_key, secret_key=secret_key, base_url=url, tracing_enabled=False,
                          timeout=conn.timeout_seconds)
        _clients[key] = client
        return client


def _classify(err: Exception, what: str) -> LangfuseError:
    if isinstance(err, LangfuseError):
        return err
    if isinstance(err, NotFoundError):
        return LangfuseRejected(f"{what}: Langfuse has no such prompt or version (404)")
    if isinstance(err, ApiError):
        status = err.status_code or 0
        body = str(err.body)[:300]
        if status in (401, 403):
            return LangfuseRejected(f"{what}: Langfuse refused the keys ({status}); check the key variables")
        if 400 <= status < 500 and status not in (408, 429):
            return LangfuseRejected(f"{what}: Langfuse answered {status}: {body}")
        return LangfuseUnavailable(f"{what}: Langfuse answered {status}: {body}")
    if isinstance(err, httpx.HTTPError | OSError | TimeoutError):
        return LangfuseUnavailable(f"{what}: could not reach Langfuse: {err}")
    return LangfuseUnavailable(f"{what}: {type(err).__name__}: {err}")


# ---------------------------------------------------------------------------------------------- prompt rollback

@dataclass(frozen=True)
class RollbackResult:
    name: str
    label: str
    version: int
    previous_version: int | None
    moved: bool

    @property
    def detail(self) -> str:
        if not self.moved:
            return f"{self.label} label of {self.name} was already on version {self.version} (verified)"
        before = f"version {self.previous_version}" if self.previous_version is not None else "no version"
        return f"moved the {self.label} label of {self.name} from {before} to version {self.version} (verified)"


def label_holder(client: Langfuse, name: str, label: str) -> int | None:
    """The version that carries `label` now, read past every cache; None when no version has it."""
    try:
        prompt = client.get_prompt(name, label=label, cache_ttl_seconds=0, max_retries=0)
    except NotFoundError:
        return None
    except Exception as err:  # noqa: BLE001 - the SDK raises ApiError, httpx errors and its own
        raise _classify(err, f"reading {name}@{label}") from err
    return int(prompt.version)


def resolve_rollback(action: LangfusePromptRollbackAction, variables: Mapping[str, object]) -> tuple[str, int]:
    """The prompt name and version the action means for this incident; LangfuseRejected says what is missing."""
    name = render_template(action.prompt_name, variables).strip()
    raw_version = render_template(action.prompt_version, variables).strip()
    if not name:
        raise LangfuseRejected("no prompt name to roll back: set known_good.prompt_name for the service "
                               "(or prompt_name on the action)")
    try:
        version = int(raw_version)
    except ValueError:
        raise LangfuseRejected(f"no prompt version to roll {name} back to ('{raw_version}'): set "
                               "known_good.prompt_version for the service (or prompt_version on the action)") from None
    if version < 1:
        raise LangfuseRejected(f"prompt version {version} of {name} is not a Langfuse version (they start at 1)")
    return name, version


def rollback_prompt(client: Langfuse, name: str, version: int, label: str = "production") -> RollbackResult:
    """Move `label` to `version` of prompt `name` and verify by reading it back. Idempotent: a label that is
    already there is left alone (and still verified)."""
    before = label_holder(client, name, label)
    if before != version:
        try:
            client.update_prompt(name=name, version=version, new_labels=[label])
        except Exception as err:  # noqa: BLE001
            raise _classify(err, f"moving {label} of {name} to version {version}") from err
    after = label_holder(client, name, label)
    if after != version:
        raise LangfuseVerificationError(
            f"Langfuse accepted moving the {label} label of {name} to version {version}, but reading it back "
            f"shows it on {'no version' if after is None else f'version {after}'}; check the prompt in Langfuse "
            "before trusting the rollback")
    return RollbackResult(name=name, label=label, version=version, previous_version=before, moved=before != version)


# ---------------------------------------------------------------------------------------------- blast window

@dataclass(frozen=True)
class BlastWindow:
    start: datetime
    end: datetime


def blast_window(source: EvidenceSource, detected_at: datetime, now: datetime | None = None) -> BlastWindow:
    end = now or datetime.now(UTC)
    start = detected_at - timedelta(minutes=source.lookback_minutes)
    return BlastWindow(start=min(start, end), end=end)


def observation_filter(source: EvidenceSource, variables: Mapping[str, object], window: BlastWindow) -> str:
    """The observations v2 `filter` JSON. It takes precedence over query parameters, so it carries the window."""
    conditions: list[dict[str, Any]] = [
        {"type": "datetime", "column": "startTime", "operator": ">=", "value": _iso(window.start)},
        {"type": "datetime", "column": "startTime", "operator": "<", "value": _iso(window.end)},
        {"type": "boolean", "column": "isRootObservation", "operator": "=", "value": True},
    ]
    if source.trace_name:
        conditions.append({"type": "string", "column": "traceName", "operator": "=",
                           "value": render_template(source.trace_name, variables)})
    tags = [t for t in (render_template(tag, variables) for tag in source.tags) if t]
    if tags:
        conditions.append({"type": "arrayOptions", "column": "tags", "operator": "any of", "value": tags})
    if source.environment:
        conditions.append({"type": "string", "column": "environment", "operator": "=", "value": source.environment})
    return json.dumps(conditions)


def fetch_root_observations(client: Langfuse, source: EvidenceSource, variables: Mapping[str, object],
                            window: BlastWindow) -> tuple[list[dict[str, Any]], bool]:
    """Root observations (one per trace) in the window, following cursors; (rows, truncated)."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    flt = observation_filter(source, variables, window)
    for _ in range(source.max_observations // OBSERVATION_PAGE + 2):  # bounded: never more pages than needed
        try:
            page = client.api.observations.get_many(
                fields=OBSERVATION_FIELDS, limit=OBSERVATION_PAGE, cursor=cursor, is_root_observation=True,
                from_start_time=window.start, to_start_time=window.end, filter=flt)
        except Exception as err:  # noqa: BLE001
            raise _classify(err, "reading observations") from err
        rows.extend(o.dict(by_alias=True, exclude_none=True) for o in page.data)
        cursor = page.meta.cursor if page.meta is not None else None
        if len(rows) >= source.max_observations:
            return rows[:source.max_observations], bool(cursor) or len(rows) > source.max_observations
        if not cursor:
            return rows, False
    return rows, True


def fetch_scores(client: Langfuse, source: EvidenceSource, window: BlastWindow) -> tuple[list[dict[str, Any]], bool]:
    """Scores of the configured names in the window, following cursors; (rows, truncated)."""
    if not source.score_names:
        return [], False
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(source.max_scores // SCORE_PAGE + 2):
        try:
            page = client.api.scores.get_many(
                name=",".join(source.score_names), from_timestamp=window.start, to_timestamp=window.end,
                fields="details,subject", limit=SCORE_PAGE, cursor=cursor, environment=source.environment)
        except Exception as err:  # noqa: BLE001
            raise _classify(err, "reading scores") from err
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
        "window": {"from": _iso(window.start), "to": _iso(window.end)},
        "traces_affected": len(traces), "users_affected": len(users), "sessions_affected": len(sessions),
        "trace_ids": traces, "truncated": truncated,
        "scores": {name: {"count": len(vals), "mean": round(sum(vals) / len(vals), 4), "max": max(vals)}
                   for name, vals in sorted(by_name.items())},
    }


def collect_langfuse_evidence(source: EvidenceSource, variables: Mapping[str, object], detected_at: datetime,
                              now: datetime | None = None) -> tuple[str, dict[str, bytes]]:
    """(where it came from, {suffix: redacted JSON}) for the observations, the scores and the blast radius."""
    client = client_for(source)
    window = blast_window(source, detected_at, now)
    observations, obs_cut = fetch_root_observations(client, source, variables, window)
    scores, scores_cut = fetch_scores(client, source, window)
    radius = blast_radius(observations, scores, window, obs_cut or scores_cut)
    counts: Counter[str] = Counter()
    safe_obs = redact_value(observations, counts)
    safe_scores = redact_value(scores, counts)
    radius["redactions"] = dict(sorted(counts.items()))
    where = f"{base_url_of(source)}/api/public/v2/observations+v3/scores"
    return where, {
        "observations.json": _dump({"window": radius["window"], "truncated": obs_cut, "observations": safe_obs}),
        "scores.json": _dump({"window": radius["window"], "truncated": scores_cut, "scores": safe_scores}),
        "blast_radius.json": _dump(redact_value(radius)),
    }


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _json_default(value: Any) -> str:
    return _iso(value) if isinstance(value, datetime) else str(value)


def _dump(data: Any) -> bytes:
    return json.dumps(data, indent=2, default=_json_default, sort_keys=True).encode()


# ---------------------------------------------------------------------------------------------- watchers

@dataclass(frozen=True)
class BreachCount:
    count: int
    max_value: float | None
    trace_ids: list[str]
    truncated: bool


def count_breaches(client: Langfuse, score_names: list[str], threshold: float, start: datetime, end: datetime,
                   environment: str | None = None, max_scores: int = 1000) -> BreachCount:
    """How many NUMERIC scores of these names are at or over `threshold` in [start, end), following cursors."""
    count, top, cursor = 0, None, None
    traces: list[str] = []
    for _ in range(max_scores // SCORE_PAGE + 1):
        try:
            page = client.api.scores.get_many(
                name=",".join(score_names), data_type="NUMERIC", value_min=threshold, from_timestamp=start,
                to_timestamp=end, environment=environment, fields="subject", limit=SCORE_PAGE, cursor=cursor,
                request_options=NO_SDK_RETRIES)
        except Exception as err:  # noqa: BLE001
            raise _classify(err, "reading scores") from err
        for score in page.data:
            value = getattr(score, "value", None)
            if not isinstance(value, int | float) or value < threshold:  # a server that ignores valueMin
                continue
            count += 1
            top = value if top is None else max(top, value)
            subject = getattr(score, "subject", None)
            kind = getattr(subject, "kind", None)
            trace = getattr(subject, "trace_id", None) if kind == "observation" else (
                getattr(subject, "id", None) if kind == "trace" else None)
            if trace and len(traces) < 10 and str(trace) not in traces:
                traces.append(str(trace))
        cursor = page.meta.cursor
        if not cursor:
            return BreachCount(count, float(top) if top is not None else None, traces, False)
    return BreachCount(count, float(top) if top is not None else None, traces, True)


# ---------------------------------------------------------------------------------------------- metric watchers

@dataclass(frozen=True)
class MetricReading:
    value: float | None      # the window's value (per minute for sums); None when Langfuse had no data
    count: int               # observations in the window
    baseline: float | None   # the median of the baseline's hourly values (per minute for sums)
    baseline_buckets: int


def _number(value: Any) -> float | None:
    """A metrics row value as a float (ClickHouse may send big numbers as strings); None when absent."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN: no data


def metric_filters(watcher: MetricWatcher) -> list[dict[str, Any]]:
    conditions: list[dict[str, Any]] = []
    if watcher.environment:
        conditions.append({"column": "environment", "operator": "=", "value": watcher.environment, "type": "string"})
    if watcher.trace_name:
        conditions.append({"column": "traceName", "operator": "=", "value": watcher.trace_name, "type": "string"})
    if watcher.tags:
        conditions.append({"column": "tags", "operator": "any of", "value": watcher.tags, "type": "arrayOptions"})
    if watcher.model:
        conditions.append({"column": "providedModelName", "operator": "=", "value": watcher.model, "type": "string"})
    if watcher.observation_type:
        conditions.append({"column": "type", "operator": "=", "value": watcher.observation_type, "type": "string"})
    elif watcher.kind == "latency_spike":  # end-to-end: the trace's own (root) observation
        conditions.append({"column": "isRootObservation", "operator": "=", "value": True, "type": "boolean"})
    return conditions


def metric_query(watcher: MetricWatcher, start: datetime, end: datetime, granularity: str | None = None) -> str:
    """The Metrics API v2 query (view observations): the measure and the observation count, maybe per bucket."""
    query: dict[str, Any] = {
        "view": "observations",
        "metrics": [{"measure": watcher.measure, "aggregation": watcher.aggregation},
                    {"measure": "count", "aggregation": "count"}],
        "filters": metric_filters(watcher), "fromTimestamp": _iso(start), "toTimestamp": _iso(end)}
    if granularity:
        query["timeDimension"] = {"granularity": granularity}
        query["config"] = {"row_limit": 1000}
    return json.dumps(query)


def _metrics(client: Langfuse, query: str, what: str) -> list[dict[str, Any]]:
    try:
        return list(client.api.metrics.metrics(query=query, request_options=NO_SDK_RETRIES).data)
    except Exception as err:  # noqa: BLE001
        raise _classify(err, what) from err


def read_metric(client: Langfuse, watcher: MetricWatcher, start: datetime, end: datetime) -> MetricReading:
    """The window's value and observation count, and (for `ratio`) the baseline: the median of the hourly values
    of the `baseline_minutes` (rounded up to whole clock hours) before the hour the window starts in. Sums are
    taken per minute so windows of any length compare."""
    key, sums = f"{watcher.measure}_{watcher.aggregation}", watcher.aggregation == "sum"
    window_minutes = max((end - start).total_seconds() / 60, 1e-9)
    rows = _metrics(client, metric_query(watcher, start, end), f"reading {key} for the window")
    value = _number(rows[0].get(key)) if rows else None
    count = int(_number(rows[0].get("count_count")) or 0) if rows else 0
    if value is not None and sums:
        value /= window_minutes
    baseline, buckets = None, 0
    if watcher.ratio is not None:
        # Whole clock hours only, so every bucket covers its 60 minutes: the hours before the one the window
        # starts in.
        until = datetime.fromtimestamp(int(start.timestamp()) // 3600 * 3600, UTC)
        since = until - timedelta(hours=-(-watcher.baseline_minutes // 60))
        hourly = _metrics(client, metric_query(watcher, since, until, "hour"), f"reading the {key} baseline")
        values = sorted(v / 60 if sums else v for v in (
            _number(r.get(key)) for r in hourly if (_number(r.get("count_count")) or 0) > 0) if v is not None)
        buckets = len(values)
        if values:
            mid = len(values) // 2
            baseline = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
    return MetricReading(value=value, count=count, baseline=baseline, baseline_buckets=buckets)


# ---------------------------------------------------------------------------------------------- loop and PII scans

def _scope_filter(scope: AgentLoopWatcher | DataExposureWatcher, start: datetime, end: datetime,
                  extra: list[dict[str, Any]]) -> str:
    conditions: list[dict[str, Any]] = [
        {"type": "datetime", "column": "startTime", "operator": ">=", "value": _iso(start)},
        {"type": "datetime", "column": "startTime", "operator": "<", "value": _iso(end)}, *extra]
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
            raise _classify(err, f"{what} (after {len(rows)} observation(s))") from err
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
    found with integrations/redact.py's detectors. Only counts leave this function, never the text."""
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
