"""The directory store: a folder of per-incident files, written atomically and idempotently (the embedded default).

Layout: <root>/<incident number>/{ticket.json, ticket.md, briefs/, comms/, evidence/, retrospective.md ...}
plus <root>/_numbers.jsonl, the incident-number ledger (integrations/number_ledger.py). One host only: the locks
are `fcntl` locks on local files.
The same interface in PostgreSQL, for many hosts, is integrations/pgstore.py (integrations/store.py picks one).
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from integrations.number_ledger import LEDGER, OLD_LEDGER, NumberLedger


class ArtefactStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self._numbers = NumberLedger(self.root)

    def path(self, *parts: str) -> Path:
        """The local file for a relative path (this implementation only; callers use the Store interface)."""
        target = self.root.joinpath(*parts).resolve()
        if self.root not in target.parents and target != self.root:
            raise ValueError(f"artefact path {parts!r} escapes the store")
        return target

    def location(self, relpath: str = "") -> str:
        return str(self.path(relpath)) if relpath else str(self.root)

    def write(self, relpath: str, content: str | bytes) -> str:
        """Write (or replace) a file so readers never see half of it."""
        target = self.path(relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return str(target)

    def write_once(self, relpath: str, content: str | bytes) -> tuple[str, bool]:
        """Write only if absent; (location, created). A retry finds the first attempt's file and keeps it."""
        target = self.path(relpath)
        with self._locked(target.parent / ".lock"):
            if target.exists():
                return str(target), False
            return self.write(relpath, content), True

    def exists(self, relpath: str) -> bool:
        return self.path(relpath).is_file()

    def read_bytes(self, relpath: str) -> bytes:
        return self.path(relpath).read_bytes()

    def read_json(self, relpath: str) -> Any:
        return json.loads(self.read_bytes(relpath))

    def find_once(self, relpath: str, key: str) -> dict[str, Any] | None:
        """The JSON line with this key in an `append_once` log, if there is one."""
        target = self.path(relpath)
        if not target.exists():
            return None
        for line in target.read_text(encoding="utf-8").splitlines():
            if line.strip() and (record := json.loads(line)).get("key") == key:
                return dict(record)
        return None

    def append_once(self, relpath: str, key: str, record: dict[str, Any]) -> bool:
        """Append a JSON line unless one with this key is there already; True when appended."""
        target = self.path(relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        with self._locked(target.parent / ".lock"):
            if self.find_once(relpath, key) is not None:
                return False
            with target.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"key": key, **record}, default=str) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            return True

    def list_files(self, prefix: str = "") -> list[str]:
        """Every file under `prefix`, relative to the root; lock files, temporary files and the ledger left out."""
        base = self.path(prefix) if prefix.strip("/") else self.root
        if not base.is_dir():
            return []
        found = []
        for path in base.rglob("*"):
            rel = path.relative_to(self.root)
            hidden = any(part.startswith(".") for part in rel.parts) or rel.as_posix() in (LEDGER, OLD_LEDGER)
            if path.is_file() and not hidden:
                found.append(rel.as_posix())
        return sorted(found)

    def allocate_number(self, chain_id: str, prefix: str, year: int) -> str:
        """INC-<year>-<seq>, the same number every time for the same incident chain."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self._locked(self.root / ".numbers.lock"):
            return self._numbers.allocate(chain_id, prefix, year)

    def numbers(self) -> dict[str, str]:
        if not self.root.is_dir():
            return {}
        with self._locked(self.root / ".numbers.lock"):
            return self._numbers.numbers()

    @contextmanager
    def local_folder(self, prefix: str) -> Iterator[Path]:
        """The folder itself: files written in it are in the store already."""
        folder = self.path(prefix)
        folder.mkdir(parents=True, exist_ok=True)
        yield folder

    @contextmanager
    def _locked(self, lockfile: Path) -> Iterator[None]:
        lockfile.parent.mkdir(parents=True, exist_ok=True)
        with lockfile.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


DirectoryStore = ArtefactStore
