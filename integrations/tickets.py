"""Ticket backends and their one registry: `local` (the embedded default), `jira` and `github`.

The local backend writes a real ticket (JSON + Markdown) into the artefact store; creation is keyed by the incident
number, so a second create for the same incident returns the first ticket. The trackers (integrations/jira.py,
integrations/github_issues.py) find an incident's ticket by its label the same way. A new tracker is its config in
playbook/config/trackers.py, its adapter and one entry in BACKENDS.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import settings
from integrations.store import Store, read_lines
from integrations.ticket_base import TicketBackend, TrackerRefused
from integrations.tickets_text import ticket_markdown
from playbook.config import TicketConfig
from playbook.messages import ItemTicketClose, ItemTicketInput, TicketInput, TicketUpdate
from playbook.models import Ticket


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
            self.store.write(f"{request.number}/ticket.md", ticket_markdown(request))
        local = Path(path)  # the directory store's file, as a file:// URL; the PostgreSQL store's location as it is
        return Ticket(key=request.number, url=local.as_uri() if local.is_absolute() else path, backend=self.name)

    def update(self, request: TicketUpdate) -> bool:
        number = request.ticket.key
        appended = self.store.append_once(f"{number}/ticket-updates.jsonl", request.key, {
            "at": datetime.now(UTC).isoformat(), "severity": request.severity.value,
            "status": request.status.value, "text": request.text})
        self._render_updates(number)
        return appended

    def open_item(self, request: ItemTicketInput) -> Ticket | None:
        """Action items stay Firebreak's own workflows (and the retrospective's list) with the local backend."""
        return None

    def close_item(self, request: ItemTicketClose) -> bool:
        return False

    def item_closed_by(self, ticket: Ticket) -> str | None:
        return None

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


Factory = Callable[[TicketConfig, Store, Mapping[str, str]], TicketBackend]


def _jira(cfg: TicketConfig, store: Store, environ: Mapping[str, str]) -> TicketBackend:
    if cfg.jira is None:
        raise TrackerRefused("[tickets] backend = \"jira\" needs a [tickets.jira] table")
    from integrations.jira import JiraTicketBackend  # a tracker's client loads when a playbook names it

    return JiraTicketBackend(cfg.jira, settings.read(settings.JIRA_EMAIL, environ=environ).strip(),
                             settings.read(settings.JIRA_API_TOKEN, environ=environ).strip())


def _github(cfg: TicketConfig, store: Store, environ: Mapping[str, str]) -> TicketBackend:
    if cfg.github is None:
        raise TrackerRefused("[tickets] backend = \"github\" needs a [tickets.github] table")
    from integrations.github_issues import GitHubTicketBackend  # githubkit: ~11 MB, only for a GitHub tracker

    return GitHubTicketBackend(cfg.github, settings.read(settings.GITHUB_TOKEN, environ=environ).strip())


BACKENDS: dict[str, Factory] = {
    "local": lambda cfg, store, environ: LocalTicketBackend(store),
    "jira": _jira,
    "github": _github,
}


def ticket_backend(name: str, store: Store, config: TicketConfig | None = None,
                   environ: Mapping[str, str] | None = None) -> TicketBackend:
    """The backend called `name`, configured by the incident's [tickets] (the local one needs none)."""
    factory = BACKENDS.get(name)
    if factory is None:
        raise ValueError(f"unknown ticket backend '{name}'")
    cfg = config or TicketConfig()
    return factory(cfg, store, os.environ if environ is None else environ)
