"""The Jira Cloud ticket backend: REST API v3 over httpx, basic auth with an Atlassian account's API token.

What it calls (Jira Cloud platform REST API v3, developer.atlassian.com/cloud/jira/platform/rest/v3):
- `POST /rest/api/3/search/jql` (the current search; `/rest/api/3/search` is gone) with a JQL on the incident's
  label, before `POST /rest/api/3/issue` creates: one ticket per incident even when an attempt is lost after Jira
  created the issue. Jira's search is eventually consistent, so a retry seconds after a lost create may still miss
  it; Temporal's retry backoff makes that unlikely, docs/trackers.md says so.
- `GET/POST /rest/api/3/issue/{key}/comment` for updates, each carrying the comment property `firebreak` with the
  update's idempotency key, so a repeated update is found and not posted twice: the issue's comment ids, then
  `POST /rest/api/3/comment/list?expand=properties` (only that operation expands properties).
- `GET/POST /rest/api/3/issue/{key}/transitions`: the transition is looked up by name, as workflows differ.
- `GET /rest/api/3/issue/{key}?fields=status,issuelinks` and `POST /rest/api/3/issueLink` for action items.
Descriptions and comments are Atlassian Document Format. 429 and 503 carry Retry-After: the activity retries then.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx

import settings
from integrations.ticket_base import (
    TrackerCredentialRefused,
    TrackerError,
    TrackerRateLimited,
    TrackerRefused,
    incident_label,
    item_label,
    item_text,
    item_title,
    ticket_title,
)
from playbook.config.templates import render_template
from playbook.config.trackers import JiraTracker
from playbook.messages import ItemTicketClose, ItemTicketInput, TicketInput, TicketUpdate
from playbook.models import IncidentStatus, Ticket

API = "/rest/api/3"
PROPERTY = "firebreak"
PAGE = 100
MAX_PAGES = 50  # 5,000 comments: a bound on the duplicate check, far past any incident's


def adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format document: one paragraph per non-empty line."""
    lines = [line for line in text.splitlines() if line.strip()] or ["-"]
    return {"type": "doc", "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": line}]} for line in lines]}


