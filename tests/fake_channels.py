"""Small servers on 127.0.0.1 that speak the shapes of the brief channels, for the real clients to talk to:

- `FakeSlack` (tests/fake_slack.py): Slack's Web API, incoming webhooks and response_urls;
- `FakeStatuspage`: `POST/PATCH/GET /v1/pages/{page_id}/incidents[/{id}]` with `Authorization: OAuth <key>`;
- `smtp_sink`: an aiosmtpd SMTP server keeping every message it is given.
"""

from __future__ import annotations

import email
import email.policy
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.fake_slack import SLACK_TOKEN, FakeSlack  # noqa: F401  (tests import them from here)
from tests.support import FakeServer, free_port, serving  # noqa: F401  (tests import serving from here)

STATUSPAGE_KEY = "sp-test-key"


class FakeStatuspage(FakeServer):
    """Statuspage REST v1 incidents, shaped as Statuspage's own OpenAPI description has them (read in the client
    generated from it, PyPI atlassian-statuspage 1.0.2: models/post_pages_page_id_incidents_incident.py for the
    request, models/incident.py, component.py and incident_update.py for the answer). The request's `components` is
    an object {component id: status}; the answer's `components` is an array of the page's component objects (id,
    page_id, group_id, name, status ...), and each update is an object with id, incident_id, status, body,
    affected_components. The page's components are `page_components` (id -> name); ids the page does not have are
    left out of the answer (what the real API does with them is not documented)."""

    def __init__(self, page_id: str = "pg1", page_components: dict[str, str] | None = None) -> None:
        super().__init__()
        self.page_id = page_id
        self.page_components = page_components or {"cmp1": "Support assistant"}
        self.component_status = {c: "operational" for c in self.page_components}
        self.incidents: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []

    def _component(self, component_id: str, now: str) -> dict[str, Any]:
        return {"id": component_id, "page_id": self.page_id, "group_id": None, "created_at": now, "updated_at": now,
                "group": False, "name": self.page_components[component_id], "description": None, "position": 1,
                "status": self.component_status[component_id], "showcase": True, "only_show_if_degraded": False,
                "automation_email": f"component+{component_id}@notifications.statuspage.io", "start_date": None}

    def _apply(self, incident: dict[str, Any], fields: dict[str, Any], now: str) -> None:
        """Status, body (as a new update) and the affected components' statuses, as a create or PATCH carries them."""
        incident["status"] = fields.get("status", incident["status"])
        named = list(fields.get("component_ids") or []) + list(fields.get("components") or {})
        for component_id, status in (fields.get("components") or {}).items():
            if component_id in self.component_status:
                self.component_status[component_id] = status
        affected = list(dict.fromkeys([c["id"] for c in incident["components"]]
                                      + [c for c in named if c in self.page_components]))
        incident["components"] = [self._component(c, now) for c in affected]
        incident["updated_at"] = now
        incident["incident_updates"].insert(0, {
            "id": uuid.uuid4().hex[:12], "incident_id": incident["id"], "status": incident["status"],
            "body": fields.get("body"), "created_at": now, "updated_at": now, "display_at": now,
            "deliver_notifications": fields.get("deliver_notifications", True), "custom_tweet": None,
            "tweet_id": None, "twitter_updated_at": None, "wants_twitter_update": False,
            "affected_components": [{"code": c, "name": self.page_components[c],
                                     "new_status": self.component_status[c]}
                                    for c in (fields.get("components") or {}) if c in self.page_components]})

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, Any]:
        if headers.get("Authorization") != f"OAuth {STATUSPAGE_KEY}":
            return 401, "application/json", {"error": "Could not authenticate"}
        prefix = f"/v1/pages/{self.page_id}/incidents"
        if not path.startswith(prefix):
            return 404, "application/json", {"error": "Page not found"}
        rest = path[len(prefix):].strip("/")
        now = datetime.now(UTC).isoformat()
        with self.lock:
            self.calls.append((method, path))
            if method == "POST" and not rest:
                fields = json.loads(body)["incident"]
                incident_id = uuid.uuid4().hex[:12]
                incident = {"id": incident_id, "page_id": self.page_id, "name": fields["name"],
                            "status": fields.get("status", "investigating"),
                            "impact": fields.get("impact_override", "none"),
                            "impact_override": fields.get("impact_override"), "created_at": now,
                            "shortlink": f"https://stspg.io/{incident_id[:5]}", "monitoring_at": None,
                            "resolved_at": None, "components": [], "incident_updates": [], "metadata": {}}
                self._apply(incident, fields, now)
                self.incidents[incident_id] = incident
                return 201, "application/json", incident
            if rest not in self.incidents:
                return 404, "application/json", {"error": "Incident not found"}
            incident = self.incidents[rest]
            if method == "PATCH":
                self._apply(incident, json.loads(body)["incident"], now)
            return 200, "application/json", incident

    def statuses(self, incident: dict[str, Any]) -> dict[str, str]:
        """The incident's components as the answer lists them: id -> status."""
        return {c["id"]: c["status"] for c in incident["components"]}


@dataclass
class SmtpSink:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore
        return "250 Message accepted for delivery"


@contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink(port=free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


# A second person in the communications role, so one person never both approves and releases an external brief.
KIM = """
[roster.people.kim]
name = "Kim Comms"
roles = ["communications"]
"""


@pytest.fixture(autouse=True)  # autouse where a test module imports it
def channel_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Slack bot token and Statuspage key the fakes expect, where the channels read them."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("STATUSPAGE_KEY", STATUSPAGE_KEY)
