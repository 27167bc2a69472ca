"""A small Unleash Admin API on 127.0.0.1, written from Unleash's published API reference (docs.getunleash.io/api:
"Get a feature" GET /api/admin/projects/{projectId}/features/{featureName} answering a featureSchema with its
`environments` [{name, type, enabled, sortOrder, strategies}] (what unleash-server 8.2.0 answers:
tests/test_unleash_real.py holds this fake to it); "Enable a feature flag" /
"Disable a feature flag" POST .../features/{featureName}/environments/{environment}/on|off answering 200 with no
body, 401 without a valid token in the Authorization header, 404 for an unknown project, feature or environment,
as {"name": "NotFoundError", "message": ...}). The real server (npm unleash-server) needs PostgreSQL; see
docs/ai-systems.md for why these tests use this instead.

`fail_reads = N` answers the next N GETs 503 (a server that is restarting).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from tests.support import FakeServer

TOKEN = "*:*.unleash-admin-token"


class FakeUnleash(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.features: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.fail_reads = 0

    def add_feature(self, name: str, enabled: dict[str, bool], project: str = "default") -> None:
        self.features[(project, name)] = {
            "name": name, "type": "kill-switch", "description": "", "project": project, "stale": False,
            "impressionData": False, "archived": False, "createdAt": "2026-11-01T00:00:00.000Z",
            "environments": [{"name": env, "type": "production" if env == "production" else "development",
                              "enabled": on, "sortOrder": i, "strategies": [
                                  {"name": "flexibleRollout", "id": f"s-{i}", "parameters": {"rollout": "100"}}]}
                             for i, (env, on) in enumerate(enabled.items())],
            "variants": [], "tags": []}

    def enabled(self, name: str, env: str, project: str = "default") -> bool:
        return next(bool(e["enabled"]) for e in self.features[(project, name)]["environments"] if e["name"] == env)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[Any, ...]:
        with self.lock:
            self.requests.append((method, path))
            if headers.get("Authorization") != TOKEN:
                return 401, "application/json", {"name": "AuthenticationRequired", "message": "You must log in"}
            seg = [unquote(s) for s in path.split("?")[0].strip("/").split("/")]
            if seg[:3] != ["api", "admin", "projects"] or len(seg) < 6 or seg[4] != "features":
                return 404, "application/json", {"name": "NotFoundError", "message": "not found"}
            feature = self.features.get((seg[3], seg[5]))
            if feature is None:
                return 404, "application/json", {"name": "NotFoundError",
                                                 "message": f"Could not find feature flag {seg[5]}"}
            if method == "GET" and len(seg) == 6:
                if self.fail_reads > 0:
                    self.fail_reads -= 1
                    return 503, "application/json", {"message": "Service Unavailable"}
                return 200, "application/json", json.loads(json.dumps(feature))
            if method == "POST" and len(seg) == 9 and seg[6] == "environments" and seg[8] in ("on", "off"):
                env = next((e for e in feature["environments"] if e["name"] == seg[7]), None)
                if env is None:
                    return 404, "application/json", {"name": "NotFoundError",
                                                     "message": f"Could not find environment {seg[7]}"}
                env["enabled"] = seg[8] == "on"
                return 200, "application/json", b""
            return 404, "application/json", {"name": "NotFoundError", "message": "not found"}
