"""What the board reads from the artefact store: briefs and their edits, the evidence pack, retrospective records.

The one place the board touches artefacts, and only through ArtefactStore's methods (`path`, `read_json`), so
putting another store behind that interface changes this module alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from integrations.artefacts import ArtefactStore
from integrations.readback import read_each, retrospective_record

_STEM = re.compile(r"^(\d{4})(?:-([\w.-]+))?-(draft|brief)\.md$|^(\d{4})(?:-([\w.-]+))?-edit\.diff$")
MAX_FILE_BYTES = 5 * 1024 * 1024


@dataclass
class BriefFiles:
    """One brief of one audience: the draft the SME saw, the text as sent, and the SME's edit as a diff."""

    seq: int
    audience: str
    draft: str | None = None
    sent: str | None = None
    diff: str | None = None


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[:200_000]
    except OSError:
        return None


def _files(store: ArtefactStore, *parts: str) -> list[Path]:
    try:
        folder = store.path(*parts)
    except ValueError:
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) \
        if folder.is_dir() else []


def briefs(store: ArtefactStore, number: str) -> list[BriefFiles]:
    """Every brief drafted for the incident (briefs/) and, once sent, as sent with the edit (comms/)."""
    found: dict[tuple[int, str], BriefFiles] = {}
    for path in [*_files(store, number, "briefs"), *_files(store, number, "comms")]:
        m = _STEM.match(path.name)
        if m is None:
            continue
        seq, audience = int(m.group(1) or m.group(4)), m.group(2) or m.group(5) or "responders"
        brief = found.setdefault((seq, audience), BriefFiles(seq, audience))
        kind = m.group(3) or "diff"
        if kind == "draft" and brief.draft is None:
            brief.draft = _text(path)
        elif kind == "brief":
            brief.sent = _text(path)
        elif kind == "diff":
            brief.diff = _text(path)
    return [found[k] for k in sorted(found, reverse=True)]


def draft_for(store: ArtefactStore, number: str, request_id: str) -> str | None:
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


def evidence(store: ArtefactStore, number: str) -> dict[str, Any] | None:
    """The evidence pack's manifest (items with their sha256, source and path), or None."""
    try:
        found = store.read_json(f"{number}/evidence/manifest.json")
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def incident_file(store: ArtefactStore, number: str, relpath: str) -> bytes | None:
    """A file of this incident's artefacts (an evidence item, a brief), or None when it is not one."""
    try:
        path = store.path(number, relpath)
        if store.path(number) not in path.parents or not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            return None
        return path.read_bytes()
    except (OSError, ValueError):
        return None


def retrospective_records(store: ArtefactStore) -> tuple[list[dict[str, Any]], list[str]]:
    """The records `firebreak report` reads (cli/report.py), and one line per file that could not be read."""
    return read_each(sorted(store.path().glob("*/retrospective.json")), retrospective_record)
