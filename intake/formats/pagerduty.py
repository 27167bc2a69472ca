"""PagerDuty Events API v2 (`POST /v2/enqueue`), so anything that can page PagerDuty can page Firebreak.

routing_key names (and authenticates) the source; dedup_key is the incident's identity within that source,
as in PagerDuty, where acknowledge and resolve apply only with the trigger's routing_key.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from client.admission import CONTROL
from intake.config import LabelMapping
from intake.mapping import Timestamp, detection, no_control, short_hash
from playbook.models import Detection


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Payload(_Wire):
    summary: str = Field(min_length=1, max_length=1024)
    source: str = Field(min_length=1)
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: Timestamp | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(default=None, alias="class")
    custom_details: dict[str, Any] | str | None = None


class Link(_Wire):
    href: str
    text: str = ""


class Event(_Wire):
    routing_key: str = Field(min_length=1)
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: Annotated[str, Field(min_length=1, max_length=255), AfterValidator(no_control)] | None = None
    payload: Payload | None = None
    links: list[Link] = Field(default_factory=list)
    client: str | None = None
    client_url: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> Event:
        if self.event_action == "trigger" and self.payload is None:
            raise ValueError("a trigger event needs 'payload' (summary, source, severity)")
        if self.event_action != "trigger" and not self.dedup_key:
            raise ValueError(f"an {self.event_action} event needs the trigger's 'dedup_key'")
        return self


def labels_of(payload: Payload | None) -> tuple[dict[str, str], dict[str, float]]:
    """PagerDuty's fields and scalar custom details as labels; numeric custom details as metrics."""
    if payload is None:
        return {}, {}
    labels = {k: v for k, v in {"source": payload.source, "component": payload.component, "group": payload.group,
                                "class": payload.class_, "severity": payload.severity}.items() if v}
    metrics: dict[str, float] = {}
    details = payload.custom_details if isinstance(payload.custom_details, dict) else {}
    for key, value in details.items():
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float):
            metrics[str(key)] = float(value)
        elif isinstance(value, str) and not CONTROL.search(key):
            # Free text (a stack trace ...) is not refused for its line breaks: they become spaces in the label.
            labels.setdefault(str(key), CONTROL.sub(" ", value))
    return labels, metrics


def to_detection(event: Event, source: str, mapping: LabelMapping) -> tuple[str, Detection]:
    """(dedup_key, Detection); a trigger without dedup_key gets a new one, as PagerDuty does."""
    dedup_key = event.dedup_key or uuid.uuid4().hex
    labels, metrics = labels_of(event.payload)
    service_labels = {**labels}
    if event.payload and not any(n in labels for n in mapping.service):
        service_labels.setdefault(mapping.service[0] if mapping.service else "service", event.payload.source)
    found = detection(
        mapping, source=source, labels=service_labels, annotations={}, summary=event.payload.summary
        if event.payload else f"{event.event_action} for {dedup_key}",
        fingerprint=f"pd-{short_hash('pd', source, dedup_key)}", alert_id=f"pd:{dedup_key}",
        firing=event.event_action != "resolve", detected_at=event.payload.timestamp if event.payload else None,
        name=event.payload.class_ or event.payload.summary if event.payload else None, metrics=metrics,
        links=[link.href for link in event.links])
    if event.event_action == "acknowledge":
        found.labels["pagerduty_event_action"] = "acknowledge"
    return dedup_key, found
