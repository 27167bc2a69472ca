"""One JSON call to an admin API, with its failures sorted into retryable and not (as the http actions do)."""

from __future__ import annotations

from typing import Any

import httpx

from integrations.mitigations.base import MitigationNotFound, MitigationRejected, MitigationUnavailable

_CLIENT: httpx.Client | None = None


def _client() -> httpx.Client:
    """One pooled client for the worker (building one per call loads the TLS context each time, ~0.1 s)."""
    global _CLIENT
    if _CLIENT is None:
        _CLIENT = httpx.Client()
    return _CLIENT


def call(method: str, url: str, headers: dict[str, str], timeout: float, doing: str,
         body: dict[str, Any] | None = None) -> Any:
    try:
        response = _client().request(method, url, headers=headers, json=body, timeout=timeout)
    except httpx.HTTPError as err:
        raise MitigationUnavailable(f"{doing}: {method} {url} failed: {err}") from err
    if response.status_code >= 400:
        message = f"{doing}: {method} {url} answered {response.status_code}: {response.text[:300]}"
        if response.status_code == 404:
            raise MitigationNotFound(message)
        if response.status_code < 500 and response.status_code not in (408, 429):
            raise MitigationRejected(message)
        raise MitigationUnavailable(message)
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError as err:
        raise MitigationUnavailable(f"{doing}: {method} {url} answered {response.status_code} but not JSON") from err
