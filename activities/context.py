"""What every activity needs from the worker: the artefact store and the playbook file.

Built once when the worker starts (the playbook is validated then) and handed to each activity class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import settings
from integrations import audit
from integrations.store import Store, open_store
from playbook.config import Playbook, parse_playbook, read_playbook


class _LastParse:
    """The playbook file's last parse, with the sha256 of the text it came from (one tuple, replaced whole: two
    activity threads at most parse the same new text twice)."""

    def __init__(self) -> None:
        self.parsed: tuple[str, Playbook] | None = None


@dataclass(frozen=True)
class ActivityContext:
    store: Store  # the directory under $FIREBREAK_HOME or PostgreSQL (integrations/store.py)
    playbook_path: Path
    _last: _LastParse = field(default_factory=_LastParse, compare=False, repr=False)

    @classmethod
    def from_environment(cls, playbook_path: str | Path | None = None) -> ActivityContext:
        return cls(store=open_store(),
                   playbook_path=Path(playbook_path).resolve() if playbook_path else settings.default_playbook_path())

    def playbook(self) -> tuple[Playbook, str]:
        """The playbook as its file says now and the sha256 of its text: the file is read every time (an edit
        applies to the next incident that opens), parsed again only when its text changed (a parse is 0.23 ms of
        CPU with a short playbook, 1.7 ms with the repository's). Shared between activity threads: callers only
        read it, and change copies (`model_copy(update=...)`, as drills do). PlaybookError when the file cannot be
        read or used."""
        text, sha = read_playbook(self.playbook_path)
        last = self._last.parsed
        if last is not None and last[0] == sha:
            return last[1], sha
        playbook = parse_playbook(text, str(self.playbook_path))
        self._last.parsed = (sha, playbook)
        return playbook, sha

    def note_playbook(self, by: str) -> None:
        """The playbook this process starts with, in the audit log when it changed since the last one recorded."""
        sha = self.playbook()[1]
        audit.safely(lambda: audit.playbook_seen(self.store, str(self.playbook_path), sha, by), "playbook seen")
