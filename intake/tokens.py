"""Personal API tokens: who a person on the roster is when they approve over HTTP.

`firebreak token issue PERSON` prints a new random token once; the store keeps only its SHA-256 (the token has 256
bits of randomness, so a fast hash is enough), the person and the creation time, in `$FIREBREAK_HOME/tokens.json`
(mode 0600, replaced atomically, changes serialised by a lock file). The token says who you are; the role is
still claimed per action and checked by the incident workflow against the roster. The intake looks at the store
on every request (a stat; the file is re-read when it was replaced), so a revoked token stops working at once.
With FIREBREAK_DATABASE_URL the tokens are rows in PostgreSQL instead (intake/tokens_pg.py), shared by every intake
and by `firebreak token` on any host; `token_store()` picks one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import os
import secrets
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ValidationError

from settings import database_url, firebreak_home

PREFIX = "fbp_"
FILENAME = "tokens.json"


class TokenStoreError(Exception):
    """The token file exists but cannot be read or written."""


class TokenRecord(BaseModel):
    id: str  # a short public id, to tell one token from another in `firebreak token ls`
    person: str
    sha256: str
    created_at: datetime


class _File(BaseModel):
    version: int = 1
    tokens: list[TokenRecord] = []


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(person: str) -> tuple[str, TokenRecord]:
    token = PREFIX + secrets.token_urlsafe(32)
    return token, TokenRecord(id=secrets.token_hex(4), person=person, sha256=digest(token),
                              created_at=datetime.now(UTC))


class Tokens(Protocol):
    """What the intake and `firebreak token` need of a token store, in a file or in PostgreSQL."""

    @property
    def where(self) -> str: ...

    def issue(self, person: str) -> tuple[str, TokenRecord]: ...

    def revoke(self, person: str, token_id: str | None = None) -> list[TokenRecord]: ...

    def list(self) -> list[TokenRecord]: ...

    def person_for(self, token: str) -> str | None: ...


def token_store() -> Tokens:
    """PostgreSQL's personal_tokens when FIREBREAK_DATABASE_URL is set, else $FIREBREAK_HOME/tokens.json."""
    if database_url():
        from intake.tokens_pg import PostgresTokenStore

        return PostgresTokenStore(database_url())
    return TokenStore()


class TokenStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or firebreak_home() / FILENAME
        self._seen: tuple[tuple[int, int, int], _File] | None = None

    @property
    def where(self) -> str:
        return str(self.path)

    def _current(self) -> _File:
        """The store as on disk, re-read only when the file changed: writes replace it (new inode and mtime)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return _File()
        except OSError as err:
            raise TokenStoreError(f"cannot read the token store {self.path}: {err}") from err
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._seen is None or self._seen[0] != key:
            self._seen = (key, self._read())
        return self._seen[1]

    def _read(self) -> _File:
        try:
            return _File.model_validate_json(self.path.read_bytes())
        except FileNotFoundError:
            return _File()
        except (OSError, ValidationError) as err:
            raise TokenStoreError(f"cannot read the token store {self.path}: {err}") from err

    def _write(self, data: _File) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".tokens-", dir=self.path.parent)  # mkstemp creates it 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data.model_dump_json(indent=2))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[_File]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = os.open(self.path.with_suffix(".lock"), os.O_CREAT | os.O_RDWR, 0o600)
        except OSError as err:
            raise TokenStoreError(f"cannot write the token store {self.path}: {err}") from err
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield self._read()
        finally:
            os.close(lock)

    def issue(self, person: str) -> tuple[str, TokenRecord]:
        """A new token for `person` (returned once, never stored) and its record."""
        token, record = new_token(person)
        with self._locked() as data:
            data.tokens.append(record)
            self._write(data)
        return token, record

    def revoke(self, person: str, token_id: str | None = None) -> list[TokenRecord]:
        """Remove the person's tokens (or only the one with `token_id`); returns what was removed."""
        with self._locked() as data:
            gone = [t for t in data.tokens if t.person == person and token_id in (None, t.id)]
            if gone:
                data.tokens = [t for t in data.tokens if t not in gone]
                self._write(data)
        return gone

    def list(self) -> list[TokenRecord]:
        return sorted(self._read().tokens, key=lambda t: (t.person, t.created_at))

    def person_for(self, token: str) -> str | None:
        """Who this token belongs to, or None for an unknown or revoked token (compared in constant time)."""
        wanted = digest(token).encode()
        found = None
        for record in self._current().tokens:
            if hmac.compare_digest(wanted, record.sha256.encode()):
                found = record.person
        return found