class JiraTicketBackend:
    name = "jira"

    def __init__(self, cfg: JiraTracker, email: str, token: str,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not email or not token:
            raise TrackerCredentialRefused(
                f"no Jira credential: set {settings.JIRA_EMAIL} and {settings.JIRA_API_TOKEN} on the worker "
                "(docs/trackers.md)")
        self.cfg = cfg
        self.client = httpx.Client(base_url=cfg.url, auth=(email, token), timeout=cfg.timeout_seconds,
                                   headers={"Accept": "application/json"}, transport=transport)

    # ------------------------------------------------------------------ the incident's ticket

    def create(self, request: TicketInput) -> Ticket:
        label = incident_label(request.number)
        key = self._find(label)
        if key is None:
            d = request.detection
            variables = {"incident_id": request.workflow_id, "incident_number": request.number,
                         "severity": request.severity.value, "service": d.services[0], "kind": d.kind.value,
                         "summary": d.summary, "model": d.model, "prompt_name": d.prompt_name,
                         "prompt_version": d.prompt_version, "deploy_id": d.deploy_id}
            custom = {f: render_template(v, variables) if isinstance(v, str) else v
                      for f, v in self.cfg.custom_fields.items()}
            fields = {"project": {"key": self.cfg.project}, "issuetype": {"name": self.cfg.issue_type},
                      "summary": ticket_title(request), "description": adf(_description(request)),
                      "priority": {"name": self.cfg.priorities[request.severity.value]},
                      "labels": [*self.cfg.labels, label], **custom}
            key = self._call("POST", f"{API}/issue", json={"fields": fields}).json()["key"]
        return Ticket(key=key, url=f"{self.cfg.url}/browse/{key}", backend=self.name)

    def update(self, request: TicketUpdate) -> bool:
        added = self._comment_once(request.ticket.key, request.key, request.text)
        target = {IncidentStatus.RESOLVED: self.cfg.resolve_transition,
                  IncidentStatus.CLOSED: self.cfg.close_transition}.get(request.status, "")
        if target and request.key.endswith(("/ticket/resolved", "/ticket/closed")):
            self._transition(request.ticket.key, target)
        return added

    # ------------------------------------------------------------------ action items

    def open_item(self, request: ItemTicketInput) -> Ticket | None:
        label = item_label(request.workflow_id)
        key = self._find(label)
        if key is None:
            fields = {"project": {"key": self.cfg.project}, "issuetype": {"name": self.cfg.action_item_issue_type},
                      "summary": item_title(request),
                      "description": adf(item_text(request, request.incident_ticket.key)),
                      "labels": [*self.cfg.labels, label]}
            key = self._call("POST", f"{API}/issue", json={"fields": fields}).json()["key"]
        incident = request.incident_ticket.key
        if request.incident_ticket.backend == self.name and incident not in self._linked(key):
            self._call("POST", f"{API}/issueLink", json={"type": {"name": self.cfg.link_type},
                                                          "inwardIssue": {"key": key},
                                                          "outwardIssue": {"key": incident}})
        return Ticket(key=key, url=f"{self.cfg.url}/browse/{key}", backend=self.name)

    def close_item(self, request: ItemTicketClose) -> bool:
        key = request.ticket.key
        self._comment_once(key, f"item-done/{key}", f"Done in Firebreak by {request.done_by}."
                           + (f" {request.note}" if request.note else ""))
        return self._transition(key, self.cfg.item_done_transition) if self.cfg.item_done_transition else False

    def item_closed_by(self, ticket: Ticket) -> str | None:
        issue = self._call("GET", f"{API}/issue/{ticket.key}", params={"fields": "status,assignee"}).json()
        fields = issue.get("fields") or {}
        if ((fields.get("status") or {}).get("statusCategory") or {}).get("key") != "done":
            return None
        return str((fields.get("assignee") or {}).get("displayName") or "jira")

    # ------------------------------------------------------------------ calls

    def _find(self, label: str) -> str | None:
        jql = f'project = "{self.cfg.project}" AND labels = "{label}" ORDER BY created ASC'
        found = self._call("POST", f"{API}/search/jql", json={"jql": jql, "fields": ["summary"], "maxResults": 1})
        issues = found.json().get("issues") or []
        return str(issues[0]["key"]) if issues else None

    def _comments(self, key: str) -> Iterator[dict[str, Any]]:
        """The issue's comments with their properties, a page (up to 100) at a time."""
        start = 0
        for _ in range(MAX_PAGES):
            page = self._call("GET", f"{API}/issue/{key}/comment",
                              params={"startAt": start, "maxResults": PAGE}).json()
            comments = page.get("comments") or []
            if comments:
                ids = [int(c["id"]) for c in comments]
                listed = self._call("POST", f"{API}/comment/list", params={"expand": "properties"},
                                    json={"ids": ids}).json()
                yield from listed.get("values") or []
            start += len(comments)
            if not comments or start >= int(page.get("total", 0)):
                return

    def _comment_once(self, key: str, idempotency_key: str, text: str) -> bool:
        mark = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
        for comment in self._comments(key):
            if any(p.get("key") == PROPERTY and (p.get("value") or {}).get("update") == mark
                   for p in comment.get("properties") or []):
                return False
        self._call("POST", f"{API}/issue/{key}/comment",
                   json={"body": adf(text), "properties": [{"key": PROPERTY, "value": {"update": mark}}]})
        return True

    def _transition(self, key: str, name: str) -> bool:
        """Take the transition named `name`; False when the issue is already in a done status."""
        offered = self._call("GET", f"{API}/issue/{key}/transitions").json().get("transitions") or []
        match = next((t for t in offered if str(t.get("name", "")).casefold() == name.casefold()), None)
        if match is None:
            status = self._call("GET", f"{API}/issue/{key}", params={"fields": "status"}).json()
            if ((status.get("fields") or {}).get("status") or {}).get("statusCategory", {}).get("key") == "done":
                return False
            names = ", ".join(repr(t.get("name")) for t in offered) or "none"
            raise TrackerRefused(f"Jira offers no transition named {name!r} for {key} (it offers {names}); "
                                 "set the [tickets.jira] transition to one of them")
        self._call("POST", f"{API}/issue/{key}/transitions", json={"transition": {"id": match["id"]}})
        return True

    def _linked(self, key: str) -> set[str]:
        issue = self._call("GET", f"{API}/issue/{key}", params={"fields": "issuelinks"}).json()
        links = (issue.get("fields") or {}).get("issuelinks") or []
        return {str((link.get(side) or {}).get("key")) for link in links for side in ("inwardIssue", "outwardIssue")
                if link.get(side)}

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TimeoutException as err:
            raise TrackerError(f"Jira did not answer {method} {path} within {self.cfg.timeout_seconds:g} s") from err
        except httpx.HTTPError as err:
            raise TrackerError(f"Jira could not be reached ({method} {path}): {err}") from err
        return _checked(response, f"{method} {path}")


def _checked(response: httpx.Response, what: str) -> httpx.Response:
    status = response.status_code
    if status < 300:
        return response
    after = response.headers.get("Retry-After", "")
    if status == 429 or (status == 503 and after):
        seconds = int(after) if after.isdigit() else 60
        raise TrackerRateLimited(f"Jira is rate limiting ({status} on {what}); retrying after {seconds} s",
                                 timedelta(seconds=seconds))
    if status == 401:
        raise TrackerCredentialRefused(
            f"Jira refused the credential (401 on {what}): the API token in {settings.JIRA_API_TOKEN} is wrong, "
            f"expired or revoked, or {settings.JIRA_EMAIL} is not its account")
    if status == 403:
        raise TrackerCredentialRefused(f"Jira refused {what} (403): the account lacks a project permission "
                                       f"(docs/trackers.md lists them): {_errors(response)}")
    if status >= 500:
        raise TrackerError(f"Jira failed {what} ({status}): {_errors(response)}")
    raise TrackerRefused(f"Jira refused {what} ({status}): {_errors(response)}")


def _errors(response: httpx.Response) -> str:
    """Jira's ErrorCollection: `errorMessages` and `errors` {field: message}."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if not isinstance(body, dict):
        return str(body)[:300]
    parts = [*body.get("errorMessages", []), *(f"{k}: {v}" for k, v in (body.get("errors") or {}).items())]
    return "; ".join(map(str, parts))[:300] or response.text[:300]


def _description(request: TicketInput) -> str:
    d = request.detection
    lines = [d.summary or "-", f"Severity: {request.severity.value}", f"Signal: {d.kind.value}",
             f"Affected services: {', '.join(d.services)}", f"Model: {d.model or '-'}",
             f"Prompt: {d.prompt_name or '-'}{f' v{d.prompt_version}' if d.prompt_version is not None else ''}",
             f"Last deploy: {d.deploy_id or 'unknown'}", f"Detected at: {d.detected_at.isoformat()}",
             f"Source: {d.source}", f"Firebreak workflow: {request.workflow_id}",
             *(f"{k}: {v:g}" for k, v in sorted(d.metrics.items())), *d.links]
    return "\n".join(lines)
