"""Langfuse monitor alerts (a monitor's automation with a webhook action) as an alert source.

The shape follows Langfuse's own source, langfuse/langfuse at 62751446 (2026-08-22):
- the envelope, `MonitorWebhookQueueEventSchema` in packages/shared/src/features/monitors/scheduler/types.ts:
  `{id, timestamp, type: "monitor-alert", apiVersion: "v1", payload}`, posted verbatim as the body by
  worker/src/queues/webhooks.ts (`executeWebhookAction`) and signed like prompt-version events
  (`x-langfuse-signature`, packages/shared/src/encryption/signature.ts);
- the payload, `MonitorAlertSchema` in packages/shared/src/features/monitors/types.ts: monitorId, projectId,
  permalink?, dataPermalink?, message {title, body}, severity (Prisma enum MonitorSeverity: PAUSED, UNKNOWN,
  NO_DATA, OK, WARNING, ALERT), timestamp (the evaluation run), fromTimestamp / toTimestamp (the window evaluated,
  ending 30 s before the run), view (observations, scores-numeric, scores-categorical, scores-boolean), filters
  (the query's `singleFilter`s) and window ("5m" .. "1w");
- built in packages/shared/src/features/monitors/processor/processor.ts (`buildAlert`, `toMonitorWebhookInputs`:
  `id` is a new execution id per automation, `timestamp` the send time) with the message of
  processor/renderAlertMessage.ts: title "[SEVERITY] <monitor name>", body "`<aggregation>(<view>.<measure>)` is
  **<above|below|...>** `<threshold>` over the last **<window>**". The measured value is not in the payload.

What each severity does (docs/alert-sources.md): ALERT opens or joins the monitor's incident; WARNING joins a
running incident but opens none; OK resolves the alert at the source; NO_DATA, UNKNOWN and PAUSED are notes on a
running incident's timeline (else accepted and dropped). The monitor is the incident's fingerprint, and an alert's
identity is the monitor, its severity and its evaluation time, so a redelivery (same event id) or a second
automation on the same monitor (a new event id for the same evaluation) counts once.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from intake.config import LabelMapping
from intake.mapping import Timestamp, kind_of
from playbook.alert_labels import MONITOR_NOTE_STATES, MONITOR_SEVERITY_LABEL, MONITOR_SOURCE
from playbook.config import COST_MEASURES, LATENCY_MEASURES
from playbook.models import Detection, SignalKind

SOURCE = MONITOR_SOURCE
MAX_FILTERS_JSON = 4096
# renderAlertMessage's metric reference and threshold: `p95(observations.latency)` is **above** `5000`
METRIC_REF = re.compile(r"`(?P<aggregation>\w+)\((?P<view>[\w-]+)\.(?P<measure>\w+)\)`")
THRESHOLD = re.compile(r"\*\*[^*]+\*\* `(?P<value>-?[0-9.]+(?:[eE][-+]?[0-9]+)?)`")
# Filter columns that name what Firebreak files a Detection under (observations view, then the scores views).
MODEL_COLUMNS = ("providedModelName", "observationModelName")
PROMPT_COLUMNS = ("promptName", "observationPromptName")
VERSION_COLUMNS = ("promptVersion", "observationPromptVersion")
SERVICE_COLUMNS = ("traceName",)

Severity = Literal["PAUSED", "UNKNOWN", "NO_DATA", "OK", "WARNING", "ALERT"]


class _Wire(BaseModel):
    # Unknown fields are ignored: newer Langfuse servers add fields, and a receiver must not break on them.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class MonitorMessage(_Wire):
    title: str
    body: str = ""


class MonitorFilter(_Wire):
    """One of the monitor query's filters (`singleFilter` in packages/shared/src/interfaces/filters.ts)."""

    column: str
    type: str
    operator: str
    value: Any = None
    key: str | None = None


