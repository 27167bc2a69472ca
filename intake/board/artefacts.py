"""What the board reads from the store: briefs and their edits, the evidence pack, retrospective records.

The one place the board touches artefacts, and only through the Store interface (integrations/store.py:
`list_files`, `read_bytes`, `read_json`), so it reads the directory store and PostgreSQL alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from integrations.readback import read_each, retrospective_record
from integrations.store import Store

_STEM = re.compile(r"^(\d{4})(?:-([\w.-]+))?-(draft|brief)\.md$|^(\d{4})(?:-([\w.-]+))?-edit\.diff$")
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_TEXT = 200_000


@dataclass
class BriefFiles:
    """One brief of one audience: the draft the SME saw, the text as sent, and the SME's edit as a diff."""

    seq: int
    audience: str
    draft: str | None = None
    sent: str | None = None
    diff: str | None = None


def _text(store: Store, relpath: str) -> str | None:
    try:
        return store.read_bytes(relpath)[:MAX_TEXT].decode("utf-8", "replace")
    except (OSError, ValueError):
        return None


def _files(store: Store, folder: str) -> list[str]:
    """The files directly in `folder` (relative paths)."""
    try:
        return [p for p in store.list_files(folder + "/") if "/" not in p[len(folder) + 1:]]
    except (OSError, ValueError):
        return []


def briefs(store: Store, number: str) -> list[BriefFiles]:
    """Every brief drafted for the incident (briefs/) and, once sent, as sent with the edit (comms/)."""
    found: dict[tuple[int, str], BriefFiles] = {}
    for path in [*_files(store, f"{number}/briefs"), *_files(store, f"{number}/comms")]:
        m = _STEM.match(path.rsplit("/", 1)[-1])
        if m is None:
            continue
        seq, audience = int(m.group(1) or m.group(4)), m.group(2) or m.group(5) or "responders"
        brief = found.setdefault((seq, audience), BriefFiles(seq, audience))
        kind = m.group(3) or "diff"
        if kind == "draft" and brief.draft is None:
            brief.draft = _text(store, path)
        elif kind == "brief":
            brief.sent = _text(store, path)
        elif kind == "diff":
            brief.diff = _text(store, path)
    return [found[k] for k in sorted(found, reverse=True)]


def draft_for(store: Store, number: str, request_id: str) -> str | None:
    """The draft waiting behind an approval request (brief-3, brief-3-leadership, brief-final...): the text the
    edit-and-approve form starts from."""
    m = re.match(r"^brief-(\d+|final)(?:-([\w.-]+))?$", request_id)
    if m is None:
        return None
    audience = m.group(2) or "responders"
    mine = [b for b in briefs(store, number) if b.audience == audience and b.draft is not None]
    if m.group(1) != "final":
        mine = [b for b in mine if b.seq == int(m.group(1))]
    return mine[0].draft if mine else None


def evidence(store: Store, number: str) -> dict[str, Any] | None:
    """The evidence pack's manifest (items with their sha256, source and path), or None."""
    try:
        found = store.read_json(f"{number}/evidence/manifest.json")
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def incident_file(store: Store, number: str, relpath: str) -> bytes | None:
    """A file of this incident's artefacts (an evidence item, a brief, a local ticket), or None when it is not one."""
    parts = relpath.split("/")
    if not number or "/" in number or number.startswith(".") or any(p in ("", ".", "..") for p in parts):
        return None
    try:
        data = store.read_bytes(f"{number}/{relpath}")
    except (OSError, ValueError):
        return None
    return data if len(data) <= MAX_FILE_BYTES else None


def retrospective_records(store: Store) -> tuple[list[dict[str, Any]], list[str]]:
    """The records `firebreak report` reads (cli/report.py: the same paths, the same parse), and one line per file
    that could not be read."""
    paths = [p for p in store.list_files() if p.count("/") == 1 and p.endswith("/retrospective.json")]
    return read_each(store, paths, retrospective_record)
