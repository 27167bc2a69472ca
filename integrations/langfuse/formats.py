"""Timestamps and JSON as Firebreak writes what it reads from Langfuse."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _json_default(value: Any) -> str:
    return iso(value) if isinstance(value, datetime) else str(value)


def dump(data: Any) -> bytes:
    return json.dumps(data, indent=2, default=_json_default, sort_keys=True).encode()
