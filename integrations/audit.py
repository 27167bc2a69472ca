"""The audit log: who did what, when, and from where, kept in the store beside the artefacts.

Every human action on an incident (whatever door it came through: the CLI, the HTTP approval routes, Slack buttons,
PagerDuty webhooks), personal tokens issued and revoked, the playbook a worker or intake starts with when it is not
the one last recorded, and every `firebreak export`. One JSON line per event in the store's append-once log
`_audit/audit.jsonl` (the directory store: a file; PostgreSQL: rows of `log_lines` under that path), keyed by a
unique id so a retried write keeps one line. Human actions are keyed by their action id, so the same action sent
twice is one line. Free text people write (comments, notes) is not copied here; the incident's history holds it.

The doors call this; workflow code never does (docs/security.md#audit-log).
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from integrations.store import Store, read_lines

LOG = "_audit/audit.jsonl"
log = logging.getLogger("firebreak.audit")


def here(kind: str) -> str:
    """Where a local process acts from: 'cli alice@host-1' (the OS user and host, not the roster name)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{kind} {user}@{socket.gethostname()}"


def record(store: Store, what: str, who: str, origin: str, incident: str = "",
           details: dict[str, Any] | None = None, key: str | None = None) -> bool:
    """Append one event; False when an event with this key is there already."""
    line = {"at": datetime.now(UTC).isoformat(), "who": who, "what": what, "origin": origin,
            "incident": incident, "details": details or {}}
    return store.append_once(LOG, key or f"event:{uuid.uuid4()}", line)


def events(store: Store, since: datetime | None = None, who: str | None = None,
           incident: str | None = None) -> list[dict[str, Any]]:
    """The events, oldest first, filtered: at or after `since`, by `who`, on `incident` (its number or id)."""
    found = []
    for line in read_lines(store, LOG):
        if since is not None and datetime.fromisoformat(line["at"]) < since:
            continue
        if who and line.get("who") != who:
            continue
        if incident and incident not in (line.get("incident"), line.get("details", {}).get("workflow_id")):
            continue
        found.append(line)
    return found


def playbook_seen(store: Store, path: str, sha256: str, by: str) -> bool:
    """Record the playbook a process starts with when its hash is not the last one recorded; True if recorded.

    Two processes starting together on the same change write one line: the key names the hash and the line it
    follows."""
    last = [e for e in read_lines(store, LOG) if e.get("what") == "playbook seen"]
    if last and last[-1]["details"].get("sha256") == sha256:
        return False
    after = last[-1]["key"] if last else "start"
    previous = last[-1]["details"].get("sha256", "") if last else ""
    return record(store, "playbook seen", by, here(by), details={"path": path, "sha256": sha256,
                                                                 "previous_sha256": previous},
                  key=f"playbook:{sha256}:after:{after}")


def action_recorder(store: Callable[[], Store]) -> Callable[[str, str, Any, str, str], None]:
    """The auditor client/actions.py calls after Temporal recorded a person's action (set_auditor). `store` is
    called on first use, so a CLI command that sends nothing opens nothing."""
    opened: list[Store] = []

    def audit(what: str, workflow_id: str, action: Any, origin: str, number: str) -> None:
        if not opened:
            opened.append(store())
        fields = action.model_dump(mode="json") if hasattr(action, "model_dump") else {}
        details = {k: fields[k] for k in ("role", "request_id", "person", "assign_role", "severity") if fields.get(k)}
        record(opened[0], what, str(fields.get("by", "")), origin, number or workflow_id,
               {"workflow_id": workflow_id, "action_id": fields.get("action_id", ""), **details},
               key=f"action:{fields.get('action_id') or uuid.uuid4()}")

    return audit


def safely(write: Callable[[], Any], what: str) -> None:
    """Write an audit event without failing the thing it records (that is done already); a failure is logged."""
    try:
        write()
    except Exception as err:  # noqa: BLE001 - the audit never undoes an action; it says it could not record it
        log.error("could not write the audit log entry for %s: %s", what, err)
