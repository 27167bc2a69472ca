"""Firebreak's search attributes: one definition for the workflow, the CLI, the intake and the dev server.

Within the SQLite visibility limits (Keyword 10, Int 3, Datetime 3). They never carry PII: only ids,
enums, service names and counts.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey

INCIDENT_NUMBER = SearchAttributeKey.for_keyword("IncidentNumber")
INCIDENT_SEVERITY = SearchAttributeKey.for_keyword("IncidentSeverity")
INCIDENT_STATUS = SearchAttributeKey.for_keyword("IncidentStatus")
INCIDENT_STEP = SearchAttributeKey.for_keyword("IncidentStep")
AFFECTED_SERVICE = SearchAttributeKey.for_keyword("AffectedService")
SIGNAL_KIND = SearchAttributeKey.for_keyword("SignalKind")
ALERT_COUNT = SearchAttributeKey.for_int("AlertCount")
DETECTED_AT = SearchAttributeKey.for_datetime("DetectedAt")
# Approval requests waiting in the incident (0 when none), so the pending lists read only incidents with some.
PENDING_APPROVALS = SearchAttributeKey.for_int("PendingApprovals")

ALL: list[SearchAttributeKey[Any]] = [
    INCIDENT_NUMBER, INCIDENT_SEVERITY, INCIDENT_STATUS, INCIDENT_STEP, AFFECTED_SERVICE, SIGNAL_KIND, ALERT_COUNT,
    DETECTED_AT, PENDING_APPROVALS]

_CLI_TYPES = {1: "Text", 2: "Keyword", 3: "Int", 4: "Double", 5: "Bool", 6: "Datetime", 7: "KeywordList"}


def cli_type(key: SearchAttributeKey[Any]) -> str:
    return _CLI_TYPES[int(key.indexed_value_type)]


def dev_server_flags() -> list[str]:
    """`--search-attribute Name=Type` pairs for `temporal server start-dev`."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={cli_type(key)}"]
    return flags
