"""Rotate a provider API key: a new key for the app's service account at an OpenAI-compatible admin API
(platform.openai.com/docs/api-reference: "Create service account API key", POST
/organization/projects/{project}/service_accounts/{account}/api_keys; "List project API keys"; "Delete project API
key"), the secret written to a KV v2 secret store speaking Vault's API (developer.hashicorp.com/vault/api-docs/
secret/kv/kv-v2: POST/GET /v1/{mount}/data/{path}, X-Vault-Token; OpenBao is the same) and read back there, then
the account's other keys revoked and the list read back. The new key's id goes on the record, never its value.

Idempotent by the incident's key, which the stored secret carries (`rotated_by`): a retried step finds its key
stored and only finishes the revocation. A key created by an attempt whose answer was lost is revoked with the
others. No undo: a revoked key cannot be restored.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

from integrations.mitigations.base import (
    Applied,
    MitigationNotFound,
    MitigationRejected,
    MitigationVerificationError,
    secret,
)
from integrations.mitigations.http import call
from playbook.config import KeyRotationAction, render_template

PAGES = 20  # at most 20 pages of 100 keys


def _target(action: KeyRotationAction, variables: dict[str, Any]) -> tuple[str, str, str]:
    found = tuple(render_template(v, variables).strip() for v in
                  (action.project_id, action.service_account_id, action.store_path))
    if not all(found):
        raise MitigationRejected("the key_rotation action needs a project_id, a service_account_id and a store_path")
    return found[0], found[1], found[2].strip("/")


def _admin(action: KeyRotationAction) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret(action.admin_key_env, 'an admin key of the provider')}"}


def _store(action: KeyRotationAction) -> dict[str, str]:
    return {"X-Vault-Token": secret(action.store_token_env, "a token of the secret store")}


def _project(action: KeyRotationAction, project: str) -> str:
    return f"{action.base_url.rstrip('/')}/organization/projects/{quote(project, safe='')}"


def account_keys(action: KeyRotationAction, project: str, account: str) -> list[dict[str, Any]]:
    """The service account's keys: id, name, created_at (never the redacted value)."""
    keys: list[dict[str, Any]] = []
    after: str | None = None
    for _ in range(PAGES):
        page = call("GET", f"{_project(action, project)}/api_keys?limit=100" + (f"&after={after}" if after else ""),
                    _admin(action), action.timeout_seconds, "listing the project's API keys") or {}
        for k in page.get("data") or []:
            owner = ((k.get("owner") or {}).get("service_account") or {}).get("id")
            if owner == account:
                keys.append({"id": k.get("id"), "name": k.get("name"), "created_at": k.get("created_at")})
        if not page.get("has_more"):
            break
        after = page.get("last_id")
    return keys


def _secret_url(action: KeyRotationAction, path: str) -> str:
    return f"{action.store_url.rstrip('/')}/v1/{quote(action.store_mount)}/data/{quote(path)}"


def stored(action: KeyRotationAction, path: str) -> tuple[dict[str, Any], int | None]:
    """(the secret's data, its version); ({}, None) when there is none yet."""
    try:
        answer = call("GET", _secret_url(action, path), _store(action), action.timeout_seconds,
                      f"reading {action.store_mount}/{path}")
    except MitigationNotFound:
        return {}, None
    body = (answer or {}).get("data") or {}
    return dict(body.get("data") or {}), (body.get("metadata") or {}).get("version")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class KeyRotation:
    kind = "key_rotation"

    def snapshot(self, action: KeyRotationAction, variables: dict[str, Any]) -> dict[str, Any]:
        project, account, path = _target(action, variables)
        data, version = stored(action, path)
        return {"kind": self.kind, "project": project, "service_account": account,
                "keys": account_keys(action, project, account),
                "store": {"path": f"{action.store_mount}/{path}", "version": version,
                          "key_id": data.get(f"{action.store_field}_id")}}

    def apply(self, action: KeyRotationAction, variables: dict[str, Any], key: str) -> Applied:
        project, account, path = _target(action, variables)
        data, version = stored(action, path)
        id_field = f"{action.store_field}_id"
        created = data.get("rotated_by") != key
        if created:
            made = call("POST", f"{_project(action, project)}/service_accounts/{quote(account, safe='')}/api_keys",
                        _admin(action), action.timeout_seconds, f"creating a key for {account}",
                        {"name": f"firebreak {key[-60:]}"}) or {}
            new_id, value = str(made.get("id") or ""), str(made.get("value") or "")
            if not new_id or not value:
                raise MitigationVerificationError(f"the provider created no key for {account} (no id or value)")
            answer = call("POST", _secret_url(action, path), _store(action), action.timeout_seconds,
                          f"storing the new key at {action.store_mount}/{path}",
                          {"data": {**data, action.store_field: value, id_field: new_id, "rotated_by": key}}) or {}
            version = (answer.get("data") or {}).get("version")
            back, back_version = stored(action, path)
            if _digest(str(back.get(action.store_field, ""))) != _digest(value) or back_version != version:
                raise MitigationVerificationError(f"{action.store_mount}/{path} does not read back as the new key "
                                                  f"(version {back_version}, expected {version})")
        new_id = str(data.get(id_field)) if not created else new_id
        revoked = []
        if action.revoke_previous:
            for k in account_keys(action, project, account):
                if k["id"] != new_id:
                    call("DELETE", f"{_project(action, project)}/api_keys/{quote(str(k['id']), safe='')}",
                         _admin(action), action.timeout_seconds, f"revoking key {k['id']}")
                    revoked.append(k["id"])
            left = [k["id"] for k in account_keys(action, project, account)]
            if left != [new_id]:
                raise MitigationVerificationError(f"{account} has keys {left} after the rotation, not only {new_id}")
        where = f"{action.store_mount}/{path} version {version}" if version else f"{action.store_mount}/{path}"
        detail = (f"new key {new_id} for {account} stored at {where} (read back)"
                  + (f"; revoked {', '.join(revoked)}" if revoked else "") + " (verified)")
        if not created:
            detail = "already rotated by this incident: " + detail
        return Applied(created or bool(revoked), detail, None,
                       {"new_key_id": new_id, "revoked": revoked, "store_version": version})

    def undo(self, action: KeyRotationAction, variables: dict[str, Any], restore: dict[str, Any], key: str) -> str:
        raise MitigationRejected("a key rotation cannot be undone: the previous keys are revoked")
