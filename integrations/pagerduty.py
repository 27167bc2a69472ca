"""PagerDuty Events API v2 through the official `pagerduty` client: trigger, acknowledge and resolve one alert per
incident, its `dedup_key` the incident's workflow id.

The client's own waits are turned off so that Temporal's retry policy is the only one: a 429 raises `RateLimited`
with the server's Retry-After (the activity waits at least that long before its next attempt), a 5xx or a network
error is one failed attempt, a 4xx (an invalid event, a wrong or revoked integration key) is `Refused`, which no
retry can fix. PagerDuty's documentation: developer-docs `docs/events-API-v2/01-Overview.md` ("Response Codes &
Retry Logic") and `02-Trigger-Events.md`.
"""

from __future__ import annotations

import json
import os
import ssl
from typing import TYPE_CHECKING, Any

from playbook.config.paging import PagerDutyConfig
from playbook.paging import PagerDutyEvent

if TYPE_CHECKING:  # the client loads with the first event: a worker that never pages does not carry it
    from pagerduty.errors import HttpError

DEFAULT_RETRY_AFTER = 60.0  # PagerDuty asks for "a backoff of a few minutes" when it sends no Retry-After


class PagerDutyError(Exception):
    """A call that may work when tried again (a 5xx, a network error)."""


class Refused(PagerDutyError):
    """PagerDuty refused the request (4xx): a wrong, expired or revoked key, or an invalid event."""


class RateLimited(PagerDutyError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def retry_after(response: Any) -> float:
    raw = response.headers.get("retry-after", "")
    try:
        return max(float(raw), 0.0)
    except ValueError:
        return DEFAULT_RETRY_AFTER


def _no_waiting_on_429(response: Any) -> None:
    """An event hook of the client's HTTP client (httpx2): it would sleep and retry a 429 forever inside one
    activity attempt."""
    if response.status_code == 429:
        wait = retry_after(response)
        response.close()
        raise RateLimited(f"PagerDuty answered 429 (rate limited); Retry-After {wait:g} s", wait)


def client_options(cfg: PagerDutyConfig) -> dict[str, Any]:
    """What every PagerDuty client gets: the CA to trust (when not the system's) and the 429 hook."""
    options: dict[str, Any] = {"event_hooks": {"response": [_no_waiting_on_429]}}
    if cfg.ca_file:
        options["verify"] = ssl.create_default_context(cafile=cfg.ca_file)
    return options


def quiet(client: Any, cfg: PagerDutyConfig) -> Any:
    """No retries or sleeps inside the client: one attempt is one request."""
    client.retry = {}
    client.max_network_attempts = 0
    client.timeout = cfg.timeout_seconds
    return client


def secret(env: str, what: str) -> str:
    value = os.environ.get(env, "").strip()
    if not value:
        raise Refused(f"no {what}: set {env} (see docs/paging.md)")
    return value


def send_event(event: PagerDutyEvent) -> str:
    """Send one event; the dedup_key PagerDuty answered with."""
    from pagerduty import EventsApiV2Client
    from pagerduty.errors import Error, HttpError

    cfg = event.config
    key = secret(cfg.routing_key_env, "PagerDuty integration key")
    with quiet(EventsApiV2Client(key, base_url=cfg.events_url, **client_options(cfg)), cfg) as client:
        try:
            if event.action == "trigger":
                return str(client.trigger(event.summary[:1024], cfg.source, dedup_key=event.dedup_key,
                                          severity=event.severity, custom_details=event.custom_details or None))
            if event.action == "acknowledge":
                return str(client.acknowledge(event.dedup_key))
            return str(client.resolve(event.dedup_key))
        except HttpError as err:
            raise _http_error(event.action, err) from None  # its message says it all (cause() reads the last)
        except Error as err:
            raise PagerDutyError(f"PagerDuty {event.action} failed: {err}") from err


def _http_error(action: str, err: HttpError) -> PagerDutyError:
    response = err.response
    if response is None:
        return PagerDutyError(f"PagerDuty {action} failed: {err}")
    try:
        body = response.json()
    except (json.JSONDecodeError, ValueError):
        body = {}
    said = "; ".join(str(e) for e in body.get("errors", [])) if isinstance(body, dict) else ""
    message = (body.get("message") if isinstance(body, dict) else None) or response.text[:200]
    text = f"PagerDuty refused the {action}: {response.status_code} {message}" + (f" ({said})" if said else "")
    if 400 <= response.status_code < 500:
        return Refused(text + ". Check the integration key (an Events API v2 integration on the service) and "
                              "docs/paging.md")
    return PagerDutyError(text)
