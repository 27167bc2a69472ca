"""What a door may hand an incident: Detections the incident workflow can decode, and every reader can show.

The intake and `firebreak declare` call `admit` before they answer or exit 0, so nothing is accepted that the
workflow would then fail to decode for ever (a metric of 1e309 or NaN, written as `null` by the JSON converter),
nor a value that breaks a reader later (a timestamp that overflows when converted to UTC, a NUL byte that a
PostgreSQL store or a terminal cannot take). The last check is the real one: the batch goes through the same
pydantic JSON round trip the workflow's converter makes, and must come back equal. docs/intake-limits.md lists
every limit.

The round trip calls what the SDK's pydantic payload converter calls (temporalio.contrib.pydantic: `to_json` out,
`TypeAdapter(hint).validate_json` in) directly, without building Payloads or walking the composite converter's
encodings for each batch: half the CPU per alert of going through `to_payloads` / `from_payloads` in a storm.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from pydantic import TypeAdapter
from pydantic_core import to_json

from playbook.models import Detection

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
AHEAD = timedelta(days=1)  # a sender's clock may run ahead; a day more is a mistake, not skew
# Lengths a Detection sent to Firebreak may have (the vendor mappings in intake/mapping.py cut to the same sizes).
MAX_SERVICES, MAX_SERVICE = 16, 200
MAX_LABELS, MAX_LABEL = 64, 512
MAX_METRICS, MAX_NAME = 64, 200
MAX_LINKS, MAX_LINK = 16, 2048
MAX_SUMMARY = 4096
MAX_KEY = 512  # fingerprint, alert id, source, model, prompt name, deploy id
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc: no identifier may hold one
CHUNK = 250  # Detections per round trip: each call into pydantic-core holds the GIL for a few milliseconds only
BATCH = TypeAdapter(list[Detection])  # the workflow's type hint for a batch (alert_batch)


class Inadmissible(ValueError):
    """A value a door refuses; `field` names it as the sender wrote it (`metrics.p95`, `[2].services[0]`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def timestamp_problem(value: datetime, now: datetime | None = None) -> str | None:
    """Why `value` is outside the window every reader handles (None when it is inside)."""
    latest = (now or datetime.now(UTC)) + AHEAD
    try:
        utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError:
        return "cannot be converted to UTC (out of range)"
    if not EARLIEST <= utc <= latest:
        return (f"{value.isoformat()} is outside the accepted window {EARLIEST:%Y-%m-%d} .. now + "
                f"{AHEAD.days} day (UTC); send the time the alert started")
    return None


def in_window(value: datetime) -> datetime:
    """A pydantic AfterValidator for the wire formats' timestamps."""
    problem = timestamp_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _text(field: str, value: str | None, limit: int, identifier: bool = True) -> None:
    if value is None:
        return
    if len(value) > limit:
        raise Inadmissible(field, f"is {len(value)} characters long; at most {limit}")
    if identifier and (found := CONTROL.search(value)):
        raise Inadmissible(field, f"contains the control character {found.group()!r}; identifiers may not")
    if "\x00" in value:
        raise Inadmissible(field, "contains a NUL character")


def _name(field: str, key: str, limit: int) -> None:
    try:
        _text(field, key, limit)
    except Inadmissible as err:
        raise Inadmissible(field, f"the name {key[:40]!r} {err.message}") from None


def _many(field: str, values: Iterable[str], count: int, most: int, limit: int) -> None:
    if count > most:
        raise Inadmissible(field, f"has {count} entries; at most {most}")
    for i, value in enumerate(values):
        _text(f"{field}[{i}]", value, limit)


def check(det: Detection) -> None:
    """One Detection's limits; Inadmissible naming the field without a prefix."""
    _many("services", det.services, len(det.services), MAX_SERVICES, MAX_SERVICE)
    if len(det.labels) > MAX_LABELS:
        raise Inadmissible("labels", f"has {len(det.labels)} entries; at most {MAX_LABELS}")
    for key, value in det.labels.items():
        _name("labels", key, MAX_LABEL)
        _text(f"labels.{key}", value, MAX_LABEL)
    if len(det.metrics) > MAX_METRICS:
        raise Inadmissible("metrics", f"has {len(det.metrics)} entries; at most {MAX_METRICS}")
    for name, number in det.metrics.items():
        _name("metrics", name, MAX_NAME)
        if not math.isfinite(number):
            raise Inadmissible(f"metrics.{name}", f"must be a finite number; got {number}")
    _many("links", det.links, len(det.links), MAX_LINKS, MAX_LINK)
    for name in ("fingerprint", "alert_id", "source", "model", "prompt_name", "deploy_id"):
        _text(name, getattr(det, name), MAX_KEY)
    _text("summary", det.summary, MAX_SUMMARY, identifier=False)
    problem = timestamp_problem(det.detected_at)
    if problem:
        raise Inadmissible("detected_at", problem)


def admit(detections: list[Detection], numbered: bool = True) -> None:
    """Refuse (Inadmissible) what the incident workflow could not decode or a reader could not show.

    `numbered`: name fields as `[i].field` (a batch); otherwise as `field` (one Detection).
    """
    for i, det in enumerate(detections):
        try:
            check(det)
        except Inadmissible as err:
            raise Inadmissible(f"[{i}].{err.field}" if numbered else err.field, err.message) from None
    for start in range(0, len(detections), CHUNK):
        part = detections[start:start + CHUNK]
        try:
            back = BATCH.validate_json(to_json(part))  # the payload converter's JSON, before any codec
        except Exception as err:  # noqa: BLE001 - any failure here is a payload the workflow could not decode
            raise Inadmissible("body", f"the incident workflow could not decode this ({type(err).__name__}: "
                               f"{str(err).splitlines()[0][:200]})") from err
        for i, (sent, got) in enumerate(zip(part, back, strict=True), start):
            if sent != got:
                raise Inadmissible(f"[{i}]" if numbered else "body",
                                   "would not reach the incident as sent (it changes in Temporal's JSON)")
