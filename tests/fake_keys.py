"""Two small servers on 127.0.0.1 for key rotation, each written from its API reference:

- FakeOpenAIAdmin, OpenAI's Administration API (platform.openai.com/docs/api-reference/project-api-keys and
  .../project-service-accounts): "Create service account API key" POST
  /v1/organization/projects/{project}/service_accounts/{account}/api_keys {name} answering {object:
  "organization.project.service_account.api_key", id, name, value, created_at, expires_at}; "List project API keys"
  GET .../api_keys?limit&after answering {object: "list", data: [{object: "organization.project.api_key", id, name,
  redacted_value, created_at, last_used_at, owner: {type, service_account: {...}}}], first_id, last_id, has_more};
  "Delete project API key" DELETE .../api_keys/{id} answering {object: "organization.project.api_key.deleted", id,
  deleted}. Bearer admin key, else 401; unknown project, account or key 404.
- FakeVault, Vault's KV secrets engine v2 API (developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2): POST
  /v1/{mount}/data/{path} {"data": {...}} answering {"data": {created_time, custom_metadata, deletion_time,
  destroyed, version}}; GET /v1/{mount}/data/{path} answering {"data": {"data": {...}, "metadata": {version, ...}}}
  or 404 {"errors": []}; X-Vault-Token, else 403 {"errors": ["permission denied"]}.
"""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support import FakeServer

ADMIN_KEY = "sk-admin-test"
VAULT_TOKEN = "hvs.test-token"


class FakeOpenAIAdmin(FakeServer):
    def __init__(self, project: str = "proj_support", accounts: tuple[str, ...] = ("svc_acct_bot",)) -> None:
        super().__init__()
        self.project, self.accounts = project, set(accounts)
        self.keys: list[dict[str, Any]] = []
        self.values: dict[str, str] = {}
        self.clock = 1_764_460_000

    def add_key(self, account: str, name: str = "initial") -> str:
        self.clock += 1
        key_id = f"key_{secrets.token_hex(6)}"
        self.values[key_id] = f"sk-svcacct-{secrets.token_hex(16)}"
        self.keys.append({"object": "organization.project.api_key", "id": key_id, "name": name,
                          "redacted_value": "sk-svc...xyz", "created_at": self.clock, "last_used_at": None,
                          "owner": {"type": "service_account", "service_account": {
                              "object": "organization.project.service_account", "id": account, "name": account,
                              "role": "member", "created_at": 1_700_000_000}}})
        return key_id

    def key_ids(self, account: str) -> list[str]:
        return [k["id"] for k in self.keys if k["owner"]["service_account"]["id"] == account]

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[Any, ...]:
        with self.lock:
            if headers.get("Authorization") != f"Bearer {ADMIN_KEY}":
                return 401, "application/json", {"error": {"message": "Invalid admin key", "type":
                                                           "invalid_request_error", "code": "invalid_api_key"}}
            url = urlsplit(path)
            seg = [unquote(s) for s in url.path.strip("/").split("/")]
            if seg[:3] != ["v1", "organization", "projects"] or len(seg) < 5 or seg[3] != self.project:
                return 404, "application/json", {"error": {"message": "Not found", "type": "invalid_request_error"}}
            rest = seg[4:]
            if method == "GET" and rest == ["api_keys"]:
                query = parse_qs(url.query)
                limit = int(query.get("limit", ["20"])[0])
                after = query.get("after", [None])[0]
                start = next((i + 1 for i, k in enumerate(self.keys) if k["id"] == after), 0)
                page = self.keys[start:start + limit]
                return 200, "application/json", {"object": "list", "data": page,
                                                 "first_id": page[0]["id"] if page else None,
                                                 "last_id": page[-1]["id"] if page else None,
                                                 "has_more": start + limit < len(self.keys)}
            if method == "DELETE" and len(rest) == 2 and rest[0] == "api_keys":
                found = next((k for k in self.keys if k["id"] == rest[1]), None)
                if found is None:
                    return 404, "application/json", {"error": {"message": f"No such API key: {rest[1]}"}}
                self.keys.remove(found)
                return 200, "application/json", {"object": "organization.project.api_key.deleted", "id": rest[1],
                                                 "deleted": True}
            if method == "POST" and len(rest) == 3 and rest[0] == "service_accounts" and rest[2] == "api_keys":
                if rest[1] not in self.accounts:
                    return 404, "application/json", {"error": {"message": f"No such service account: {rest[1]}"}}
                name = (json.loads(body) if body else {}).get("name") or "Secret Key"
                key_id = self.add_key(rest[1], name)
                return 200, "application/json", {"object": "organization.project.service_account.api_key",
                                                 "id": key_id, "name": name, "value": self.values[key_id],
                                                 "created_at": self.clock, "expires_at": None}
            return 404, "application/json", {"error": {"message": "Not found"}}


class FakeVault(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[str, list[dict[str, Any]]] = {}

    def current(self, mount_path: str) -> dict[str, Any]:
        return dict(self.secrets[mount_path][-1])

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[Any, ...]:
        with self.lock:
            if headers.get("X-Vault-Token") != VAULT_TOKEN:
                return 403, "application/json", {"errors": ["permission denied"]}
            seg = [unquote(s) for s in urlsplit(path).path.strip("/").split("/")]
            if len(seg) < 4 or seg[0] != "v1" or seg[2] != "data":
                return 404, "application/json", {"errors": []}
            where = f"{seg[1]}/{'/'.join(seg[3:])}"
            versions = self.secrets.get(where, [])
            meta = {"created_time": "2026-11-30T04:00:00Z", "custom_metadata": None, "deletion_time": "",
                    "destroyed": False, "version": len(versions)}
            if method == "GET":
                if not versions:
                    return 404, "application/json", {"errors": []}
                return 200, "application/json", {"request_id": "r", "lease_id": "", "renewable": False,
                                                 "lease_duration": 0, "data": {"data": versions[-1],
                                                                               "metadata": meta}}
            if method in ("POST", "PUT"):
                versions.append(dict(json.loads(body)["data"]))
                self.secrets[where] = versions
                return 200, "application/json", {"data": {**meta, "version": len(versions)}}
            return 405, "application/json", {"errors": []}
