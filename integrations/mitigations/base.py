"""One Protocol for every backend that changes an AI system through its own infrastructure, and their errors.

A backend reads what its action will change (`snapshot`, frozen into the evidence pack first), changes it
idempotently and verifies by reading back (`apply`), and reverses it from what `apply` returned (`undo`), never
clobbering a change someone made since. Secrets come from environment variables on the worker.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Protocol


class MitigationError(Exception):
    """Base of the backends' errors; `retryable` says whether another attempt may help."""

    retryable = False


class MitigationRejected(MitigationError):
    """The target refused, or the action cannot mean anything here (missing key, unknown flag): fix and rerun."""


class MitigationNotFound(MitigationRejected):
    """The target answered 404: what the action names does not exist there."""


class MitigationUnavailable(MitigationError):
    """The target did not answer usefully (down, timeout, 5xx, 429): a retry may succeed."""

    retryable = True


class MitigationVerificationError(MitigationError):
    """The change was accepted but reading it back shows something else: look before trusting it."""


@dataclass(frozen=True)
class Applied:
    """What `apply` did: `restore` is what `undo` needs (None: nothing to undo, e.g. nothing changed or a purge)."""

    changed: bool
    detail: str
    restore: dict[str, Any] | None = None
    record: dict[str, Any] = field(default_factory=dict)


class Mitigation(Protocol):
    kind: str

    def snapshot(self, action: Any, variables: dict[str, Any]) -> dict[str, Any]:
        """What the action will change, as it is now (no secrets, no cache contents)."""
        ...

    def apply(self, action: Any, variables: dict[str, Any], key: str) -> Applied:
        """Make the change (a no-op when it is already in place), then read it back."""
        ...

    def undo(self, action: Any, variables: dict[str, Any], restore: dict[str, Any], key: str) -> str:
        """Put back what `apply` found, if the target is still as `apply` left it; read it back."""
        ...


def secret(env: str, what: str) -> str:
    """The credential in environment variable `env`, or MitigationRejected saying where to put it."""
    value = os.environ.get(env, "").strip()
    if not value:
        raise MitigationRejected(f"set {env} on the worker to {what}")
    return value
