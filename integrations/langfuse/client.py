"""Langfuse clients and errors.

Keys come from the environment variables the playbook names (LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY by
default), never from the playbook itself. Errors are sorted for Temporal: `LangfuseUnavailable` may pass on
a retry, `LangfuseRejected` will not (bad keys, unknown prompt or version, a label that did not move).

The SDK keeps one client per public key per process (`LangfuseResourceManager`), whatever base URL a later
`Langfuse(...)` asks for; `client_for` refuses that mix-up instead of silently talking to the wrong host.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

import httpx

from playbook.config import LangfuseConnection

if TYPE_CHECKING:  # the SDK loads with the first Langfuse client (client_for), not with the worker
    from langfuse import Langfuse
    from langfuse.api.core.request_options import RequestOptions

CLOUD_URL = "https://cloud.langfuse.com"
OBSERVATION_PAGE = 100   # the API allows up to 1000; 100 keeps each response small
SCORE_PAGE = 100         # the API's maximum for scores v3
# Watchers leave retrying to Temporal (each attempt recorded, backoff on the workflow's clock), not the SDK's own
# wall-clock retries.
NO_SDK_RETRIES: RequestOptions = {"max_retries": 0}


class LangfuseError(Exception):
    pass


class LangfuseUnavailable(LangfuseError):
    """Langfuse did not answer usefully (network, 5xx, 429); a retry may succeed."""


class LangfuseRejected(LangfuseError):
    """Langfuse answered and answering again will not help, or the configuration is wrong."""


class LangfuseVerificationError(LangfuseRejected):
    """The label move was accepted but reading the prompt back shows the label elsewhere."""


_clients: dict[tuple[str, str, str], Langfuse] = {}
_clients_lock = threading.Lock()


def base_url_of(conn: LangfuseConnection) -> str:
    return (conn.base_url or os.environ.get("LANGFUSE_BASE_URL") or os.environ.get("LANGFUSE_HOST")
            or CLOUD_URL).rstrip("/")


def client_for(conn: LangfuseConnection) -> Langfuse:
    """A Langfuse client (tracing off: Firebreak only reads and moves labels) for this connection."""
    public_key = os.environ.get(conn.public_key_env, "")
    secret_key = os.environ.get(conn.secret_key_env, "")
    missing = [name for name, value in ((conn.public_key_env, public_key), (conn.secret_key_env, secret_key))
               if not value]
    if missing:
        raise LangfuseRejected(f"set the environment variable(s) {', '.join(missing)} to the Langfuse project's "
                               "keys on the worker (the playbook names the variables, never the keys)")
    url = base_url_of(conn)
    key = (url, public_key, secret_key)
    with _clients_lock:
        if key in _clients:
            return _clients[key]
        clash = next((k for k in _clients if k[1] == public_key), None)
        if clash is not None:
            raise LangfuseRejected(f"this worker already uses public key {public_key[:12]}... with {clash[0]}; the "
                                   f"langfuse SDK keeps one client per public key, so {url} needs its own key")
        from langfuse import Langfuse  # ~27 MB with its OpenTelemetry and numpy: loaded by the first client

        client = Langfuse(public_key=public_key, secret_key=secret_key, base_url=url, tracing_enabled=False,
                          timeout=conn.timeout_seconds)
        _clients[key] = client
        return client


def classify(err: Exception, what: str) -> LangfuseError:
    if isinstance(err, LangfuseError):
        return err
    from langfuse.api import NotFoundError
    from langfuse.api.core.api_error import ApiError

    if isinstance(err, NotFoundError):
        return LangfuseRejected(f"{what}: Langfuse has no such prompt or version (404)")
    if isinstance(err, ApiError):
        status = err.status_code or 0
        body = str(err.body)[:300]
        if status in (401, 403):
            return LangfuseRejected(f"{what}: Langfuse refused the keys ({status}); check the key variables")
        if 400 <= status < 500 and status not in (408, 429):
            return LangfuseRejected(f"{what}: Langfuse answered {status}: {body}")
        return LangfuseUnavailable(f"{what}: Langfuse answered {status}: {body}")
    if isinstance(err, httpx.HTTPError | OSError | TimeoutError):
        return LangfuseUnavailable(f"{what}: could not reach Langfuse: {err}")
    return LangfuseUnavailable(f"{what}: {type(err).__name__}: {err}")
