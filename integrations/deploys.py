"""The deploy log: prompt versions Langfuse announced (prompt-version webhooks received by the intake), kept in
the artefact store as one append-only JSON-lines file per prompt, `_deploys/<prompt>.jsonl`.

Each line is keyed by the webhook delivery's `id`, so a redelivered webhook is recorded once. The prompt's text
is not kept (only its sha256), nor the acting user's e-mail: the log says what changed, when and by whom.
Service deploys (PagerDuty change events, a CI deployment webhook) go beside them, one file per service in
`_deploys/_services/<service>.jsonl` (integrations/service_deploys.py).
The investigate step reads it back (`kind = "deploys"` evidence) for the prompt versions in the blast window, and
opening an incident reads the last deploy of its prompt before detection (`last_deploy`) when no alert named one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from integrations.artefacts import ArtefactStore

DEPLOY_DIR = "_deploys"
MAX_LINES_READ = 100_000  # per prompt file; a log far past this should be rotated
DEPLOY_LABEL = "production"  # a deploy is a prompt version gaining this label (what the rollback actions move)


def _file_name(name: str) -> str:
    """Names with '/' (folders) or other characters get a readable, unique file name."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip(".") or "_"
    if safe != name:
        safe = f"{safe[:80]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return safe


def log_path(prompt_name: str) -> str:
    """The file for one prompt."""
    return f"{DEPLOY_DIR}/{_file_name(prompt_name)}.jsonl"


def record_deploy(store: ArtefactStore, delivery_id: str, entry: dict[str, Any]) -> bool:
    """Append one deploy event (entry['prompt'] names the prompt) unless this delivery is there; True if new."""
    return store.append_once(log_path(str(entry["prompt"])), delivery_id, entry)


def _parse_time(text: Any) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def read_deploys(store: ArtefactStore, since: datetime, until: datetime,
                 prompt_names: list[str] | None = None, limit: int = 20) -> tuple[list[dict[str, Any]], bool]:
    """Deploy events whose time falls in [since, until], newest first, at most `limit`; (events, truncated)."""
    folder = store.path(DEPLOY_DIR)
    if prompt_names:
        files = [store.path(log_path(name)) for name in prompt_names]
    else:
        files = sorted(folder.glob("*.jsonl")) if folder.exists() else []
    found = [(when, entry) for path in files for when, _, entry in _timed_lines(path) if since <= when <= until]
    found.sort(key=lambda pair: pair[0], reverse=True)
    return [entry for _, entry in found[:limit]], len(found) > limit


def _entries(store: ArtefactStore, prompt_name: str) -> list[tuple[datetime, int, dict[str, Any]]]:
    """One prompt's logged events as (time, line number, entry), oldest first; lines without a time are skipped."""
    return sorted(_timed_lines(store.path(log_path(prompt_name))), key=lambda item: (item[0], item[1]))


def _timed_lines(path: Path) -> Iterator[tuple[datetime, int, dict[str, Any]]]:
    """A log's entries as (time, line number, entry), at most MAX_LINES_READ lines; lines without a time skipped."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if n >= MAX_LINES_READ:
                break
            if not line.strip():
                continue
            entry = json.loads(line)
            when = _parse_time(entry.get("at"))
            if when is not None:
                yield when, n, entry


def last_deploy(store: ArtefactStore, prompt_name: str, before: datetime,
                label: str = DEPLOY_LABEL) -> dict[str, Any] | None:
    """The latest deploy of `prompt_name` at or before `before`: an event by which a version *gained* `label`.

    Langfuse sends "updated" for tag changes too, and for every version a label left, so an event counts only
    when its version did not hold the label before it (a version first seen holding it counts).
    """
    labelled: dict[Any, bool] = {}
    latest: dict[str, Any] | None = None
    for when, _, entry in _entries(store, prompt_name):
        if when > before:
            break
        version = entry.get("version")
        holds = label in (entry.get("labels") or []) and entry.get("action") != "deleted"
        if holds and not labelled.get(version, False):
            latest = entry
            labelled = {v: False for v in labelled}  # the label moves: no other version holds it now
        labelled[version] = holds
    return latest


def deploy_text(entry: dict[str, Any], label: str = DEPLOY_LABEL) -> str:
    """One line for tickets, briefs and `firebreak show`: "support-answer v13 to production at ... UTC by Carol"."""
    when = _parse_time(entry.get("at"))
    at = f" at {when.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if when else ""
    by = f" by {entry['by']}" if entry.get("by") else ""
    return f"{entry.get('prompt')} v{entry.get('version')} to {label}{at}{by} (Langfuse deploy log)"
