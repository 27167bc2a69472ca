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

import hashlib
import json
import os
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from langfuse import Langfuse
from langfuse.api import NotFoundError
from langfuse.api.core.api_error import ApiError
from langfuse.api.core.request_options import RequestOptions

from playbook.config import (
    AgentLoopWatcher,
    DataExposureWatcher,
    EvidenceSource,
    LangfuseConnection,
    LangfusePromptRollbackAction,
    MetricWatcher,
    render_template,
)
from playbook.redact import redact_text, redact_value

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


def move_label(client: Langfuse, name: str, version: int, label: str, current: int | None) -> None:
    """Put `label` on `version` of prompt `name` (left alone when `current`, the version holding it now, is that
    version) and verify by reading it back: every label move (rollback, promotion, undo) goes through here."""
    doing = f"moving the {label} label of {name} to version {version}"
    if current != version:
        try:
            client.update_prompt(name=name, version=version, new_labels=[label])
        except Exception as err:  # noqa: BLE001
            raise _classify(err, doing) from err
    after = label_holder(client, name, label)
    if after != version:
        raise LangfuseVerificationError(
            f"Langfuse accepted {doing}, but reading it back shows it on "
            f"{'no version' if after is None else f'version {after}'}; check the prompt in Langfuse before "
            "trusting it")


def rollback_prompt(client: Langfuse, name: str, version: int, label: str = "production") -> RollbackResult:
    """Move `label` to `version` of prompt `name` and verify by reading it back. Idempotent: a label that is
    already there is left alone (and still verified)."""
    before = label_holder(client, name, label)
    move_label(client, name, version, label, before)
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


# ---------------------------------------------------------------------------------------------- evidence extras

@dataclass(frozen=True)
class EvidencePart:
    """One more item of a langfuse evidence source: its content and one-line summary, or the error that stopped it
    (each part fails on its own, never the pack)."""

    suffix: str
    where: str
    content: bytes | None = None
    summary: str | None = None
    error: str | None = None


SERIES_MAX_BUCKETS = 1000   # the Metrics v2 row_limit maximum; the API has no pagination
_STEP = {"minute": 60, "hour": 3600, "day": 86400}
PROMPT_EXCERPT = 200
DATASET_PAGE = 100


def _series_rows(client: Langfuse, query: dict[str, Any], what: str) -> list[dict[str, Any]]:
    try:
        return [dict(r) for r in client.api.metrics.metrics(query=json.dumps(query)).data]
    except Exception as err:  # noqa: BLE001
        raise _classify(err, what) from err


def _bucket(row: Mapping[str, Any]) -> str:
    return str(row.get("time_dimension") or row.get("timeDimension") or "")


def collect_series(client: Langfuse, source: EvidenceSource, variables: Mapping[str, object],
                   window: BlastWindow) -> tuple[bytes, str]:
    """Cost and latency over the blast window from Metrics v2, one row per `series_granularity` bucket: p95 latency
    (ms) of root observations (whole traces), total cost (USD), tokens and observation count of every observation of
    those traces. At most SERIES_MAX_BUCKETS buckets: a longer window keeps its last ones and says truncated."""
    step = _STEP[source.series_granularity]
    start, truncated = window.start, False
    if (window.end - start).total_seconds() / step > SERIES_MAX_BUCKETS - 1:
        start, truncated = window.end - timedelta(seconds=step * (SERIES_MAX_BUCKETS - 1)), True
    cost_filters = metric_scope(source.environment,
                                render_template(source.trace_name, variables) if source.trace_name else None,
                                [t for t in (render_template(tag, variables) for tag in source.tags) if t])
    base = {"view": "observations", "fromTimestamp": _iso(start), "toTimestamp": _iso(window.end),
            "timeDimension": {"granularity": source.series_granularity},
            "config": {"row_limit": SERIES_MAX_BUCKETS}}
    latency_filters = [*cost_filters, {"column": "isRootObservation", "operator": "=", "value": True,
                                       "type": "boolean"}]
    latency = _series_rows(client, {**base, "filters": latency_filters, "metrics": [
        {"measure": "latency", "aggregation": "p95"}, {"measure": "count", "aggregation": "count"}]},
        "reading the latency series")
    cost = _series_rows(client, {**base, "filters": cost_filters, "metrics": [
        {"measure": "totalCost", "aggregation": "sum"}, {"measure": "totalTokens", "aggregation": "sum"},
        {"measure": "count", "aggregation": "count"}]}, "reading the cost series")
    truncated = truncated or len(latency) >= SERIES_MAX_BUCKETS or len(cost) >= SERIES_MAX_BUCKETS
    buckets: dict[str, dict[str, Any]] = {}
    for row in latency:
        buckets.setdefault(_bucket(row), {}).update(
            latency_p95_ms=_number(row.get("latency_p95")), traces=int(_number(row.get("count_count")) or 0))
    for row in cost:
        buckets.setdefault(_bucket(row), {}).update(
            cost_usd=_number(row.get("totalCost_sum")), tokens=_number(row.get("totalTokens_sum")),
            observations=int(_number(row.get("count_count")) or 0))
    per_minute = step / 60
    series = [{"bucket": key, "latency_p95_ms": b.get("latency_p95_ms"), "cost_usd": b.get("cost_usd"),
               "cost_usd_per_minute": None if b.get("cost_usd") is None else b["cost_usd"] / per_minute,
               "tokens": b.get("tokens"), "traces": b.get("traces", 0), "observations": b.get("observations", 0)}
              for key, b in sorted(buckets.items())]
    peak_latency = max((r for r in series if r["latency_p95_ms"] is not None),
                       key=lambda r: r["latency_p95_ms"], default=None)
    peak_cost = max((r for r in series if r["cost_usd_per_minute"] is not None),
                    key=lambda r: r["cost_usd_per_minute"], default=None)
    parts = []
    if peak_latency is not None:
        parts.append(f"peak p95 latency {peak_latency['latency_p95_ms']:.0f} ms at {peak_latency['bucket']}")
    if peak_cost is not None:
        parts.append(f"peak cost ${peak_cost['cost_usd_per_minute']:.4g}/min at {peak_cost['bucket']}")
    cut = " (truncated: the window has more buckets than Metrics v2 returns)" if truncated else ""
    summary = (f"cost/latency per {source.series_granularity}: {'; '.join(parts)}{cut}" if parts
               else f"cost/latency per {source.series_granularity}: no data in the window{cut}")
    content = {"window": {"from": _iso(start), "to": _iso(window.end)}, "granularity": source.series_granularity,
               "truncated": truncated, "filters": redact_value(cost_filters), "series": series,
               "peak": {"latency_p95_ms": peak_latency, "cost_usd_per_minute": peak_cost}}
    return _dump(content), summary


