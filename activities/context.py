"""What every activity needs from the worker: the artefact store and the playbook file.

Built once when the worker starts (the playbook is validated then) and handed to each activity class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import settings
from integrations.store import Store, open_store


@dataclass(frozen=True)
class ActivityContext:
    store: Store  # the directory under $FIREBREAK_HOME or PostgreSQL (integrations/store.py)
    playbook_path: Path

    @classmethod
    def from_environment(cls, playbook_path: str | Path | None = None) -> ActivityContext:
        return cls(store=open_store(),
                   playbook_path=Path(playbook_path).resolve() if playbook_path else settings.default_playbook_path())
