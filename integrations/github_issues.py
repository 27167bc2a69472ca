"""The GitHub Issues ticket backend, through githubkit (the REST client generated from github/rest-api-description).

What it calls (docs.github.com/en/rest/issues):
- `GET /repos/{owner}/{repo}/issues?labels=<incident label>&state=all` before `POST /repos/{owner}/{repo}/issues`:
  one ticket per incident even when an attempt is lost after GitHub created it. Listing by label is read from the
  repository itself, not the search index, so a retry finds an issue created a second earlier.
- `GET/POST /repos/{owner}/{repo}/issues/{n}/comments`: each update carries an invisible marker
  (`<!-- firebreak:<hash of its key> -->`) so a repeated update is found and not posted twice.
- `PATCH /repos/{owner}/{repo}/issues/{n}`: severity labels follow the incident; `state=closed` on close.
An action item is an issue of its own whose body says `Part of #<n>` (GitHub links the two both ways).
Rate limits: githubkit's own retry is off; a 429 or a 403 with Retry-After (GitHub's secondary limit) becomes
TrackerRateLimited, and Temporal retries after that delay.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import httpx
from githubkit import GitHub
from githubkit.exception import RateLimitExceeded, RequestError, RequestFailed, RequestTimeout

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
from integrations.tickets_text import ticket_markdown
from playbook.config.trackers import GitHubTracker
from playbook.messages import ItemTicketClose, ItemTicketInput, TicketInput, TicketUpdate
from playbook.models import IncidentStatus, Ticket

MAX_PAGES = 50  # 5,000 comments: a bound on the duplicate check
log = logging.getLogger("firebreak.tickets")
F = TypeVar("F", bound=Callable[..., Any])


def _session(method: F) -> F:
    """One HTTP client for the whole method: githubkit otherwise builds a client (and a TLS context) per request."""

    @functools.wraps(method)
    def run(self: GitHubTicketBackend, *args: Any, **kwargs: Any) -> Any:
        with self.gh:
            return method(self, *args, **kwargs)
    return run  # type: ignore[return-value]


def _marker(key: str) -> str:
    return f"<!-- firebreak:{hashlib.sha256(key.encode()).hexdigest()[:32]} -->"


class GitHubTicketBackend:
    name = "github"

    def __init__(self, cfg: GitHubTracker, token: str, transport: httpx.BaseTransport | None = None) -> None:
        if not token:
            raise TrackerCredentialRefused(f"no GitHub token: set {settings.GITHUB_TOKEN} on the worker "
                                           "(docs/trackers.md)")
        self.cfg = cfg
        self.owner, self.repo = cfg.repository.split("/", 1)
        self.gh = GitHub(token, base_url=cfg.api_url + "/", timeout=cfg.timeout_seconds, auto_retry=False,
                         http_cache=False, transport=transport)

    # ------------------------------------------------------------------ the incident's ticket

    @_session
    def create(self, request: TicketInput) -> Ticket:
        label = incident_label(request.number)
        found = self._find(label)
        if found is None:
            labels = [*self.cfg.labels, self.cfg.severity_labels[request.severity.value], label]
            if self.cfg.kind_labels:
                labels.append(f"kind:{request.detection.kind.value}")
            found = self._call(lambda: self.gh.rest.issues.create(
                self.owner, self.repo, title=ticket_title(request), body=ticket_markdown(request),
                labels=list(dict.fromkeys(labels)))).parsed_data
            if label not in [lb if isinstance(lb, str) else lb.name for lb in found.labels]:
                log.warning("GitHub dropped the labels of %s#%s: the token's account cannot set labels there, so a "
                            "retry cannot find this ticket again (docs/trackers.md)", self.cfg.repository,
                            found.number)
        return self._ticket(found)

    @_session
    def update(self, request: TicketUpdate) -> bool:
        number = self._number(request.ticket)
        added = self._comment_once(number, request.key, request.text)
        issue = self._call(lambda: self.gh.rest.issues.get(self.owner, self.repo, number)).parsed_data
        names = [label if isinstance(label, str) else label.name for label in issue.labels]
        wanted = self.cfg.severity_labels[request.severity.value]
        labels = [n for n in names if n not in self.cfg.severity_labels.values() or n == wanted]
        if wanted not in labels:
            labels.append(wanted)
        close = request.status == IncidentStatus.CLOSED or (
            request.status == IncidentStatus.RESOLVED and self.cfg.close_on == "resolved")
        changes: dict[str, Any] = {}
        if labels != names:
            changes["labels"] = [n for n in labels if n]
        if close and issue.state == "open":
            changes |= {"state": "closed", "state_reason": "completed"}
        if changes:
            self._call(lambda: self.gh.rest.issues.update(self.owner, self.repo, number, **changes))
        return added

    # ------------------------------------------------------------------ action items

    @_session
    def open_item(self, request: ItemTicketInput) -> Ticket | None:
        label = item_label(request.workflow_id)
        found = self._find(label)
        if found is None:
            ref = request.incident_ticket
            incident = (f"Part of #{self._number(ref)}" if ref.backend == self.name and
                        ref.key.startswith(f"{self.cfg.repository}#") else f"Incident ticket: {ref.url}")
            found = self._call(lambda: self.gh.rest.issues.create(
                self.owner, self.repo, title=item_title(request), body=item_text(request, incident),
                labels=list(dict.fromkeys([*self.cfg.action_item_labels, label])))).parsed_data
        return self._ticket(found)

    @_session
    def close_item(self, request: ItemTicketClose) -> bool:
        number = self._number(request.ticket)
        self._comment_once(number, f"item-done/{request.ticket.key}", f"Done in Firebreak by {request.done_by}."
                           + (f" {request.note}" if request.note else ""))
        issue = self._call(lambda: self.gh.rest.issues.get(self.owner, self.repo, number)).parsed_data
        if issue.state != "open":
            return False
        self._call(lambda: self.gh.rest.issues.update(self.owner, self.repo, number, state="closed",
                                                       state_reason="completed"))
        return True

    @_session
    def item_closed_by(self, ticket: Ticket) -> str | None:
        issue = self._call(lambda: self.gh.rest.issues.get(self.owner, self.repo, self._number(ticket))).parsed_data
        if issue.state != "closed":
            return None
        return str(getattr(issue.closed_by, "login", None) or "github")  # closed_by: a user, None or unset

    # ------------------------------------------------------------------ calls

    def _ticket(self, issue: Any) -> Ticket:
        return Ticket(key=f"{self.cfg.repository}#{issue.number}", url=issue.html_url, backend=self.name)

    @staticmethod
    def _number(ticket: Ticket) -> int:
        return int(ticket.key.rsplit("#", 1)[1])

    def _find(self, label: str) -> Any | None:
        issues = self._call(lambda: self.gh.rest.issues.list_for_repo(
            self.owner, self.repo, labels=label, state="all", sort="created", direction="asc",
            per_page=1)).parsed_data
        return issues[0] if issues else None

    def _comment_once(self, number: int, key: str, text: str) -> bool:
        marker = _marker(key)
        for page in range(1, MAX_PAGES + 1):
            comments = self._call(lambda p=page: self.gh.rest.issues.list_comments(  # type: ignore[misc]
                self.owner, self.repo, number, per_page=100, page=p)).parsed_data
            if any(marker in (c.body or "") for c in comments):
                return False
            if len(comments) < 100:
                break
        self._call(lambda: self.gh.rest.issues.create_comment(self.owner, self.repo, number,
                                                              body=f"{text}\n\n{marker}"))
        return True

    def _call(self, request: Any) -> Any:
        try:
            return request()
        except RateLimitExceeded as err:
            seconds = max(1, int(err.retry_after.total_seconds()))
            raise TrackerRateLimited(f"GitHub is rate limiting ({err.response.status_code}); retrying after "
                                     f"{seconds} s", timedelta(seconds=seconds)) from err
        except RequestFailed as err:
            raise _refusal(err) from err
        except RequestTimeout as err:
            raise TrackerError(f"GitHub did not answer within {self.cfg.timeout_seconds:g} s") from err
        except RequestError as err:
            raise TrackerError(f"GitHub could not be reached: {err}") from err


def _refusal(err: RequestFailed) -> TrackerError:
    response = err.response
    status, what = response.status_code, f"{response.raw_request.method} {response.raw_request.url.path}"
    try:
        message = str(response.raw_response.json().get("message", ""))
    except ValueError:
        message = response.raw_response.text[:300]
    if status == 401:
        return TrackerCredentialRefused(f"GitHub refused the token (401 on {what}): the token in "
                                        f"{settings.GITHUB_TOKEN} is wrong, expired or revoked: {message}")
    if status in (403, 404):
        return TrackerCredentialRefused(
            f"GitHub refused {what} ({status}): the token cannot reach the repository or lacks Issues "
            f"read/write (docs/trackers.md): {message}")
    if status >= 500:
        return TrackerError(f"GitHub failed {what} ({status}): {message}")
    return TrackerRefused(f"GitHub refused {what} ({status}): {message}")
