"""Encryption at rest for the artefacts that carry incident content: evidence, the comms archive and briefs,
retrospectives. A Store wrapper (open_store puts it around either store), with the payload codec's keys.

With FIREBREAK_CODEC_KEYS / _KEY_FILE set, a file under `<incident>/evidence/`, `<incident>/comms/` or an
incident's `retrospective.*` is written as `FBSEAL1 <kid>\n` + a 12-byte nonce + AES-GCM ciphertext; the key id
and the file's path are authenticated with it (a file moved to another path does not decrypt). An append-once log
there (the comms archive, the freeze log) keeps its keys in the clear (they are ids, and the store needs them to
refuse a second line) and seals each line's record. The first key encrypts, every key decrypts: rotation is the
codec's (new key first, old keys after it while files written with them are kept).

Reads decrypt; a file written before encryption was on passes through as it is. A sealed file whose key id is
not configured (or with no keys at all) is an error that names the key id, never ciphertext handed on.
The evidence manifest's sha256 is of the plaintext (hashed before the write), so `firebreak export`, which reads
through this wrapper, checks it; PostgreSQL's `blobs.sha256` is of the bytes stored (the ciphertext).
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from integrations.store import Store, StoreError, copied_folder
from settings import CODEC_KEY_FILE, CODEC_KEYS

MAGIC = b"FBSEAL1 "
NONCE = 12
SEALED = re.compile(r"^[^/]+/(evidence/|comms/|retrospective\.)")
LINE_FIELD = "sealed"


class SealedError(StoreError):
    """A sealed artefact cannot be read: its key is not configured, or it was altered."""


def sealed_path(relpath: str) -> bool:
    return bool(SEALED.match(relpath.strip("/")))


class SealedStore:
    """Encrypts the sealed paths of `inner` with `keys` ([(kid, key)], first encrypts); no keys: writes plaintext
    and refuses to read sealed files."""

    def __init__(self, inner: Store, keys: list[tuple[str, bytes]] | None) -> None:
        self.inner = inner
        self._keys = {kid: AESGCM(key) for kid, key in keys or []}
        self.key_id = keys[0][0] if keys else None

    # ------------------------------------------------------------ the cipher

    def seal(self, relpath: str, data: bytes) -> bytes:
        if self.key_id is None or not sealed_path(relpath):
            return data
        nonce, kid = os.urandom(NONCE), self.key_id.encode()
        return MAGIC + kid + b"\n" + nonce + self._keys[self.key_id].encrypt(nonce, data, kid + b"\0" + _aad(relpath))

    def open(self, relpath: str, data: bytes) -> bytes:
        if not data.startswith(MAGIC):
            return data  # written before encryption was on
        head, _, rest = data[len(MAGIC):].partition(b"\n")
        kid = head.decode(errors="replace")
        aes = self._keys.get(kid)
        if aes is None:
            configured = ", ".join(self._keys) or "none"
            raise SealedError(f"{relpath} is encrypted with key id '{kid}', which is not configured (configured: "
                              f"{configured}); add that key after the current one in {CODEC_KEYS} or {CODEC_KEY_FILE}")
        try:
            return aes.decrypt(rest[:NONCE], rest[NONCE:], head + b"\0" + _aad(relpath))
        except InvalidTag as err:
            raise SealedError(f"{relpath} does not decrypt with key '{kid}': the key is wrong, or the file was "
                              f"altered or moved") from err

    def _seal_record(self, relpath: str, key: str, record: dict[str, Any]) -> dict[str, Any]:
        if self.key_id is None or not sealed_path(relpath):
            return record
        blob = self.seal(f"{relpath}#{key}", json.dumps(record).encode())
        return {LINE_FIELD: base64.b64encode(blob).decode()}

    def _open_record(self, relpath: str, line: dict[str, Any]) -> dict[str, Any]:
        if set(line) != {"key", LINE_FIELD}:
            return line
        plain = json.loads(self.open(f"{relpath}#{line['key']}", base64.b64decode(line[LINE_FIELD])))
        return {"key": line["key"], **plain}

    # ------------------------------------------------------------ the Store interface

    def location(self, relpath: str = "") -> str:
        return self.inner.location(relpath)

    def write(self, relpath: str, content: str | bytes) -> str:
        return self.inner.write(relpath, self.seal(relpath, _bytes(content)))

    def write_once(self, relpath: str, content: str | bytes) -> tuple[str, bool]:
        return self.inner.write_once(relpath, self.seal(relpath, _bytes(content)))

    def exists(self, relpath: str) -> bool:
        return self.inner.exists(relpath)

    def read_bytes(self, relpath: str) -> bytes:
        data = self.inner.read_bytes(relpath)
        if not sealed_path(relpath):
            return data
        if data.startswith(MAGIC):
            return self.open(relpath, data)
        if not relpath.endswith(".jsonl") or f'"{LINE_FIELD}"'.encode() not in data:
            return data
        lines = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
        return "".join(json.dumps(self._open_record(relpath, line)) + "\n" for line in lines).encode()

    def read_json(self, relpath: str) -> Any:
        return json.loads(self.read_bytes(relpath))

    def append_once(self, relpath: str, key: str, record: dict[str, Any]) -> bool:
        return self.inner.append_once(relpath, key, self._seal_record(relpath, key, record))

    def find_once(self, relpath: str, key: str) -> dict[str, Any] | None:
        line = self.inner.find_once(relpath, key)
        return None if line is None else self._open_record(relpath, line)

    def list_files(self, prefix: str = "") -> list[str]:
        return self.inner.list_files(prefix)

    def allocate_number(self, chain_id: str, prefix: str, year: int) -> str:
        return self.inner.allocate_number(chain_id, prefix, year)

    def numbers(self) -> dict[str, str]:
        return self.inner.numbers()

    @contextmanager
    def local_folder(self, prefix: str) -> Iterator[Path]:
        """The inner store's folder when nothing under `prefix` is sealed; else a temporary plaintext copy whose new
        or changed files are written back (sealed) afterwards."""
        base = prefix.strip("/")
        if self.key_id is None or not (sealed_path(base + "/x") or "/" not in base):
            with self.inner.local_folder(prefix) as folder:
                yield folder
            return
        with copied_folder(self, base) as folder:
            yield folder


def _bytes(content: str | bytes) -> bytes:
    return content.encode("utf-8") if isinstance(content, str) else content


def _aad(relpath: str) -> bytes:
    return relpath.strip("/").encode()
