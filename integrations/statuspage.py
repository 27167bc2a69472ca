"""Atlassian Statuspage (REST v1): one Statuspage incident per Firebreak incident, created by the first brief
and updated by later ones. `Authorization: OAuth <api key>`.

The request sets components as an object {component id: status}; the answer lists the incident's components as an
array of the page's component objects (id, name, status ...), which is what the public page shows (`shown`).
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from integrations.channels import ChannelError
from playbook.config import StatuspageChannel
from playbook.models import IncidentStatus

# Statuspage's incident status: investigating until acknowledged, identified while the responders work, monitoring,
# and resolved with the closing brief (which also sets the components back to operational).
STATUS = {IncidentStatus.OPEN: "investigating", IncidentStatus.ACKNOWLEDGED: "identified",
          IncidentStatus.MONITORING: "monitoring", IncidentStatus.RESOLVED: "resolved",
          IncidentStatus.CLOSED: "resolved"}


def _call(channel: StatuspageChannel, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    key = os.environ.get(channel.api_key_env, "")
    if not key:
        raise ChannelError(f"Statuspage: set the environment variable {channel.api_key_env} on the worker")
    url = f"{channel.base_url.rstrip('/')}/pages/{channel.page_id}{path}"
    try:
        response = httpx.request(method, url, json=body, timeout=channel.timeout_seconds,
                                 headers={"Authorization": f"OAuth {key}", "Accept": "application/json"})
    except httpx.HTTPError as err:
        raise ChannelError(f"Statuspage {method} {url} failed: {err}") from err
    if response.status_code >= 300:
        raise ChannelError(f"Statuspage {method} {url} answered {response.status_code}: {response.text[:200]}")
    data = response.json()
    if not isinstance(data, dict) or not data.get("id"):
        raise ChannelError(f"Statuspage {method} {url} answered without an incident id")
    return data


def _fields(channel: StatuspageChannel, status: IncidentStatus, body: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"status": STATUS[status], "body": body}
    if channel.component_ids:
        fields["component_ids"] = channel.component_ids
        if channel.component_status:
            open_ = status not in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED)
            fields["components"] = {c: channel.component_status if open_ else "operational"
                                    for c in channel.component_ids}
    return fields


def create(channel: StatuspageChannel, name: str, status: IncidentStatus, body: str) -> dict[str, Any]:
    incident = {"name": name[:255], "deliver_notifications": channel.deliver_notifications,
                **_fields(channel, status, body)}
    if channel.impact_override:
        incident["impact_override"] = channel.impact_override
    return _call(channel, "POST", "/incidents", {"incident": incident})


def update(channel: StatuspageChannel, incident_id: str, status: IncidentStatus, body: str) -> dict[str, Any]:
    incident = {"deliver_notifications": channel.deliver_notifications, **_fields(channel, status, body)}
    return _call(channel, "PATCH", f"/incidents/{incident_id}", {"incident": incident})


def shown(answer: dict[str, Any]) -> dict[str, str]:
    """The incident's components as the answer lists them: "<name> (<id>)" -> status."""
    listed = answer.get("components")
    if not isinstance(listed, list):
        return {}
    return {f"{c.get('name') or '?'} ({c.get('id')})": str(c.get("status")) for c in listed
            if isinstance(c, dict) and c.get("id")}
