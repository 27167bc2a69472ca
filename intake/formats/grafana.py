"""Grafana unified alerting webhook contact point (grafana/alerting receivers/webhook/v1, version "1").

The Alertmanager shape plus orgId, title/state/message and per-alert values and dashboard/panel/silence URLs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from intake.config import LabelMapping, SourceConfig
from intake.formats import alertmanager as am
from playbook.models import Detection


class Alert(am.Alert):
    silenceURL: str = ""  # noqa: N815
    dashboardURL: str = ""  # noqa: N815
    panelURL: str = ""  # noqa: N815
    values: dict[str, float | None] | None = None
    valueString: str = ""  # noqa: N815
    imageURL: str = ""  # noqa: N815


class Message(am.Message):
    version: Literal["1"]  # type: ignore[assignment]
    alerts: list[Alert] = Field(min_length=1, max_length=10_000)  # type: ignore[assignment]
    orgId: int | None = None  # noqa: N815
    title: str = ""
    state: str = ""
    message: str = ""


def detections(message: Message, source: str, src: SourceConfig, mapping: LabelMapping) -> list[Detection]:
    metrics = [{k: v for k, v in (a.values or {}).items() if v is not None} for a in message.alerts]
    links = [[u for u in (a.dashboardURL, a.panelURL) if u] for a in message.alerts]
    return am.detections(message, source, src, mapping, prefix="grafana", metrics=metrics, links=links)