def _prompt_text_digest(prompt: Any) -> dict[str, Any]:
    """The prompt text as its sha256 and its first PROMPT_EXCERPT characters, redacted: enough to recognise a
    version and match it with the deploy log (which keeps the sha256 only), not a copy of the prompt."""
    raw = getattr(prompt, "prompt", None)
    text = raw if isinstance(raw, str) else json.dumps(
        [m.dict(by_alias=True, exclude_none=True) if hasattr(m, "dict") else m for m in (raw or [])],
        sort_keys=True, default=str)
    return {"sha256": hashlib.sha256(text.encode()).hexdigest(), "chars": len(text),
            "excerpt": redact_text(text)[:PROMPT_EXCERPT]}  # redacted whole first: a cut never splits an address


def _read_prompt(client: Langfuse, name: str, version: int | None, label: str | None) -> dict[str, Any] | None:
    try:
        # The raw API call does not encode the name (the SDK's get_prompt does): a name may hold a "/".
        prompt = client.api.prompts.get(quote(name, safe=""), version=version, label=label)
    except NotFoundError:
        return None
    except Exception as err:  # noqa: BLE001
        raise _classify(err, f"reading {name} {'version ' + str(version) if version else label}") from err
    return {"version": int(prompt.version), "type": getattr(prompt, "type", None), "labels": list(prompt.labels),
            "tags": list(prompt.tags), "commitMessage": prompt.commit_message, "config": prompt.config,
            "text": _prompt_text_digest(prompt)}


def collect_prompts(client: Langfuse, variables: Mapping[str, object]) -> tuple[bytes, str] | None:
    """The prompt versions involved: the detection's (prompt_name / prompt_version), the one labelled production
    now, and the service's known-good one, each with labels, commit message, config and the text's digest.
    None when the incident names no prompt."""
    wanted: dict[str, dict[str, set[str]]] = {}  # name -> {"version:<n>" | "label:production": {roles}}

    def want(name: object, version: object, role: str) -> None:
        if not name or not str(name).strip():
            return
        roles = wanted.setdefault(str(name).strip(), {"label:production": {"production now"}})
        try:
            number = int(str(version)) if version not in (None, "") else None
        except ValueError:
            number = None
        if number is not None:
            roles.setdefault(f"version:{number}", set()).add(role)

    want(variables.get("prompt_name"), variables.get("prompt_version"), "detected")
    want(variables.get("known_good_prompt_name"), variables.get("known_good_prompt_version"), "known good")
    if not wanted:
        return None
    prompts: dict[str, list[dict[str, Any]]] = {}
    lines: list[str] = []
    for name, refs in wanted.items():
        by_version: dict[int, dict[str, Any]] = {}
        missing: list[dict[str, Any]] = []
        for ref, roles in sorted(refs.items()):
            kind, _, value = ref.partition(":")
            found = _read_prompt(client, name, int(value) if kind == "version" else None,
                                 value if kind == "label" else None)
            if found is None:
                missing.append({"ref": ref.replace(":", " "), "roles": sorted(roles), "error": "not found (404)"})
                continue
            entry = by_version.setdefault(found["version"], {**found, "roles": []})
            entry["roles"] = sorted(set(entry["roles"]) | roles)
        prompts[name] = [*(by_version[v] for v in sorted(by_version, reverse=True)), *missing]
        shown = [f"v{e['version']} ({', '.join(e['roles'])})" for e in prompts[name] if "version" in e]
        shown += [f"{m['ref']} ({', '.join(m['roles'])}) not found" for m in missing]
        lines.append(f"{name}: {'; '.join(shown)}")
    return _dump(redact_value({"prompts": prompts})), "prompt versions: " + " | ".join(lines)


