"""How the incident workflow calls its activities: timeouts and retries, and what a failure says.

Activities are called by name (`workflow.execute_activity("notify", ...)`); the worker registers them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

QUICK: dict[str, Any] = {"start_to_close_timeout": timedelta(seconds=30),
                         "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=10)}
EXTERNAL: dict[str, Any] = {"start_to_close_timeout": timedelta(minutes=2),
                            "retry_policy": RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=5)}
LANGFUSE_CALLS: dict[str, Any] = {
    "retry_policy": RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=5)}
ARCHIVE_TIMEOUT = timedelta(seconds=30)
HTTP_MARGIN = timedelta(seconds=5)


def http_call(timeout_seconds: float) -> dict[str, Any]:
    """EXTERNAL, with the start-to-close timeout following the call's own HTTP timeout plus a margin, so an
    attempt lost with its worker (kill -9, OOM, a node gone) is retried within seconds, not minutes."""
    return {**EXTERNAL, "start_to_close_timeout": timedelta(seconds=timeout_seconds) + HTTP_MARGIN}


def tracker_call(timeout_seconds: float) -> dict[str, Any]:
    """A ticket tracker's activity: a few requests per attempt (look up, then create or comment, then move), so
    three times the request timeout; more attempts than EXTERNAL, as a rate limit's Retry-After spaces them."""
    return {"start_to_close_timeout": timedelta(seconds=3 * timeout_seconds) + HTTP_MARGIN,
            "retry_policy": RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=8)}


def cause(err: BaseException) -> str:
    """The innermost message of an activity failure, which is the one that says what went wrong."""
    while err.__cause__ is not None:
        err = err.__cause__
    return str(err)
