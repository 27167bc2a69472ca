"""Prometheus Alertmanager webhook, version "4" (notify/webhook/webhook.go `Message`, template.Data).

Grafana's webhook is the same shape with version "1" and a few extra fields (see grafana.py), so the model and
the mapping here serve both.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from intake.config import LabelMapping, SourceConfig
from intake.mapping import EndsAt, Key, Timestamp, detection, short_hash
from playbook.models import Detection


class _Wire(BaseModel):
    # Unknown fields are ignored: newer senders add fields, and a receiver must not break on them.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Alert(_Wire):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: Timestamp  # noqa: N815 - the wire's own names
    endsAt: EndsAt = None  # noqa: N815 - also Go's zero time, which Alertmanager sends while firing
    generatorURL: str = ""  # noqa: N815
    fingerprint: Key


class Message(_Wire):
    version: Literal["4"]
    receiver: str = ""
    status: Literal["firing", "resolved"]
    alerts: list[Alert] = Field(min_length=1, max_length=10_000)
    groupLabels: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    commonLabels: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    commonAnnotations: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    externalURL: str = ""  # noqa: N815
    groupKey: str = Field(min_length=1)  # noqa: N815
    truncatedAlerts: int = Field(default=0, ge=0)  # noqa: N815


def alert_links(alert: Alert) -> list[str]:
    return [alert.generatorURL] if alert.generatorURL else []


def detections(message: Message, source: str, src: SourceConfig, mapping: LabelMapping, prefix: str = "am",
               metrics: list[dict[str, float]] | None = None, links: list[list[str]] | None = None) -> list[Detection]:
    """Each alert in the group becomes a Detection; the group (or the alert) is the incident's identity.

    An alert's identity is its fingerprint plus its startsAt, which Alertmanager keeps across repeat_interval
    re-sends, so repeats count once while a new episode of the same alert counts again.
    """
    out = []
    for i, alert in enumerate(message.alerts):
        key = alert.fingerprint if src.group_by == "alert" else message.groupKey
        out.append(detection(
            mapping, source=source, labels=alert.labels, annotations=alert.annotations,
            fingerprint=f"{prefix}-{short_hash(prefix, src.group_by, key)}",
            alert_id=f"{prefix}:{alert.fingerprint}:{alert.startsAt.isoformat()}",
            firing=alert.status == "firing", detected_at=alert.startsAt,
            metrics=metrics[i] if metrics else None,
            links=[*alert_links(alert), *(links[i] if links else [])]))
    return out
