"""What every activity needs from the worker: the artefact store and the playbook file.

Built once when the worker starts (the playbook is validated then) and handed to each activity class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import settings
from integrations import audit
from integrations.store import Store, open_store
from playbook.config import load_playbook


@dataclass(frozen=True)
class ActivityContext:
    store: Store  # the directory under $FIREBREAK_HOME or PostgreSQL (integrations/store.py)
    playbook_path: Path

    @classmethod
    def from_environment(cls, playbook_path: str | Path | None = None) -> ActivityContext:
        return cls(store=open_store(),
                   playbook_path=Path(playbook_path).resolve() if playbook_path else settings.default_playbook_path())

    def note_playbook(self, by: str) -> None:
        """The playbook this process starts with, in the audit log when it changed since the last one recorded."""
        sha = load_playbook(self.playbook_path)[1]
        audit.safely(lambda: audit.playbook_seen(self.store, str(self.playbook_path), sha, by), "playbook seen")
