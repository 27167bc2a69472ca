"""TLS for the intake where it leaves the machine: uvicorn serves https with `[intake] tls_cert` / `tls_key`, and
with `tls_client_ca` it asks every client for a certificate that CA signed (mutual TLS) and refuses the handshake
without one, before any HTTP is read.

The files are read once at start, here, so a wrong path, a key that does not match the certificate or a file that
is not PEM stops the start naming the key, instead of uvicorn failing later with an OpenSSL trace.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from intake.config import IntakeConfig
from playbook.config import PlaybookError

MIN_VERSION = ssl.TLSVersion.TLSv1_2


def server_context(config: IntakeConfig, path: str = "<playbook>") -> ssl.SSLContext | None:
    """The server's TLS context, checked; None when the intake serves plain http."""
    if not config.tls_cert or not config.tls_key:
        return None
    cert, key = _file(config.tls_cert, path, "intake.tls_cert"), _file(config.tls_key, path, "intake.tls_key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = MIN_VERSION
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, ValueError) as err:
        raise PlaybookError(path, "intake.tls_key", f"cannot use {cert} with {key}: {err} (both PEM, the key "
                            "unencrypted and belonging to the certificate)") from err
    if config.tls_client_ca:
        ca = _file(config.tls_client_ca, path, "intake.tls_client_ca")
        try:
            context.load_verify_locations(cafile=ca)
        except (ssl.SSLError, ValueError) as err:
            raise PlaybookError(path, "intake.tls_client_ca", f"cannot read CA certificates from {ca}: {err}") \
                from err
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def uvicorn_options(config: IntakeConfig, path: str = "<playbook>") -> dict[str, Any]:
    """uvicorn.Config keyword arguments for the configured TLS (empty for plain http), after checking the files."""
    if server_context(config, path) is None:
        return {}
    options: dict[str, Any] = {"ssl_certfile": config.tls_cert, "ssl_keyfile": config.tls_key}
    if config.tls_client_ca:
        options |= {"ssl_ca_certs": config.tls_client_ca, "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return options


def scheme(config: IntakeConfig) -> str:
    return "https" if config.tls_cert else "http"


def _file(name: str, path: str, key: str) -> str:
    found = Path(name).expanduser()
    if not found.is_file():
        raise PlaybookError(path, key, f"no such file: {found}")
    return str(found)
