"""Showing times to people in UTC, whatever a source sent.

A timestamp is kept as the source sent it (with its offset). Shown, it is converted to UTC; one that UTC cannot
hold (9999-12-31T23:59:59-23:59 is 10000-01-01 in UTC) is shown as stored and marked, never an error that stops
a listing.
"""

from __future__ import annotations

from datetime import UTC, datetime

OUT_OF_RANGE = "(out of range)"


def utc_text(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M", none: str = "-") -> str:
    if value is None:
        return none
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        return aware.astimezone(UTC).strftime(fmt)
    except (OverflowError, ValueError):
        return f"{value.isoformat()} {OUT_OF_RANGE}"
