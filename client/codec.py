"""Optional payload encryption: AES-256-GCM (or 128/192) with key ids for rotation.

Off unless FIREBREAK_CODEC_KEYS or FIREBREAK_CODEC_KEY_FILE is set. Both hold `kid:base64key` entries separated
by commas or newlines; the first key encrypts, every key decrypts, so rotation is: put the new key first, keep the
old ones after it until no open incident or retained history uses them. Each encrypted payload names its key id
in its metadata. The codec runs in the client and the worker (outside the workflow sandbox); the Temporal server
and its database only see ciphertext. Search attributes are never encoded: keep them free of secrets.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from settings import CODEC_KEY_FILE as KEY_FILE_ENV
from settings import CODEC_KEYS as KEYS_ENV
from settings import CodecConfigError, codec_keys
from settings import parse_codec_keys as parse_keys

__all__ = ["CodecConfigError", "CodecError", "EncryptionCodec", "load_codec", "parse_keys", "data_converter"]

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class CodecError(ValueError):
    """A payload could not be decrypted (unknown key id, wrong key, or tampered data)."""


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise CodecConfigError("the encryption codec needs at least one key")
        self.key_id = keys[0][0]
        self._keys = {kid: AESGCM(key) for kid, key in keys}
        self._encrypt = self._keys[self.key_id]

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        kid = self.key_id.encode()
        sealed = self._encrypt.encrypt(nonce, payload.SerializeToString(), kid)  # the key id is authenticated too
        return Payload(metadata={"encoding": ENCODING, KEY_ID: kid}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption was turned on: passes through
        kid = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        aes = self._keys.get(kid)
        if aes is None:
            raise CodecError(f"a payload is encrypted with key id '{kid}', which is not configured "
                             f"(configured: {', '.join(self._keys)}). Add that key after the current one in "
                             f"{KEYS_ENV} or {KEY_FILE_ENV}.")
        data = payload.data
        try:
            plain = aes.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], kid.encode())
        except InvalidTag as err:
            raise CodecError(f"a payload encrypted with key id '{kid}' does not decrypt with the configured key "
                             f"of that id: the key is wrong, or the payload was altered.") from err
        return Payload.FromString(plain)


def load_codec(environ: Mapping[str, str] | None = None) -> EncryptionCodec | None:
    """The codec from FIREBREAK_CODEC_KEYS, else FIREBREAK_CODEC_KEY_FILE; None when neither is set (off)."""
    keys = codec_keys(environ)
    return EncryptionCodec(keys) if keys is not None else None


def data_converter(codec: PayloadCodec | None = None, environ: Mapping[str, str] | None = None) -> DataConverter:
    """The pydantic converter, plus (when configured) the encryption codec and encoded failure messages."""
    codec = codec if codec is not None else load_codec(environ)
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec,
                               failure_converter_class=DefaultFailureConverterWithEncodedAttributes)


def new_key() -> str:
    """A fresh 256-bit key, base64 (what `openssl rand -base64 32` prints)."""
    return base64.b64encode(os.urandom(32)).decode()


def describe(codec: EncryptionCodec | None) -> str:
    return "off" if codec is None else f"on (encrypting with key '{codec.key_id}', decrypting {codec.key_ids})"
