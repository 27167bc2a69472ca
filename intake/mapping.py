"""Source labels -> Detection fields, as the playbook's `[intake.labels]` says.

Shared by every format: Alertmanager and Grafana labels/annotations, PagerDuty's payload fields and custom
details all arrive as two string maps (labels, annotations) and leave as one Detection.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from client.admission import (
    CONTROL,
    MAX_KEY,
    MAX_LABELS,
    MAX_LINK,
    MAX_LINKS,
    MAX_METRICS,
    MAX_SERVICE,
    in_window,
)
from client.admission import MAX_LABEL as MAX_VALUE
from intake.config import LabelMapping
from playbook.models import Detection, SignalKind

MAX_SUMMARY = 1024
GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)  # Alertmanager's endsAt of a firing alert: "0001-01-01T00:00:00Z"


def no_control(value: str) -> str:
    if found := CONTROL.search(value):
        raise ValueError(f"contains the control character {found.group()!r}; keys may not")
    return value


def _zero_or_in_window(value: datetime | None) -> datetime | None:
    return value if value is None or value == GO_ZERO_TIME else in_window(value)


# Wire-format types: timestamps inside the window every reader handles (client/admission.py), keys without
# control characters. A value outside them is a 422 naming the sender's own field.
Timestamp = Annotated[datetime, AfterValidator(in_window)]
EndsAt = Annotated[datetime | None, AfterValidator(_zero_or_in_window)]
Key = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(no_control)]


def short_hash(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def _first(names: list[str], *maps: Mapping[str, str]) -> str | None:
    for name in names:
        for m in maps:
            value = m.get(name)
            if value is not None and str(value).strip():
                return str(value).strip()
    return None


def _float(value: Any) -> float | None:
    if value is None:  # most alerts name no metric: no exception raised and caught for them (a storm's CPU)
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _cut(value: str | None) -> str | None:
    return value[:MAX_KEY] if value else value


def kind_of(mapping: LabelMapping, labels: Mapping[str, str], name: str | None) -> SignalKind:
    """An explicit kind label first, then a known word in the alert's name, else 'other'."""
    explicit = _first(mapping.kind, labels)
    if explicit:
        try:
            return SignalKind(explicit.lower())
        except ValueError:
            name = f"{explicit} {name or ''}"
    lowered = (name or "").lower()
    for needle, kind in mapping.kinds.items():
        if needle in lowered:
            return kind
    return SignalKind.OTHER


def detection(mapping: LabelMapping, *, source: str, labels: Mapping[str, str], annotations: Mapping[str, str],
              fingerprint: str, alert_id: str, firing: bool, detected_at: datetime | None,
              name: str | None = None, metrics: Mapping[str, float] | None = None, links: list[str] | None = None,
              summary: str | None = None) -> Detection:
    """One Detection from a source's labels and annotations; never fails on label content."""
    all_metrics: dict[str, float] = dict(list({k: v for k, v in (metrics or {}).items()
                                               if _float(v) is not None}.items())[:MAX_METRICS - 1])
    metric_value = _float(_first(mapping.metric_value, annotations, labels))
    if metric_value is not None:
        all_metrics[_first(mapping.metric_name, labels, annotations) or "value"] = metric_value
    version = _first(mapping.prompt_version, labels, annotations)
    severity = (_first(mapping.severity, labels, annotations) or "").lower()
    found_links = [*(links or []), *(v for n in mapping.links if (v := annotations.get(n) or labels.get(n)))]
    kept = {str(k)[:MAX_VALUE]: str(v)[:MAX_VALUE] for k, v in list(labels.items())[:MAX_LABELS]}
    values: dict[str, Any] = {
        "source": source,
        "kind": kind_of(mapping, labels, name or labels.get("alertname")),
        "services": [(_first(mapping.service, labels) or mapping.default_service)[:MAX_SERVICE]],
        "summary": (summary or _first(mapping.summary, annotations, labels) or "")[:MAX_SUMMARY],
        "model": _cut(_first(mapping.model, labels, annotations)),
        "prompt_name": _cut(_first(mapping.prompt_name, labels, annotations)),
        "prompt_version": int(version) if version and version.isdigit() and len(version) <= 9 else None,
        "deploy_id": _cut(_first(mapping.deploy_id, labels, annotations)),
        "metrics": all_metrics,
        "labels": kept,
        "links": list(dict.fromkeys(link[:MAX_LINK] for link in found_links if link))[:MAX_LINKS],
        "severity_hint": mapping.severities.get(severity),
        "fingerprint": fingerprint,
        "alert_id": alert_id,
        "firing": firing,
    }
    if detected_at is not None:
        values["detected_at"] = detected_at
    return Detection.model_validate(values)
