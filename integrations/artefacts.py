"""The artefact store: a directory of per-incident files, written atomically and idempotently.

Layout: <root>/<incident number>/{ticket.json, ticket.md, briefs/, comms/, evidence/, retrospective.md ...}
plus <root>/_numbers.json, the incident-number ledger.
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


class ArtefactStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def path(self, *parts: str) -> Path:
        target = self.root.joinpath(*parts).resolve()
        if self.root not in target.parents and target != self.root:
            raise ValueError(f"artefact path {parts!r} escapes the store")
        return target

    def write(self, relpath: str, content: str | bytes) -> Path:
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
        return target

    def write_once(self, relpath: str, content: str | bytes) -> tuple[Path, bool]:
        """Write only if absent; (path, created). A retry finds the first attempt's file and keeps it."""
        target = self.path(relpath)
        with self._locked(target.parent / ".lock"):
            if target.exists():
                return target, False
            return self.write(relpath, content), True

    def read_json(self, relpath: str) -> Any:
        return json.loads(self.path(relpath).read_text(encoding="utf-8"))

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

    def allocate_number(self, chain_id: str, prefix: str, year: int) -> str:
        """INC-<year>-<seq>, the same number every time for the same incident chain."""
        ledger = self.path("_numbers.json")
        self.root.mkdir(parents=True, exist_ok=True)
        with self._locked(self.root / ".numbers.lock"):
            data: dict[str, Any] = json.loads(ledger.read_text()) if ledger.exists() else {"by_chain": {}, "next": {}}
            if chain_id in data["by_chain"]:
                return str(data["by_chain"][chain_id])
            seq = int(data["next"].get(str(year), 1))
            number = f"{prefix}-{year}-{seq:04d}"
            data["by_chain"][chain_id] = number
            data["next"][str(year)] = seq + 1
            self.write("_numbers.json", json.dumps(data, indent=1, sort_keys=True))
            return number

    @contextmanager
    def _locked(self, lockfile: Path) -> Iterator[None]:
        lockfile.parent.mkdir(parents=True, exist_ok=True)
        with lockfile.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
