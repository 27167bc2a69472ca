"""[tickets.jira] and [tickets.github]: where the incident's ticket and its action items live when the team tracks
work in Jira Cloud or GitHub Issues. The credentials are never here: settings.py names the environment variables.

Custom fields and texts take `${name}` template variables (playbook/config/templates.py), checked at load.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, field_validator

from playbook.config.base import _Strict
from playbook.config.templates import TEMPLATE_VARIABLES, template_variables

SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")


def _every_severity(value: dict[str, str]) -> dict[str, str]:
    missing = [s for s in SEVERITIES if s not in value]
    unknown = [s for s in value if s not in SEVERITIES]
    if missing or unknown:
        raise ValueError(f"name every severity once ({', '.join(SEVERITIES)}); "
                         f"missing {missing or 'none'}, unknown {unknown or 'none'}")
    return value


class JiraTracker(_Strict):
    """Jira Cloud REST API v3 (basic auth: FIREBREAK_JIRA_EMAIL + FIREBREAK_JIRA_API_TOKEN)."""

    url: str = Field(description="the site, e.g. https://your-team.atlassian.net")
    project: str = Field(description="the project key incidents are filed in, e.g. OPS")
    issue_type: str = "Task"
    action_item_issue_type: str = "Task"
    priorities: dict[str, str] = Field(default_factory=lambda: {
        "SEV1": "Highest", "SEV2": "High", "SEV3": "Medium", "SEV4": "Low"})
    labels: list[str] = Field(default_factory=lambda: ["firebreak"])
    custom_fields: dict[str, Any] = Field(default_factory=dict, description="field id -> value; strings may hold "
                                          "${name} template variables")
    resolve_transition: str = Field(default="Done", description="the transition taken when the incident resolves; "
                                    "empty: none")
    close_transition: str = Field(default="", description="the transition taken when the incident closes; empty: "
                                  "none")
    item_done_transition: str = "Done"
    link_type: str = "Relates"
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"https?://", value):
            raise ValueError("give the site's address, e.g. https://your-team.atlassian.net")
        return value.rstrip("/")

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]{0,9}", value):
            raise ValueError("a Jira project key: capital letters, digits or _, starting with a letter, e.g. OPS")
        return value

    @field_validator("priorities")
    @classmethod
    def _priorities(cls, value: dict[str, str]) -> dict[str, str]:
        return _every_severity(value)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: list[str]) -> list[str]:
        bad = [label for label in value if not label or re.search(r"\s", label)]
        if bad:
            raise ValueError(f"Jira labels cannot be empty or hold spaces: {bad}")
        return value

    @field_validator("custom_fields")
    @classmethod
    def _custom_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        for field, text in value.items():
            unknown = template_variables(text) - TEMPLATE_VARIABLES if isinstance(text, str) else set()
            if unknown:
                raise ValueError(f"{field}: unknown template variable(s) {sorted(unknown)}")
        return value


class GitHubTracker(_Strict):
    """GitHub Issues REST API (a token in FIREBREAK_GITHUB_TOKEN)."""

    repository: str = Field(description="owner/name")
    api_url: str = "https://api.github.com"
    labels: list[str] = Field(default_factory=lambda: ["firebreak", "incident"])
    severity_labels: dict[str, str] = Field(default_factory=lambda: {s: f"severity:{s.lower()}" for s in SEVERITIES})
    kind_labels: bool = Field(default=True, description="label each ticket kind:<detection kind>")
    action_item_labels: list[str] = Field(default_factory=lambda: ["firebreak", "action-item"])
    close_on: str = Field(default="closed", pattern="^(resolved|closed)$")
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+", value):
            raise ValueError("give the repository as owner/name, e.g. acme/incidents")
        return value

    @field_validator("api_url")
    @classmethod
    def _api(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("severity_labels")
    @classmethod
    def _severity_labels(cls, value: dict[str, str]) -> dict[str, str]:
        return _every_severity(value)
