"""The HTTP action adapter: one playbook action as one HTTP call, with an Idempotency-Key header.

Retrying is the caller's (Temporal's) job; this module says whether a failure is worth retrying.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from playbook.config import HttpAction, render_template


class PermanentActionError(Exception):
    """The target answered, and answering again will not help (a 4xx other than 408/429)."""


class TransientActionError(Exception):
    """The target did not answer usefully; a retry may succeed."""


@dataclass(frozen=True)
class HttpActionResponse:
    status_code: int
    body_excerpt: str


def run_http_action(action: HttpAction, variables: dict[str, object], idempotency_key: str) -> HttpActionResponse:
    url = render_template(action.url, variables)
    headers = {k: render_template(v, variables) for k, v in action.headers.items()}
    headers.setdefault("Idempotency-Key", idempotency_key)
    body = render_template(action.body, variables) if action.body is not None else None
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
    try:
        response = httpx.request(action.method, url, headers=headers, content=body,
                                 timeout=action.timeout_seconds)
    except httpx.HTTPError as err:
        raise TransientActionError(f"{action.method} {url} failed: {err}") from err
    excerpt = response.text[:500]
    if response.status_code in action.expected_status:
        return HttpActionResponse(response.status_code, excerpt)
    message = f"{action.method} {url} answered {response.status_code}, expected one of {action.expected_status}"
    if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
        raise PermanentActionError(f"{message}: {excerpt}")
    raise TransientActionError(f"{message}: {excerpt}")
