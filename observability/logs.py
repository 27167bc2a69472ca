"""Logging for every Firebreak process: text by default, JSON lines with FIREBREAK_LOG_FORMAT=json.

Each record carries the incident (workflow id) where there is one: from the SDK's workflow and activity loggers'
extras, from an explicit `extra={"incident": ...}`, or — for any logger called inside an activity, such as httpx's
request lines — from the running activity's info.

Logs leave Firebreak (collectors, terminals, support tickets), so both formats pass every line through
`playbook.redact.outbound`: a message, an extra or a traceback quoting an alert's e-mail address or API key
comes out with `[REDACTED:EMAIL]` / `[REDACTED:SECRET]` in its place, whatever logger wrote it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from temporalio import activity

from playbook.detectors import detectors
from playbook.redact import outbound
from settings import LOG_FORMAT as LOG_FORMAT_ENV

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "incident", "temporal_workflow",
                                                       "temporal_activity", "taskName", "color_message"}


def json_logs(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get(LOG_FORMAT_ENV, "text").strip().lower() == "json"


class IncidentFilter(logging.Filter):
    """Set `record.incident` (the workflow id) and, inside Temporal code, the workflow or activity type."""

    def filter(self, record: logging.LogRecord) -> bool:
        wf: dict[str, Any] = getattr(record, "temporal_workflow", None) or {}
        act: dict[str, Any] = getattr(record, "temporal_activity", None) or {}
        incident = getattr(record, "incident", None) or wf.get("workflow_id") or act.get("workflow_id")
        if not act and activity.in_activity():
            info = activity.info()
            act = {"workflow_id": info.workflow_id, "activity_type": info.activity_type, "attempt": info.attempt}
            incident = incident or info.workflow_id
        record.incident = incident
        record.temporal_context = {k: v for k, v in (("workflow_type", wf.get("workflow_type")),
                                                     ("run_id", wf.get("run_id") or act.get("workflow_run_id")),
                                                     ("activity_type", act.get("activity_type")),
                                                     ("attempt", act.get("attempt"))) if v}
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, message, incident, Temporal context, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        incident = getattr(record, "incident", None)
        if incident:
            entry["incident"] = incident
        entry.update(getattr(record, "temporal_context", None) or {})
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key != "temporal_context" and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | type(None)) else repr(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(outbound(entry), default=str)


class RedactingFormatter(logging.Formatter):
    """The text format, redacted: the whole formatted line, traceback included."""

    def format(self, record: logging.LogRecord) -> str:
        return outbound(super().format(record))


def configure_logging(level: int = logging.INFO, environ: Mapping[str, str] | None = None) -> None:
    """Replace the root handlers with one stderr handler in the configured format."""
    # The formatters redact with the kept detectors, so load them first, before a redacting handler exists: their
    # imports log, and a handler waiting for them while they wait for it would deadlock. Once per process, about
    # 1 s of CPU and 57-78 MB (playbook/detectors.py); a workflow task's log line never waits for the load.
    detectors()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(IncidentFilter())
    handler.setFormatter(JsonFormatter() if json_logs(environ) else RedactingFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
