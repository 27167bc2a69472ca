"""`firebreak backup OUT` / `firebreak restore IN`: the embedded default's state, taken while it runs.

What a home holds: the Temporal dev server's SQLite file (every incident's history, its pending approvals and
timers) and Firebreak's own files (the artefact store, personal tokens). The SQLite file is copied with SQLite's
online backup API, so the copy is one consistent snapshot even while the dev server writes to it; the files are
copied after it. That order matters: anything the snapshot's histories refer to was written before the snapshot,
so it is in the copy; files written after it belong to steps the restored server will run again, and every write
to the store is idempotent (a retried step finds or rewrites its own file).

A backup is a folder: `temporal.db`, `home/` (the other files) and `backup.json` (when, from where, and every
file's sha256, checked again by restore). With FIREBREAK_DATABASE_URL the store is in PostgreSQL and not in the
backup: that is pg_dump's job (docs/store.md).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from embedded.supervise import LOCK_NAME, SupervisorError, claim_home

DB_NAME = "temporal.db"
MANIFEST = "backup.json"
FILES = "home"
FORMAT = 1
# Not state: the dev server's own files beside its database (SQLite's journal, WAL and shared memory, which the
# online backup already folded in), its log, and `up`'s lock.
SKIP = {f"{DB_NAME}-journal", f"{DB_NAME}-wal", f"{DB_NAME}-shm", "temporal.log", LOCK_NAME}
BUSY_SECONDS = 30.0  # how long to wait for the dev server's write lock before giving up


class BackupError(Exception):
    """The backup or restore cannot be made; the message says why and what to do."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _snapshot(source: Path, target: Path) -> None:
    """One consistent copy of a live SQLite database (the online backup API, in one step), checked."""
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=BUSY_SECONDS)
        try:
            dst = sqlite3.connect(target)
            try:
                src.backup(dst)  # pages=-1: the whole database under one read lock, so never half a write
                ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as err:
        raise BackupError(f"cannot copy {source}: {err}") from err
    if ok != "ok":
        raise BackupError(f"the copy of {source} fails SQLite's integrity check: {ok}")


def _home_files(home: Path) -> list[Path]:
    return sorted(p for p in home.rglob("*") if p.is_file() and p.relative_to(home).parts[0] not in SKIP
                  and p.name != DB_NAME)


def backup(home: Path, out: Path, database_url: str = "") -> dict[str, Any]:
    """Write a backup of `home` to the new folder `out`; its manifest."""
    db = home / DB_NAME
    if not db.is_file():
        raise BackupError(f"no Temporal dev server database at {db}: is this the home `firebreak up` uses "
                          f"(FIREBREAK_HOME)? With an external Temporal server, back up that server instead.")
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} exists and is not empty; pick a new folder")
    out.mkdir(parents=True, exist_ok=True)
    _snapshot(db, out / DB_NAME)  # first: see the module docstring
    files = []
    for path in _home_files(home):
        rel = path.relative_to(home)
        target = out / FILES / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)  # the store replaces files by rename, so each copy is an old or a new whole
        files.append({"path": str(rel), "sha256": _sha256(target), "size": target.stat().st_size})
    manifest = {
        "format": FORMAT, "taken_at": datetime.now(UTC).isoformat(), "host": socket.gethostname(),
        "home": str(home), "temporal_db": {"sha256": _sha256(out / DB_NAME), "size": (out / DB_NAME).stat().st_size},
        "store": "postgresql (not included: use pg_dump)" if database_url else "directory (included)",
        "files": files,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _read_manifest(source: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((source / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise BackupError(f"{source} is not a Firebreak backup (no {MANIFEST})") from err
    except ValueError as err:
        raise BackupError(f"{source / MANIFEST} is not valid JSON: {err}") from err
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{source} is backup format {manifest.get('format')}; this Firebreak reads {FORMAT}")
    return manifest


def _check(source: Path, manifest: dict[str, Any]) -> None:
    """Every file is there with the bytes the backup wrote: a damaged backup is refused before anything is copied."""
    expected = [(source / DB_NAME, manifest["temporal_db"]["sha256"])]
    expected += [(source / FILES / f["path"], f["sha256"]) for f in manifest["files"]]
    for path, sha in expected:
        if not path.is_file():
            raise BackupError(f"the backup is incomplete: {path} is missing")
        if _sha256(path) != sha:
            raise BackupError(f"the backup is damaged: {path} does not have the sha256 its manifest records")


def restore(source: Path, home: Path) -> dict[str, Any]:
    """Restore the backup in `source` into `home`, which must be fresh and not in use by `firebreak up`."""
    manifest = _read_manifest(source)
    _check(source, manifest)
    if (home / DB_NAME).exists() or (home.is_dir() and bool(_home_files(home))):
        raise BackupError(f"{home} already holds Firebreak state; restore into a new, empty FIREBREAK_HOME "
                          f"(move this one aside first if you mean to replace it)")
    try:
        lock = claim_home(home)  # no `up` starts on it while the files go in
    except SupervisorError as err:
        raise BackupError(str(err)) from err
    try:
        for entry in manifest["files"]:
            target = home / entry["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / FILES / entry["path"], target)
        partial = home / f"{DB_NAME}.restoring"
        shutil.copy2(source / DB_NAME, partial)
        partial.replace(home / DB_NAME)  # last: a home with temporal.db is a whole one
    finally:
        lock.release()
    return manifest
