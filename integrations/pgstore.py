"""The store in PostgreSQL: every worker and intake on every host shares one ledger, one set of artefacts, one
deploy log and one token list (FIREBREAK_DATABASE_URL; docs/store.md).

Files are content-addressed: `blobs` holds each distinct content once under its sha256 (the hash the evidence
manifest shows), `files` maps a relative path to a blob. Append-once logs are rows keyed (path, key), so a retried
activity finds its line instead of writing a second one. Incident numbers come from `incident_numbers` under a
transaction-scoped advisory lock: unique, gap-free per year, and the same for the same chain on retry.
Migrations are the numbered SQL files in integrations/migrations/, applied in order on first use by each process
(under an advisory lock, so workers starting together apply each once) and recorded in `schema_version`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from integrations.store import StoreError, copied_folder

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x46_42_4D_49  # "FBMI": one process migrates at a time
NUMBERS_LOCK = 0x46_42_4E_4F  # "FBNO": one number allocated at a time
_pools: dict[str, ConnectionPool] = {}
_pools_lock = threading.Lock()


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for each NNNN_name.sql file, in order."""
    found = []
    for path in sorted(MIGRATIONS.glob("*.sql")):
        version, _, name = path.stem.partition("_")
        found.append((int(version), name, path.read_text(encoding="utf-8")))
    return found


def migrate(conn: psycopg.Connection[Any]) -> list[int]:
    """Apply the migrations this database has not seen; the versions applied."""
    applied: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, name text NOT NULL, "
                     "applied_at timestamptz NOT NULL DEFAULT now())")
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
        current = int(row[0]) if row else 0
        for version, name, sql in migrations():
            if version > current:
                conn.execute(sql.encode())
                conn.execute("INSERT INTO schema_version (version, name) VALUES (%s, %s)", (version, name))
                applied.append(version)
    return applied


def pool(url: str) -> ConnectionPool:
    """One small pool per database per process, migrated when opened."""
    with _pools_lock:
        if url not in _pools:
            try:
                with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                    migrate(conn)
            except psycopg.Error as err:
                raise StoreError(f"cannot use the PostgreSQL store ({_redacted(url)}): {err}") from err
            _pools[url] = ConnectionPool(url, min_size=1, max_size=8, open=True, name="firebreak-store",
                                         kwargs={"autocommit": True}, timeout=30)
        return _pools[url]


def close_pools() -> None:
    with _pools_lock:
        for p in _pools.values():
            p.close()
        _pools.clear()


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    head, at, tail = url.rpartition("@")
    if not at or "://" not in head:
        return url.split("password=")[0].strip()
    scheme, _, userinfo = head.partition("://")
    return f"{scheme}://{userinfo.split(':')[0]}@{tail}"


def _clean(relpath: str) -> str:
    """A relative path as stored: no leading '/', no '..', no empty parts."""
    parts = PurePosixPath(relpath.strip("/")).parts
    if not parts or any(p in ("..", ".") for p in parts):
        raise ValueError(f"artefact path {relpath!r} escapes the store")
    return "/".join(parts)


class PostgresStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.pool = pool(url)

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self.pool.connection() as conn:
                yield conn
        except psycopg.OperationalError as err:
            raise StoreError(f"the PostgreSQL store ({_redacted(self.url)}) failed: {err}") from err

    def location(self, relpath: str = "") -> str:
        return f"{_redacted(self.url)}#{_clean(relpath)}" if relpath else _redacted(self.url)

    def _put(self, conn: psycopg.Connection[Any], data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        conn.execute("INSERT INTO blobs (sha256, size, content) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                     (digest, len(data), data))
        return digest

    def write(self, relpath: str, content: str | bytes) -> str:
        path, data = _clean(relpath), content.encode() if isinstance(content, str) else content
        with self._conn() as conn, conn.transaction():
            digest = self._put(conn, data)
            conn.execute("INSERT INTO files (path, sha256) VALUES (%s, %s) ON CONFLICT (path) DO UPDATE "
                         "SET sha256 = excluded.sha256, written_at = now()", (path, digest))
        return self.location(path)

    def write_once(self, relpath: str, content: str | bytes) -> tuple[str, bool]:
        path, data = _clean(relpath), content.encode() if isinstance(content, str) else content
        with self._conn() as conn, conn.transaction():
            digest = self._put(conn, data)
            created = conn.execute("INSERT INTO files (path, sha256) VALUES (%s, %s) ON CONFLICT (path) DO NOTHING "
                                   "RETURNING path", (path, digest)).fetchone()
        return self.location(path), created is not None

    def exists(self, relpath: str) -> bool:
        path = _clean(relpath)
        with self._conn() as conn:
            return conn.execute("SELECT EXISTS (SELECT 1 FROM files WHERE path = %s) OR EXISTS "
                                "(SELECT 1 FROM log_lines WHERE path = %s)", (path, path)).fetchone() == (True,)

    def read_bytes(self, relpath: str) -> bytes:
        path = _clean(relpath)
        with self._conn() as conn:
            row = conn.execute("SELECT b.content FROM files f JOIN blobs b USING (sha256) WHERE f.path = %s",
                               (path,)).fetchone()
            if row is not None:
                return bytes(row[0])
            lines = conn.execute("SELECT line FROM log_lines WHERE path = %s ORDER BY seq", (path,)).fetchall()
        if not lines:
            raise FileNotFoundError(f"no {path} in {self.location()}")
        return "".join(f"{line}\n" for (line,) in lines).encode()

    def read_json(self, relpath: str) -> Any:
        return json.loads(self.read_bytes(relpath))

    def append_once(self, relpath: str, key: str, record: dict[str, Any]) -> bool:
        line = json.dumps({"key": key, **record}, default=str)
        with self._conn() as conn:
            row = conn.execute("INSERT INTO log_lines (path, key, line) VALUES (%s, %s, %s) "
                               "ON CONFLICT (path, key) DO NOTHING RETURNING seq", (_clean(relpath), key, line))
            return row.fetchone() is not None

    def find_once(self, relpath: str, key: str) -> dict[str, Any] | None:
        with self._conn() as conn:
            row = conn.execute("SELECT line FROM log_lines WHERE path = %s AND key = %s",
                               (_clean(relpath), key)).fetchone()
        return dict(json.loads(row[0])) if row else None

    def list_files(self, prefix: str = "") -> list[str]:
        base = prefix.strip("/")
        like = (base.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%") if base else "%"
        with self._conn() as conn:
            rows = conn.execute("SELECT path FROM files WHERE path LIKE %s UNION "
                                "SELECT DISTINCT path FROM log_lines WHERE path LIKE %s", (like, like)).fetchall()
        return sorted(path for (path,) in rows)

    def allocate_number(self, chain_id: str, prefix: str, year: int) -> str:
        with self._conn() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (NUMBERS_LOCK,))
            known = conn.execute("SELECT number FROM incident_numbers WHERE chain_id = %s", (chain_id,)).fetchone()
            if known:
                return str(known[0])
            row = conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM incident_numbers WHERE year = %s",
                               (year,)).fetchone()
            seq = int(row[0]) if row else 1
            number = f"{prefix}-{year}-{seq:04d}"
            conn.execute("INSERT INTO incident_numbers (chain_id, number, year, seq) VALUES (%s, %s, %s, %s)",
                         (chain_id, number, year, seq))
            return number

    def numbers(self) -> dict[str, str]:
        with self._conn() as conn:
            return {str(c): str(n) for c, n in conn.execute("SELECT chain_id, number FROM incident_numbers")}

    @contextmanager
    def local_folder(self, prefix: str) -> Iterator[Path]:
        """A temporary copy of the files under `prefix`; new or changed files in it (not hidden ones, such as a
        tool's cache) are written back afterwards."""
        with copied_folder(self, _clean(prefix)) as folder:
            yield folder
