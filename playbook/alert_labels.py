"""What an incident learns from its alerts after the first, and which alerts are only notes from their source.

One notification group (an Alertmanager message, a coalesced storm) carries several alerts, and the one that opens
the incident need not name the model, prompt or deploy: another alert of the group, or one arriving later, may.
`merge` fills what the incident does not know yet from each new alert and keeps every model and prompt the alerts
named. `source_note` says when a "detection" is not an alert at all: the sender's own acknowledgement (PagerDuty)
or a Langfuse monitor's state that is neither a breach nor a recovery (NO_DATA, UNKNOWN, PAUSED).

Pure functions of pydantic values: the incident workflow calls them (behind `workflow.patched`, its markers
`alert-labels-v1` and `source-notes-v1` in workflows/incident/markers.py), so they must stay deterministic and free
of I/O.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from playbook.models import Detection

PAGERDUTY_ACTION_LABEL = "pagerduty_event_action"
MONITOR_SOURCE = "langfuse-monitor"  # the Detection source of a Langfuse monitor alert
MONITOR_SEVERITY_LABEL = "langfuse_monitor_severity"
MONITOR_NOTE_STATES = frozenset({"NO_DATA", "UNKNOWN", "PAUSED"})
MAX_SEEN = 20  # distinct models (and prompts) listed; more are counted, not listed


class SeenLabels(BaseModel):
    """Every model and prompt ("name" or "name vN") the incident's alerts named, in the order first seen."""

    models: list[str] = Field(default_factory=list)
    prompts: list[str] = Field(default_factory=list)
    more: int = Field(default=0, description="distinct models or prompts seen past MAX_SEEN, not listed")


def prompt_label(name: str | None, version: int | None) -> str | None:
    if not name:
        return None
    return f"{name} v{version}" if version is not None else name


def merge(incident: Detection, seen: SeenLabels, alert: Detection) -> tuple[Detection, SeenLabels]:
    """The incident's detection with what it did not know yet taken from `alert`, and the models/prompts seen.

    Only gaps are filled: a model, prompt or deploy the incident already has is kept. A prompt name and its
    version come from the same alert (a version without its name is not taken), except that a later alert
    naming the same prompt may give the version the incident lacks.
    """
    fill: dict[str, object] = {}
    if incident.model is None and alert.model:
        fill["model"] = alert.model
    if incident.prompt_name is None and alert.prompt_name:
        fill.update(prompt_name=alert.prompt_name, prompt_version=alert.prompt_version)
    elif (incident.prompt_name and incident.prompt_version is None and alert.prompt_version is not None
          and alert.prompt_name == incident.prompt_name):
        fill["prompt_version"] = alert.prompt_version
    if incident.deploy_id is None and alert.deploy_id:
        fill["deploy_id"] = alert.deploy_id
    models, prompts, more = list(seen.models), list(seen.prompts), seen.more
    for value, listed in ((alert.model, models), (prompt_label(alert.prompt_name, alert.prompt_version), prompts)):
        if not value or value in listed:
            continue
        if len(listed) < MAX_SEEN:
            listed.append(value)
        else:
            more += 1
    merged = incident.model_copy(update=fill) if fill else incident
    return merged, SeenLabels(models=models, prompts=prompts, more=more)


def seen_text(seen: SeenLabels) -> str:
    """"models a, b; prompts p v3" for people (empty when the alerts named none)."""
    parts = [f"{what} {', '.join(values)}" for what, values in (("models", seen.models), ("prompts", seen.prompts))
             if values]
    if seen.more:
        parts.append(f"{seen.more} more not listed")
    return "; ".join(parts)


def source_note(detection: Detection) -> str | None:
    """What the timeline says when this detection is a note from its source rather than an alert, else None."""
    if detection.labels.get(PAGERDUTY_ACTION_LABEL) == "acknowledge":
        return "acknowledged at the source"
    state = detection.labels.get(MONITOR_SEVERITY_LABEL)
    if state in MONITOR_NOTE_STATES:
        return f"reported {state} at the source"
    return None
