"""Admission control: a token bucket per source, so one noisy sender cannot starve Temporal for the others.

What a token pays for is a Temporal call the request would cause: one per incident (workflow id) the request
feeds, except incidents that already have a call queued or in flight in the coalescer (intake/coalesce.py), which
the request's alerts join for free. A storm for one incident therefore costs about one token, however many alerts
it sends; a source that opens many incidents at once pays for each. A request is admitted whole or refused whole
(429 with Retry-After, nothing recorded), so a sender that retries sends it again unchanged.

A request that costs more than the bucket holds (a message of many alert groups) is admitted when the bucket is
full, and the bucket goes into debt, so its cost is paid by the requests after it and the rate still holds.

The buckets live in this process: with several intake processes behind a balancer each has its own budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from intake.config import RateLimitsConfig
from intake.errors import IntakeError

Clock = Callable[[], float]


@dataclass
class Bucket:
    rate: float  # tokens per second
    capacity: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now

    def take(self, cost: int, now: float) -> float:
        """Take `cost` tokens and return 0, or return the seconds until this request would be admitted."""
        self.refill(now)
        needed = min(float(cost), self.capacity)
        if self.tokens + 1e-9 >= needed:
            self.tokens -= cost
            return 0.0
        return (needed - self.tokens) / self.rate


class RateLimits:
    """The buckets of every source, filled lazily on first use; `clock` is monotonic seconds (tests pass their own)."""

    def __init__(self, config: RateLimitsConfig, clock: Clock = time.monotonic) -> None:
        self.config, self.clock = config, clock
        self.buckets: dict[str, Bucket] = {}
        self.refused = 0

    def bucket(self, source: str) -> Bucket:
        found = self.buckets.get(source)
        if found is None:
            limit = self.config.sources.get(source, self.config)
            capacity = float(limit.burst or limit.per_minute)
            found = self.buckets[source] = Bucket(limit.per_minute / 60.0, capacity, capacity, self.clock())
        return found

    def admit(self, source: str, cost: int) -> None:
        """Charge `source` for `cost` new Temporal calls, or refuse the request with 429 and Retry-After."""
        if not self.config.enabled or cost <= 0:
            return
        bucket = self.bucket(source)
        wait = bucket.take(cost, self.clock())
        if wait <= 0:
            return
        self.refused += 1
        retry = max(1, math.ceil(wait))
        per_minute = round(bucket.rate * 60)
        raise IntakeError(429, f"source '{source}' is over its rate limit ({per_minute} new incident calls a minute, "
                          f"burst {bucket.capacity:g}; this request needs {cost}); nothing was recorded: retry after "
                          f"{retry} s ([intake.rate_limits] in the playbook)", None, {"Retry-After": str(retry)})
