"""Where briefs and notifications go: the comms archive (always) and JSON webhooks (Slack, e-mail and Statuspage
in their own modules).

Webhook sends carry an Idempotency-Key, so a receiver that honours it sees one message per brief even
when a send is retried after a crash between sending and archiving. Channels without such a key are checked
against the archive before sending (`archived`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx

from integrations.store import Store
from playbook.config import WebhookChannel


class ChannelError(Exception):
    pass


def post_webhook(channel: WebhookChannel, payload: dict[str, Any], idempotency_key: str) -> int:
    headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key, **channel.headers}
    try:
        response = httpx.post(channel.url, content=json.dumps(payload, default=str), headers=headers,
                              timeout=channel.timeout_seconds)
    except httpx.HTTPError as err:
        raise ChannelError(f"POST {channel.url} failed: {err}") from err
    if response.status_code >= 300:
        raise ChannelError(f"POST {channel.url} answered {response.status_code}: {response.text[:200]}")
    return response.status_code


def archive(store: Store, incident_number: str, key: str, kind: str, record: dict[str, Any]) -> bool:
    """One line per message in <incident>/comms/archive.jsonl; True the first time this key is archived."""
    return store.append_once(f"{incident_number}/comms/archive.jsonl", key,
                             {"archived_at": datetime.now(UTC).isoformat(), "kind": kind, **record})


def archived(store: Store, incident_number: str, key: str) -> dict[str, Any] | None:
    """The archive record of the message with this key, if it was sent and archived already."""
    return store.find_once(f"{incident_number}/comms/archive.jsonl", key)
