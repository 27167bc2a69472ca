"""Small servers on 127.0.0.1 that speak the shapes of the brief channels, for the real clients to talk to:

- `FakeSlack`: the Web API's chat.postMessage (`POST /api/chat.postMessage`, bot token checked, answers
  ok/channel/ts like Slack) and incoming webhooks (`POST /services/...`, answers `ok` as text/plain);
- `FakeStatuspage`: `POST/PATCH/GET /v1/pages/{page_id}/incidents[/{id}]` with `Authorization: OAuth <key>`;
- `smtp_sink`: an aiosmtpd SMTP server keeping every message it is given.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support import free_port, serving  # noqa: F401  (tests import serving from here)

SLACK_TOKEN = "xoxb-test-token"
STATUSPAGE_KEY = "sp-test-key"


class _Server:
    """A threaded HTTP server whose handler calls `self.handle(method, path, headers, body)`."""

    def __init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, ctype, payload = outer.handle(self.command, self.path, dict(self.headers), body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def handle(self, method: str, path: str, headers: dict[str, str],
               body: bytes) -> tuple[int, str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError


class FakeSlack(_Server):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []  # chat.postMessage calls that were accepted
        self.webhook_messages: list[dict[str, Any]] = []
        self.webhook_status = 200
        self._ts = 1764240000

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, Any]:
        if path.startswith("/services/"):
            if self.webhook_status != 200:
                return self.webhook_status, "text/plain", b"internal_error"
            with self.lock:
                self.webhook_messages.append(json.loads(body))
            return 200, "text/plain", b"ok"
        if path == "/api/chat.postMessage" and method == "POST":
            if headers.get("Authorization") != f"Bearer {SLACK_TOKEN}":
                return 200, "application/json", {"ok": False, "error": "invalid_auth"}
            args = json.loads(body)
            if not args.get("channel"):
                return 200, "application/json", {"ok": False, "error": "channel_not_found"}
            with self.lock:
                self._ts += 1
                ts = f"{self._ts}.000100"
                self.messages.append({**args, "ts": ts})
            return 200, "application/json", {"ok": True, "channel": args["channel"], "ts": ts,
                                             "message": {"type": "message", "text": args.get("text"), "ts": ts}}
        return 404, "application/json", {"ok": False, "error": "unknown_method"}

    def brief_messages(self) -> list[dict[str, Any]]:
        """chat.postMessage calls carrying a brief (a header block), not an approval request."""
        return [m for m in self.messages if m.get("blocks") and m["blocks"][0]["type"] == "header"]

    def approval_requests(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if any(b["type"] == "actions" for b in m.get("blocks") or [])]


class FakeStatuspage(_Server):
    def __init__(self, page_id: str = "pg1") -> None:
        super().__init__()
        self.page_id = page_id
        self.incidents: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, Any]:
        if headers.get("Authorization") != f"OAuth {STATUSPAGE_KEY}":
            return 401, "application/json", {"error": "Could not authenticate"}
        prefix = f"/v1/pages/{self.page_id}/incidents"
        if not path.startswith(prefix):
            return 404, "application/json", {"error": "Page not found"}
        rest = path[len(prefix):].strip("/")
        with self.lock:
            self.calls.append((method, path))
            if method == "POST" and not rest:
                fields = json.loads(body)["incident"]
                incident_id = uuid.uuid4().hex[:12]
                incident = {"id": incident_id, "shortlink": f"https://stspg.io/{incident_id[:5]}",
                            "name": fields["name"], "status": fields.get("status", "investigating"),
                            "impact": fields.get("impact_override", "none"),
                            "components": fields.get("components", {}),
                            "incident_updates": [{"status": fields.get("status"), "body": fields.get("body")}]}
                self.incidents[incident_id] = incident
                return 201, "application/json", incident
            if rest not in self.incidents:
                return 404, "application/json", {"error": "Incident not found"}
            incident = self.incidents[rest]
            if method == "PATCH":
                fields = json.loads(body)["incident"]
                incident["status"] = fields.get("status", incident["status"])
                incident["components"].update(fields.get("components", {}))
                incident["incident_updates"].append({"status": fields.get("status"), "body": fields.get("body")})
            return 200, "application/json", incident


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
