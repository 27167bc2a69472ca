"""The service deploy log: deploys of a service announced by PagerDuty change events (`POST /v2/change/enqueue`)
or a CI deployment webhook (`POST /v1/deploys`), one append-only JSON-lines file per service in the artefact store,
`_deploys/_services/<service>.jsonl`, beside the prompt versions Langfuse announces (integrations/deploys.py).

Each line is keyed by the delivery (the CI's id, or the change event's content hash), so a redelivery is recorded
once. Opening an incident takes its service's last deploy from here when neither an alert nor the prompt log
named one; the investigate step's `deploys` evidence lists the deploys of the blast window.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from integrations.deploys import DEPLOY_DIR, _file_name, _timed_lines
from integrations.store import Store

SERVICE_DIR = f"{DEPLOY_DIR}/_services"


def service_log_path(service: str) -> str:
    return f"{SERVICE_DIR}/{_file_name(service)}.jsonl"


def record_service_deploy(store: Store, key: str, entry: dict[str, Any]) -> bool:
    """Append one deploy (entry['service'], entry['at'] ISO time) unless this key is there; True if new."""
    return store.append_once(service_log_path(str(entry["service"])), key, entry)


def read_service_deploys(store: Store, services: list[str], since: datetime, until: datetime,
                         limit: int = 20) -> tuple[list[dict[str, Any]], bool]:
    """The services' deploys whose time falls in [since, until], newest first, at most `limit`; (events, more)."""
    found = [(when, entry) for service in services
             for when, _, entry in _timed_lines(store, service_log_path(service)) if since <= when <= until]
    found.sort(key=lambda pair: pair[0], reverse=True)
    return [entry for _, entry in found[:limit]], len(found) > limit


def last_service_deploy(store: Store, services: list[str], before: datetime) -> dict[str, Any] | None:
    """The latest successful deploy of any of `services` at or before `before`."""
    done = [(when, n, entry) for service in services
            for when, n, entry in _timed_lines(store, service_log_path(service))
            if when <= before and entry.get("status", "succeeded") == "succeeded"]
    return max(done, key=lambda item: (item[0], item[1]))[2] if done else None


def service_deploy_text(entry: dict[str, Any]) -> str:
    """One line: "support-bot deploy 2026.11.30-1 (abc1234) to production at ... UTC by ci-bot (CI webhook)"."""
    when = datetime.fromisoformat(str(entry["at"]).replace("Z", "+00:00"))
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    parts = [f"{entry.get('service')} deploy {entry.get('deploy_id')}",
             f"({entry['version']})" if entry.get("version") else "",
             f"to {entry['environment']}" if entry.get("environment") else "",
             f"at {when.astimezone(UTC):%Y-%m-%d %H:%M} UTC", f"by {entry['by']}" if entry.get("by") else "",
             f"({entry.get('via', 'deploy log')})"]
    return " ".join(p for p in parts if p)
