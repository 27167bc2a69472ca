"""Ticket backends. The local backend writes a real ticket (JSON + Markdown) into the artefact store.

Creation is keyed by the incident number: a second create for the same incident returns the first ticket.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from integrations.store import Store, read_lines
from playbook.messages import TicketInput, TicketUpdate
from playbook.models import Ticket


class TicketBackend(Protocol):
    def create(self, request: TicketInput) -> Ticket: ...

    def update(self, request: TicketUpdate) -> bool: ...


def _ticket_markdown(request: TicketInput) -> str:
    d = request.detection
    metrics = "\n".join(f"| {k} | {v:g} |" for k, v in sorted(d.metrics.items())) or "| (none reported) | |"
    links = "\n".join(f"- {link}" for link in d.links) or "- (none)"
    return f"""# {request.number}: {d.kind.value} on {', '.join(d.services)}

| field | value |
|---|---|
| severity | {request.severity.value} |
| signal | {d.kind.value} ({d.kind.family}) |
| affected services | {', '.join(d.services)} |
| model | {d.model or '-'} |
| prompt | {d.prompt_name or '-'}{f' v{d.prompt_version}' if d.prompt_version is not None else ''} |
| last deploy | {d.deploy_id or 'unknown'} |
| detected at | {d.detected_at.isoformat()} |
| source | {d.source} |
| workflow | {request.workflow_id} |

{d.summary}

## Guardrail metrics

| metric | value |
|---|---|
{metrics}

## Links

{links}

## Updates

"""


class LocalTicketBackend:
    name = "local"

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, request: TicketInput) -> Ticket:
        record = {
            "key": request.number,
            "workflow_id": request.workflow_id,
            "severity": request.severity.value,
            "services": request.detection.services,
            "kind": request.detection.kind.value,
            "metrics": request.detection.metrics,
            "deploy_id": request.detection.deploy_id,
            "model": request.detection.model,
            "prompt": {"name": request.detection.prompt_name, "version": request.detection.prompt_version},
            "summary": request.detection.summary,
            "detected_at": request.detection.detected_at.isoformat(),
            "opened_at": request.opened_at.isoformat(),
        }
        path, created = self.store.write_once(f"{request.number}/ticket.json", json.dumps(record, indent=2))
        if created or not self.store.exists(f"{request.number}/ticket.md"):
            self.store.write(f"{request.number}/ticket.md", _ticket_markdown(request))
        local = Path(path)  # the directory store's file, as a file:// URL; the PostgreSQL store's location as it is
        return Ticket(key=request.number, url=local.as_uri() if local.is_absolute() else path, backend=self.name)

    def update(self, request: TicketUpdate) -> bool:
        number = request.ticket.key
        appended = self.store.append_once(f"{number}/ticket-updates.jsonl", request.key, {
            "at": datetime.now(UTC).isoformat(), "severity": request.severity.value,
            "status": request.status.value, "text": request.text})
        self._render_updates(number)
        return appended

    def _render_updates(self, number: str) -> None:
        """Rebuild the ticket's Updates section from the update log, so a crash between the two heals."""
        md = f"{number}/ticket.md"
        body = self.store.read_bytes(md).decode() if self.store.exists(md) else f"# {number}\n\n## Updates\n\n"
        head = body.split("## Updates\n", 1)[0] + "## Updates\n\n"
        lines = "".join(_update_line(record) for record in read_lines(self.store, f"{number}/ticket-updates.jsonl"))
        self.store.write(f"{number}/ticket.md", head + lines)


def _update_line(record: dict[str, str]) -> str:
    stamp = datetime.fromisoformat(record["at"]).strftime("%Y-%m-%d %H:%M UTC")
    return f"- {stamp} [{record['severity']}, {record['status']}] {record['text']}\n"


def ticket_backend(name: str, store: Store) -> TicketBackend:
    if name == "local":
        return LocalTicketBackend(store)
    raise ValueError(f"unknown ticket backend '{name}'")
