"""The one store interface: where Firebreak keeps what outlives a worker, and the factory that picks its home.

Two implementations: the directory under $FIREBREAK_HOME (integrations/artefacts.py, the embedded default for
`make up`) and PostgreSQL (integrations/pgstore.py, when FIREBREAK_DATABASE_URL is set), so any number of workers
and intakes on any hosts share one ledger, one set of artefacts and one deploy log. Callers name files by a
relative path ("INC-2026-0001/ticket.json"); nothing outside the directory implementation sees a local path, except
through `local_folder` for tools that must run on files (promptfoo).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import settings


class StoreError(Exception):
    """The store cannot be reached or used (a bad URL, a database that refuses, a failed migration)."""


@runtime_checkable
class Store(Protocol):
    def location(self, relpath: str = "") -> str:
        """Where this path lives, for people and logs (a file path, or the database and the path)."""
        ...

    def write(self, relpath: str, content: str | bytes) -> str:
        """Write (or replace) a file as a whole: readers see the old or the new content, never half. Its location."""
        ...

    def write_once(self, relpath: str, content: str | bytes) -> tuple[str, bool]:
        """Write only if absent; (location, created). A retry finds the first attempt's file and keeps it."""
        ...

    def exists(self, relpath: str) -> bool: ...

    def read_bytes(self, relpath: str) -> bytes:
        """The file's content (an append-once log reads as its JSON lines); FileNotFoundError when absent."""
        ...

    def read_json(self, relpath: str) -> Any: ...

    def append_once(self, relpath: str, key: str, record: dict[str, Any]) -> bool:
        """Append a JSON line {"key": key, **record} unless one with this key is there; True when appended."""
        ...

    def find_once(self, relpath: str, key: str) -> dict[str, Any] | None:
        """The line with this key in an `append_once` log, if there is one."""
        ...

    def list_files(self, prefix: str = "") -> list[str]:
        """The relative paths of every file under `prefix` (a folder, e.g. "INC-2026-0001/"), sorted."""
        ...

    def allocate_number(self, chain_id: str, prefix: str, year: int) -> str:
        """<prefix>-<year>-<seq>: unique and gap-free per year, the same number every time for the same chain."""
        ...

    def numbers(self) -> dict[str, str]:
        """The ledger: incident chain id -> number."""
        ...

    def local_folder(self, prefix: str) -> AbstractContextManager[Path]:
        """A local folder holding the files under `prefix`, for tools that work on files; whatever is in it at
        the end is kept under `prefix`."""
        ...


def read_text(store: Store, relpath: str) -> str:
    return store.read_bytes(relpath).decode("utf-8")


def read_json(store: Store, relpath: str) -> Any:
    return json.loads(store.read_bytes(relpath))


def read_lines(store: Store, relpath: str) -> list[dict[str, Any]]:
    """An append-once log's records, oldest first; none when the log does not exist."""
    try:
        text = read_text(store, relpath)
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def iter_lines(store: Store, relpath: str, limit: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of the first `limit` lines of a log."""
    try:
        text = read_text(store, relpath)
    except FileNotFoundError:
        return
    for n, line in enumerate(text.splitlines()):
        if n >= limit:
            break
        if line.strip():
            yield n, json.loads(line)


@contextmanager
def copied_folder(store: Store, base: str) -> Iterator[Path]:
    """A temporary local copy of the files under `base`, for a store whose files are not local ones (PostgreSQL,
    sealed files); new or changed files in it (not hidden ones, such as a tool's cache) are written back after."""
    with tempfile.TemporaryDirectory(prefix="firebreak-store-") as tmp:
        folder, before = Path(tmp), {}
        for rel in store.list_files(base):
            target = folder / rel[len(base) + 1:]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data := store.read_bytes(rel))
            before[rel] = data
        try:
            yield folder
        finally:
            for path in sorted(folder.rglob("*")):
                inner = path.relative_to(folder)
                if path.is_file() and not any(part.startswith(".") for part in inner.parts):
                    rel, data = f"{base}/{inner.as_posix()}", path.read_bytes()
                    if before.get(rel) != data:
                        store.write(rel, data)


def open_store(environ: dict[str, str] | None = None) -> Store:
    """The store this process uses: PostgreSQL when FIREBREAK_DATABASE_URL is set (migrated on first use), else
    the directory $FIREBREAK_HOME/artefacts; inside the wrapper that encrypts incident content at rest with the
    payload codec's keys (integrations/sealed.py)."""
    from integrations.sealed import SealedStore

    try:
        keys = settings.codec_keys(environ)
    except settings.CodecConfigError as err:
        raise StoreError(str(err)) from err
    url = settings.database_url(environ)
    inner: Store
    if url:
        from integrations.pgstore import PostgresStore

        inner = PostgresStore(url)
    else:
        from integrations.artefacts import ArtefactStore

        inner = ArtefactStore(settings.artefacts_dir())
    return SealedStore(inner, keys)  # evidence, comms and retrospectives encrypted at rest when keys are set
