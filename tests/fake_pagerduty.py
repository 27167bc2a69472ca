"""A fake PagerDuty on 127.0.0.1, over HTTPS (the `pagerduty` client refuses any other scheme), written from
PagerDuty's own documentation (PagerDuty/developer-docs):

- Events API v2, `docs/events-API-v2/01-Overview.md` ("Response Codes & Retry Logic": 202 accepted, 400 invalid
  event -- do not retry, 429 -- retry after some time, 5xx) and `02-Trigger-Events.md` (`routing_key`,
  `event_action` trigger | acknowledge | resolve, `dedup_key` <= 255 characters, `payload.summary` <= 1024,
  `payload.source`, `payload.severity` critical | error | warning | info; a trigger without a dedup_key gets one;
  acknowledge/resolve of an unknown key are dropped; a trigger after a resolve opens a new alert). The 202 body is
  `{"status": "success", "message": "Event processed", "dedup_key": ...}`, the 400 body
  `{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}`.
- Webhooks v3, `docs/webhooks/01-v3-Overview.md` (the `event` envelope: id, event_type, resource_type,
  occurred_at, agent, data of type `incident` with id, number, status, title, ...) and `docs/webhooks/04-Signatures.md`
  (`X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the raw body>`, one per signing secret, comma-separated).
- REST API v2 on-calls, `GET /oncalls` (`Authorization: Token token=...`, `schedule_ids[]`,
  `escalation_policy_ids[]`, `since`, `until`; an entry with `"start": null` is always on call (a user named
  directly on an escalation level);
  401 for a bad token), answered `{"oncalls": [...], "limit", "offset", "more", "total"}` as the REST API's
  classic pagination (`docs/REST-API/09-Pagination.md`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import ssl
import threading
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import FakeServer

SEVERITIES = {"critical", "error", "warning", "info"}
ACTIONS = {"trigger", "acknowledge", "resolve"}


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "fake-pagerduty.pem", directory / "fake-pagerduty.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def signature(secrets: list[str], body: bytes) -> str:
    """The X-PagerDuty-Signature header for `body`, one v1 signature per signing secret."""
    return ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)


class FakePagerDuty(FakeServer):
    def __init__(self, directory: Path, routing_keys: set[str], api_tokens: set[str] | None = None) -> None:
        super().__init__()
        self.ca_file, key_file = self_signed(directory)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key_file)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.routing_keys, self.api_tokens = routing_keys, api_tokens or set()
        self.events: list[dict[str, Any]] = []       # every event accepted (202), in order
        self.alerts: dict[str, dict[str, Any]] = {}  # dedup_key -> the open (or last) alert
        self.opened = 0                              # alerts opened, over all keys
        self.throttle = 0                            # answer this many next requests 429
        self.retry_after = "1"
        self.throttled = 0
        self.oncalls: list[dict[str, Any]] = []      # what GET /oncalls lists (before filtering)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    # ---------------------------------------------------------------- the HTTP side

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[Any, ...]:
        with self.lock:
            if self.throttle > 0:
                self.throttle -= 1
                self.throttled += 1
                return 429, "application/json", {"status": "throttle event", "message": "Requests for this service "
                                                 "are arriving too quickly.  Please retry later."}, \
                    {"Retry-After": self.retry_after}
            parts = urlsplit(path)
            if method == "POST" and parts.path == "/v2/enqueue":
                return self._enqueue(body)
            if method == "GET" and parts.path == "/oncalls":
                return self._oncalls(headers, parse_qs(parts.query))
            return 404, "application/json", {"error": {"message": "Not Found", "code": 2100}}

    def _invalid(self, *errors: str) -> tuple[Any, ...]:
        return 400, "application/json", {"status": "invalid event", "message": "Event object is invalid",
                                         "errors": list(errors)}

    def _enqueue(self, body: bytes) -> tuple[Any, ...]:
        try:
            event = json.loads(body)
        except json.JSONDecodeError:
            return self._invalid("Malformed JSON")
        if not isinstance(event, dict):
            return self._invalid("Event object must be a JSON object")
        if event.get("routing_key") not in self.routing_keys:
            return self._invalid("Invalid routing key")
        action, key = event.get("event_action"), event.get("dedup_key")
        if action not in ACTIONS:
            return self._invalid("'event_action' is missing or blank")
        if key is not None and (not isinstance(key, str) or len(key) > 255):
            return self._invalid("'dedup_key' must be a string of at most 255 characters")
        if action == "trigger":
            payload = event.get("payload") or {}
            errors = [f"'payload.{f}' is missing or blank" for f in ("summary", "source") if not payload.get(f)]
            if payload.get("severity") not in SEVERITIES:
                errors.append("'payload.severity' is invalid (must be one of critical, error, warning, info)")
            if len(str(payload.get("summary", ""))) > 1024:
                errors.append("'payload.summary' is too long (maximum 1024 characters)")
            if errors:
                return self._invalid(*errors)
            key = key or uuid.uuid4().hex
            alert = self.alerts.get(key)
            if alert is None or alert["status"] == "resolved":
                self.opened += 1
                self.alerts[key] = {"id": f"Q{self.opened:06d}", "number": self.opened, "status": "triggered",
                                    "title": payload["summary"], "severity": payload["severity"]}
        elif not key:
            return self._invalid("'dedup_key' is required for acknowledge and resolve")
        elif key in self.alerts and self.alerts[key]["status"] != "resolved":
            self.alerts[key]["status"] = "acknowledged" if action == "acknowledge" else "resolved"
        self.events.append(event)
        return 202, "application/json", {"status": "success", "message": "Event processed", "dedup_key": key}

    def _oncalls(self, headers: dict[str, str], query: dict[str, list[str]]) -> tuple[Any, ...]:
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if auth.removeprefix("Token token=") not in self.api_tokens:
            return 401, "application/json", {"error": {"message": "Unauthorized", "code": 2006}}
        wanted = set(query.get("schedule_ids[]", []))
        policies = set(query.get("escalation_policy_ids[]", []))
        since = dt.datetime.fromisoformat(query["since"][0]) if "since" in query else None
        until = dt.datetime.fromisoformat(query["until"][0]) if "until" in query else None
        found = [o for o in self.oncalls if (not wanted or (o["schedule"] or {}).get("id") in wanted)
                 and (not policies or o["escalation_policy"]["id"] in policies)
                 and (until is None or o["start"] is None or dt.datetime.fromisoformat(o["start"]) < until)
                 and (since is None or o["end"] is None or dt.datetime.fromisoformat(o["end"]) > since)]
        return 200, "application/json", {"oncalls": found, "limit": 100, "offset": 0, "more": False,
                                         "total": None}

    # ---------------------------------------------------------------- PagerDuty's side of a person's click

    def acknowledge_in_pagerduty(self, dedup_key: str, user_id: str, user_name: str) -> bytes:
        """Someone acknowledges the alert in PagerDuty's app: its status changes and the body of the v3 webhook
        (`incident.acknowledged`) PagerDuty would deliver is returned, to be signed and posted."""
        alert = self.alerts[dedup_key]
        alert["status"] = "acknowledged"
        user = {"id": user_id, "type": "user_reference", "summary": user_name,
                "self": f"https://api.pagerduty.com/users/{user_id}",
                "html_url": f"https://acme.pagerduty.com/users/{user_id}"}
        event = {"event": {
            "id": str(uuid.uuid4()), "event_type": "incident.acknowledged", "resource_type": "incident",
            "occurred_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"), "agent": user,
            "client": {"name": "PagerDuty"},
            "data": {"id": alert["id"], "type": "incident", "number": alert["number"], "status": "acknowledged",
                     "title": alert["title"], "self": f"https://api.pagerduty.com/incidents/{alert['id']}",
                     "html_url": f"https://acme.pagerduty.com/incidents/{alert['id']}", "urgency": "high",
                     "service": {"id": "PSERVICE", "type": "service_reference", "summary": "support-bot"},
                     "assignees": [user], "resolve_reason": None}}}
        return json.dumps(event).encode()
