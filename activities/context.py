"""What every activity needs from the worker: the artefact store and the playbook file.

Built once when the worker starts (the playbook is validated then) and handed to each activity class.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from integrations.artefacts import ArtefactStore


def firebreak_home() -> Path:
    return Path(os.environ.get("FIREBREAK_HOME", ".firebreak")).resolve()


def default_playbook_path() -> Path:
    return Path(os.environ.get("FIREBREAK_PLAYBOOK", "playbook.toml")).resolve()


@dataclass(frozen=True)
class ActivityContext:
    store: ArtefactStore
    playbook_path: Path

    @classmethod
    def from_environment(cls, playbook_path: str | Path | None = None) -> ActivityContext:
        home = firebreak_home()
        return cls(store=ArtefactStore(home / "artefacts"),
                   playbook_path=Path(playbook_path).resolve() if playbook_path else default_playbook_path())
