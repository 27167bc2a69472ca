"""What each incident's running workflow already holds from this intake: the alerts a storm repeats need no call.

The coalescer (intake/coalesce.py) remembers, per workflow id, the run its last signal-with-start reached and a
digest of each alert it carried there (its JSON as sent). A later copy of one of those alerts, identical to the
byte, would change nothing in that run: the workflow counts each alert id once, and what a later alert may fill
in (model, prompt, deploy) comes from its first copy. So the coalescer leaves such repeats out of its next call,
and answers them only once Temporal says that same run is the one running, after they arrived: the run id the
next call's signal-with-start answers, or, when a batch holds nothing new, the workflow's description. When the
run has changed (continued as new, or closed and a new incident opened), the repeats are sent to the new run as
before. A storm's second copy of each alert then costs its parsing, not its redaction, its payload and its history.

Bounded: at most LIMIT alerts remembered in all (16-byte digests), the oldest incidents forgotten first.
"""

from __future__ import annotations

import hashlib

LIMIT = 20_000
AlertKey = tuple[str, bool]  # (identity, firing), as the coalescer deduplicates a batch


def digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


class Recorded:
    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self.runs: dict[str, tuple[str, dict[AlertKey, bytes]]] = {}
        self.total = 0

    def run_of(self, key: str) -> str | None:
        found = self.runs.get(key)
        return found[0] if found else None

    def holds(self, key: str, alert: AlertKey, sent: bytes) -> bool:
        found = self.runs.get(key)
        return found is not None and found[1].get(alert) == sent

    def add(self, key: str, run_id: str, alerts: dict[AlertKey, bytes]) -> None:
        """These alerts reached `run_id`; what was remembered for another run of `key` is forgotten."""
        found = self.runs.get(key)
        if found is None or found[0] != run_id:
            self.forget(key)
            found = self.runs[key] = (run_id, {})
        held = found[1]
        before = len(held)
        held.update(alerts)
        self.total += len(held) - before
        while self.total > self.limit and self.runs:
            self.forget(next(iter(self.runs)))  # the incident remembered longest ago

    def forget(self, key: str) -> None:
        found = self.runs.pop(key, None)
        if found is not None:
            self.total -= len(found[1])