class MonitorAlert(_Wire):
    monitor_id: str = Field(alias="monitorId", min_length=1, max_length=256)
    project_id: str = Field(default="", alias="projectId")
    permalink: str | None = None
    data_permalink: str | None = Field(default=None, alias="dataPermalink")
    message: MonitorMessage
    severity: Severity
    timestamp: Timestamp  # inside the window every reader handles (docs/intake-limits.md)
    from_timestamp: Timestamp | None = Field(default=None, alias="fromTimestamp")
    to_timestamp: Timestamp | None = Field(default=None, alias="toTimestamp")
    view: str = ""
    filters: list[MonitorFilter] = Field(default_factory=list, max_length=200)
    window: str = ""

    @field_validator("severity", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        """Langfuse's first monitor builds sent kebab-case ("no-data"); the Prisma enum names are upper case."""
        return value.upper().replace("-", "_") if isinstance(value, str) else value


class MonitorAlertEvent(_Wire):
    """The body Langfuse posts for a monitor automation."""

    id: str = Field(min_length=1, max_length=256, description="the delivery's id; a retried delivery repeats it")
    timestamp: Timestamp
    type: Literal["monitor-alert"]
    api_version: Literal["v1"] = Field(default="v1", alias="apiVersion")
    payload: MonitorAlert


class MonitorAnswer(BaseModel):
    status: Literal["accepted"] = "accepted"
    monitor: str
    severity: str
    workflow_id: str
    outcome: str = Field(description="recorded, or no_incident when the monitor's incident is not running")
    counted_as: Literal["alert", "warning", "resolved", "note"]


def _single_value(f: MonitorFilter) -> str | None:
    """The one value an equality filter pins its column to, else None."""
    value = f.value
    if f.operator in ("=", "any of") and isinstance(value, list) and len(value) == 1:
        value = value[0]
    if f.operator not in ("=", "any of") or isinstance(value, list | dict) or value is None:
        return None
    return str(value)


def filter_labels(filters: list[MonitorFilter]) -> dict[str, str]:
    """Columns the monitor pins to one value, e.g. {"traceName": "support-bot", "metadata.tenant": "acme"}."""
    found: dict[str, str] = {}
    for f in filters:
        value = _single_value(f)
        if value is not None:
            found.setdefault(f"{f.column}.{f.key}" if f.key else f.column, value[:512])
    return found


def _first(columns: tuple[str, ...], pinned: dict[str, str]) -> str | None:
    return next((pinned[c] for c in columns if pinned.get(c)), None)


def signal_kind(alert: MonitorAlert, mapping: LabelMapping, pinned: dict[str, str]) -> SignalKind:
    """From what the monitor measures: latency or cost measures of observations, else the score's (or the
    monitor's) name through `[intake.labels.kinds]`, else "other"."""
    ref = METRIC_REF.search(alert.message.body)
    measure = ref.group("measure") if ref else ""
    if not alert.view.startswith("scores") and measure in LATENCY_MEASURES:
        return SignalKind.LATENCY_SPIKE
    if not alert.view.startswith("scores") and measure in COST_MEASURES:
        return SignalKind.COST_SPIKE
    return kind_of(mapping, {}, f"{pinned.get('name', '')} {monitor_name(alert)}")


def monitor_name(alert: MonitorAlert) -> str:
    """The monitor's name, from renderAlertMessage's title "[SEVERITY] <name>"."""
    return re.sub(r"^\[[A-Z_]+\]\s*", "", alert.message.title).strip() or alert.monitor_id


def _plain(markdown: str) -> str:
    return markdown.replace("**", "").replace("`", "").strip()


def monitor_detection(event: MonitorAlertEvent, mapping: LabelMapping) -> Detection:
    """The Detection for one monitor alert: the monitor's view, filters and window in its labels, so that the
    evidence can be read for the same slice of Langfuse data."""
    a = event.payload
    pinned = filter_labels(a.filters)
    ref = METRIC_REF.search(a.message.body)
    threshold = THRESHOLD.search(a.message.body)
    filters = json.dumps([f.model_dump(exclude_none=True) for f in a.filters], separators=(",", ":"),
                         sort_keys=True, default=str)
    labels = {"monitor_id": a.monitor_id, "monitor": monitor_name(a)[:200], MONITOR_SEVERITY_LABEL: a.severity,
              "langfuse_project_id": a.project_id, "view": a.view, "window": a.window,
              "filters": filters if len(filters) <= MAX_FILTERS_JSON else "[too long to keep; see the monitor]",
              **({"metric": ref.group(0).strip("`")} if ref else {}),
              **({"from": a.from_timestamp.isoformat()} if a.from_timestamp else {}),
              **({"to": a.to_timestamp.isoformat()} if a.to_timestamp else {}),
              **{f"filter.{column}": value for column, value in list(pinned.items())[:32]}}
    version = _first(VERSION_COLUMNS, pinned)
    return Detection(
        source=SOURCE, kind=signal_kind(a, mapping, pinned),
        services=[_first(SERVICE_COLUMNS, pinned) or mapping.default_service],
        summary=f"{a.message.title}: {_plain(a.message.body)}"[:1024],
        model=_first(MODEL_COLUMNS, pinned), prompt_name=_first(PROMPT_COLUMNS, pinned),
        prompt_version=int(version) if version and version.isdigit() else None,
        metrics={"threshold": float(threshold.group("value"))} if threshold else {},
        labels={k: v for k, v in labels.items() if v},
        links=[link for link in (a.permalink, a.data_permalink) if link],
        fingerprint=f"{SOURCE}-{a.monitor_id}",
        alert_id=f"{SOURCE}:{a.monitor_id}:{a.severity}@{a.timestamp.isoformat()}",
        firing=a.severity in ("ALERT", "WARNING"), detected_at=a.timestamp)


def counted_as(severity: str) -> Literal["alert", "warning", "resolved", "note"]:
    """ALERT opens or joins; WARNING joins only; OK resolves at the source; the other states are notes."""
    if severity == "ALERT":
        return "alert"
    if severity == "WARNING":
        return "warning"
    return "note" if severity in MONITOR_NOTE_STATES else "resolved"
