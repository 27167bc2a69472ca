"""The deploy log: prompt versions Langfuse announced (prompt-version webhooks received by the intake), kept in
the store as one append-once log per prompt, `_deploys/<prompt>.jsonl` (a file in the directory store, rows of
`log_lines` in PostgreSQL, so every intake and worker sees the same log).

Each line is keyed by the webhook delivery's `id`, so a redelivered webhook is recorded once. The prompt's text
is not kept (only its sha256), nor the acting user's e-mail: the log says what changed, when and by whom.
The investigate step reads it back (`kind = "deploys"` evidence) for the prompt versions in the blast window, and
opening an incident reads the last deploy of its prompt before detection (`last_deploy`) when no alert named one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from integrations.store import Store, iter_lines

DEPLOY_DIR = "_deploys"
MAX_LINES_READ = 100_000  # per prompt file; a log far past this should be rotated
DEPLOY_LABEL = "production"  # a deploy is a prompt version gaining this label (what the rollback actions move)


def log_path(prompt_name: str) -> str:
    """The file for one prompt; names with '/' (folders) or other characters get a readable, unique file name."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", prompt_name).strip(".") or "_"
    if safe != prompt_name:
        safe = f"{safe[:80]}-{hashlib.sha256(prompt_name.encode()).hexdigest()[:8]}"
    return f"{DEPLOY_DIR}/{safe}.jsonl"


def record_deploy(store: Store, delivery_id: str, entry: dict[str, Any]) -> bool:
    """Append one deploy event (entry['prompt'] names the prompt) unless this delivery is there; True if new."""
    return store.append_once(log_path(str(entry["prompt"])), delivery_id, entry)


def _parse_time(text: Any) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def read_deploys(store: Store, since: datetime, until: datetime,
                 prompt_names: list[str] | None = None, limit: int = 20) -> tuple[list[dict[str, Any]], bool]:
    """Deploy events whose time falls in [since, until], newest first, at most `limit`; (events, truncated)."""
    if prompt_names:
        files = [log_path(name) for name in prompt_names]
    else:
        files = [path for path in store.list_files(DEPLOY_DIR) if path.endswith(".jsonl")]
    found = [(when, entry) for path in files for when, _, entry in _timed_lines(store, path) if since <= when <= until]
    found.sort(key=lambda pair: pair[0], reverse=True)
    return [entry for _, entry in found[:limit]], len(found) > limit


def _entries(store: Store, prompt_name: str) -> list[tuple[datetime, int, dict[str, Any]]]:
    """One prompt's logged events as (time, line number, entry), oldest first; lines without a time are skipped."""
    return sorted(_timed_lines(store, log_path(prompt_name)), key=lambda item: (item[0], item[1]))


def _timed_lines(store: Store, path: str) -> Iterator[tuple[datetime, int, dict[str, Any]]]:
    """A log's entries as (time, line number, entry), at most MAX_LINES_READ lines; lines without a time skipped."""
    for n, entry in iter_lines(store, path, MAX_LINES_READ):
        when = _parse_time(entry.get("at"))
        if when is not None:
            yield when, n, entry


def last_deploy(store: Store, prompt_name: str, before: datetime,
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