def collect_dataset(client: Langfuse, name: str, as_of: datetime, max_items: int) -> tuple[bytes, str]:
    """The dataset's items as they were at `as_of` (the dataset-items API's `version`, what the SDK's
    `get_dataset(name, version=...)` sends), page by page up to `max_items`. All or nothing: a page that fails
    raises, so a partial dataset is never stored as the whole; a dataset over the cap says truncated."""
    try:
        dataset = client.api.datasets.get(quote(name, safe=""))
    except Exception as err:  # noqa: BLE001
        raise _classify(err, f"reading dataset {name}") from err
    items: list[dict[str, Any]] = []
    truncated, total = False, 0
    for page in range(1, max_items // DATASET_PAGE + 3):  # bounded: never more pages than the cap needs
        try:
            answer = client.api.dataset_items.list(dataset_name=name, version=as_of, page=page, limit=DATASET_PAGE)
        except Exception as err:  # noqa: BLE001
            raise _classify(err, f"reading items of dataset {name} (page {page}, after {len(items)} item(s))"
                            ) from err
        items.extend(i.dict(by_alias=True, exclude_none=True) for i in answer.data)
        total = int(answer.meta.total_items)
        if len(items) >= max_items:
            truncated = len(items) > max_items or answer.meta.total_pages > page
            items = items[:max_items]
            break
        if answer.meta.total_pages <= page or not answer.data:
            break
    else:
        truncated = True
    counts: Counter[str] = Counter()
    safe = redact_value(items, counts)
    archived = sum(1 for i in items if str(i.get("status")) in ("ARCHIVED", "DatasetStatus.ARCHIVED"))
    cut = f" (truncated at {len(items)} of {total})" if truncated else ""
    summary = (f"dataset {name} as of {_iso(as_of)}: {len(items)} item(s){f', {archived} archived' if archived else ''}"
               f"{cut}")
    content = {"dataset": redact_value(dataset.dict(by_alias=True, exclude_none=True)), "as_of": _iso(as_of),
               "truncated": truncated, "total_items": total, "item_count": len(items),
               "redactions": dict(sorted(counts.items())), "items": safe}
    return _dump(content), summary


def collect_langfuse_extras(source: EvidenceSource, variables: Mapping[str, object], detected_at: datetime,
                            now: datetime | None = None) -> list[EvidencePart]:
    """The cost/latency series, the prompt versions and the datasets as of detection, each its own part: one
    that fails is returned with its error and the others still come."""
    base = base_url_of(source)
    try:
        client = client_for(source)
    except LangfuseError as err:
        return [EvidencePart(suffix="extras", where=f"langfuse:{base}", error=str(err))]
    window = blast_window(source, detected_at, now)
    parts: list[EvidencePart] = []
    if source.series:
        where = f"{base}/api/public/v2/metrics"
        try:
            content, summary = collect_series(client, source, variables, window)
            parts.append(EvidencePart("series.json", where, content, summary))
        except LangfuseError as err:
            parts.append(EvidencePart("series.json", where, error=str(err)))
    if source.prompt_versions:
        where = f"{base}/api/public/v2/prompts"
        try:
            found = collect_prompts(client, variables)
            if found is not None:
                parts.append(EvidencePart("prompts.json", where, found[0], found[1]))
        except LangfuseError as err:
            parts.append(EvidencePart("prompts.json", where, error=str(err)))
    for raw in source.datasets:
        name = render_template(raw, variables).strip()
        if not name:
            continue
        where = f"{base}/api/public/v2/datasets/{quote(name, safe='')}?version={_iso(detected_at)}"
        suffix = f"dataset.{name}.json"
        try:
            content, summary = collect_dataset(client, name, detected_at, source.max_dataset_items)
            parts.append(EvidencePart(suffix, where, content, summary))
        except LangfuseError as err:
            parts.append(EvidencePart(suffix, where, error=str(err)))
    return parts


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


def metric_filters(watcher: MetricWatcher) -> list[dict[str, Any]]:
    conditions = metric_scope(watcher.environment, watcher.trace_name, watcher.tags)
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
