"""Who is posting: per-source bearer tokens, basic auth, Grafana HMAC signatures and PagerDuty routing keys.

Every configured secret is compared (in constant time) against what the request presents, so a request carrying
another source's credentials is told 403 rather than 401: it is authenticated, just not for this endpoint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass

from intake.config import ENDPOINTS, IntakeConfig, Secrets, SourceConfig
from intake.errors import IntakeError


def fresh(stamp: str, max_age: float, now: float | None = None) -> bool:
    """A Unix-seconds timestamp within `max_age` of now: a signed request that is not a replay."""
    return stamp.isdigit() and abs((time.time() if now is None else now) - int(stamp)) <= max_age


def signed(secret: bytes, message: bytes, given: str) -> bool:
    """`given` is the hex HMAC-SHA256 of `message` under `secret` (compared in constant time)."""
    expected = hmac.new(secret, message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


@dataclass(frozen=True)
class Presented:
    """Credentials a request carries."""

    token: bytes | None = None  # bearer token, basic-auth password or PagerDuty routing_key
    username: str | None = None  # basic-auth user
    signature: dict[str, str] | None = None  # hmac header name (lower-case) -> value, for signing sources
    timestamp: dict[str, str] | None = None

    @property
    def any(self) -> bool:
        return bool(self.token or self.signature)


def presented(headers: Mapping[str, str], hmac_headers: set[str], routing_key: str | None = None) -> Presented:
    """Credentials from the headers (and the PagerDuty routing_key from the body)."""
    token: bytes | None = None
    username: str | None = None
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        token = value.encode()
    elif scheme.lower() == "basic" and value:
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as err:
            raise IntakeError(401, "the Authorization header's basic credentials are not valid base64 'user:password'",
                              "Authorization", {"WWW-Authenticate": "Bearer"}) from err
        token, username = password.encode(), user
    if routing_key:
        token = routing_key.encode()
    signature = {h: headers[h] for h in hmac_headers if headers.get(h)}
    return Presented(token=token, username=username, signature=signature or None,
                     timestamp={k: v for k, v in headers.items()} if signature else None)


class Authenticator:
    def __init__(self, config: IntakeConfig, secrets: Mapping[str, Secrets]) -> None:
        self.sources: dict[str, SourceConfig] = dict(config.sources)
        self.secrets = dict(secrets)
        self.hmac_headers = {h.lower() for n, s in self.sources.items() for h in s.signature_headers
                             if self.secrets.get(n, Secrets()).hmac_secret}

    def _matches(self, name: str, creds: Presented, body: bytes) -> bool:
        src, sec = self.sources[name], self.secrets.get(name, Secrets())
        if sec.token is None and sec.hmac_secret is None:
            return False
        ok = True
        if sec.token is not None:
            token_ok = creds.token is not None and hmac.compare_digest(creds.token, sec.token)
            if token_ok and creds.username is not None and src.basic_username is not None:
                token_ok = hmac.compare_digest(creds.username.encode(), src.basic_username.encode())
            ok = ok and token_ok
        if sec.hmac_secret is not None:
            ok = ok and self._signed(src, sec.hmac_secret, creds, body)
        return ok

    @staticmethod
    def _signed(src: SourceConfig, secret: bytes, creds: Presented, body: bytes) -> bool:
        sent = creds.signature or {}
        given = [sent[h.lower()] for h in src.signature_headers if sent.get(h.lower())]
        if not given:
            return False
        message = body
        if src.hmac_timestamp_header:
            stamp = (creds.timestamp or {}).get(src.hmac_timestamp_header.lower(), "")
            if not fresh(stamp, src.hmac_max_skew_seconds):
                return False
            message = stamp.encode() + b":" + body
        return any(signed(secret, message, g.strip().lower().removeprefix("sha256=")) for g in given)

    def before_body(self, fmt: str, creds: Presented) -> str | None:
        """The source when the headers alone decide (IntakeError 401 / 403 when they refuse), so a request is not
        held while its body arrives; None when the body is needed: a signature, or PagerDuty's routing_key."""
        if fmt == "pagerduty" or creds.signature:
            return None
        return self.authenticate(fmt, creds, b"")  # no source that could match here reads the body

    def authenticate(self, fmt: str, creds: Presented, body: bytes) -> str:
        """The name of the source these credentials prove, or IntakeError 401 / 403."""
        matched = [name for name in self.sources if self._matches(name, creds, body)]
        for name in matched:
            if self.sources[name].format == fmt:
                return name
        if matched:
            other = self.sources[matched[0]]
            raise IntakeError(403, f"these credentials belong to the source '{matched[0]}', which may post only to "
                              f"{ENDPOINTS[other.format]}", "Authorization")
        if not creds.any:
            for name, src in self.sources.items():
                if src.format == fmt and src.allow_unauthenticated:
                    return name
        candidates = [n for n, s in self.sources.items() if s.format == fmt]
        if not candidates:
            raise IntakeError(403, f"no source in the playbook's [intake.sources] posts to {ENDPOINTS[fmt]}",
                              "Authorization")
        field = "routing_key" if fmt == "pagerduty" else "Authorization"
        if not creds.any:
            how = ("put the source's routing_key in the event" if fmt == "pagerduty" else
                   "send 'Authorization: Bearer <token>' (Alertmanager: http_config.authorization)")
            raise IntakeError(401, f"no credentials: {how}", field, {"WWW-Authenticate": "Bearer"})
        unconfigured = [n for n in candidates if self.secrets.get(n, Secrets()) == Secrets()
                        and not self.sources[n].allow_unauthenticated]
        hint = (f"; the source(s) {', '.join(unconfigured)} have no secret configured yet "
                f"(set the environment variable named in [intake.sources])" if unconfigured else "")
        raise IntakeError(401, f"the credentials are not valid for {ENDPOINTS[fmt]}{hint}", field,
                          {"WWW-Authenticate": "Bearer"})
