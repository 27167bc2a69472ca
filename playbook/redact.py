"""Redaction: replace personal data and secrets with typed placeholders before anything is stored.

The detectors are kept by others (playbook/detectors.py): Presidio's pattern recognizers with libphonenumber
find e-mail addresses, phone numbers, card numbers (Luhn-checked), IBANs (checksum), IP addresses and national
ids (US SSN, UK NINO); detect-secrets' plugins find provider tokens (AWS, GitHub, Slack, Stripe, OpenAI ...),
JWTs and private keys. Three patterns of our own add what neither knows: `Bearer ...` headers, Langfuse-style
keys (`sk-...`, `pk-lf-...`) and `aws_secret_access_key=...`. Placeholders look like `[REDACTED:EMAIL]`, so a
reader sees what was there. Version numbers, dates, UUIDs, trace ids and commit shas stay.

`redact_text` works on one string; `redact_value` walks JSON-like data (dicts, lists, strings) and leaves
numbers and booleans alone. Both count what they replaced, so the evidence pack can say how much it hid.

`outbound` is the one function every boundary where data leaves Firebreak calls: the ticket writer, the brief
drafter and channel senders, the Slack approval requests, notifications, the retrospective and risk register, the
log formatters, and the doors into Temporal (detections in client/temporal.py, people's actions in
client/actions.py). It takes strings, JSON-like data or pydantic models (returning a redacted copy of the same
type), so a new channel or artefact redacts with one call. It runs in activities, the intake and the CLI, never
in workflow code; the detectors load once per process, on the first text that could hold a finding.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Collection
from typing import Any, TypeVar

from pydantic import BaseModel

from playbook.detectors import (
    CARD,
    EMAIL,
    IBAN,
    IP,
    KINDS,
    NATIONAL_ID,
    PHONE,
    RANK,
    SECRET,
    TOKEN,
    Finding,
    StillLoading,
    detectors,
)

__all__ = ["CARD", "EMAIL", "IBAN", "IP", "KINDS", "NATIONAL_ID", "PHONE", "SECRET", "TOKEN", "describe",
           "luhn_valid", "outbound", "placeholder", "redact_text", "redact_value"]

_NAMES = {EMAIL: "e-mail address", PHONE: "phone number", CARD: "card number", SECRET: "API key or secret",
          TOKEN: "bearer token", IBAN: "IBAN", IP: "IP address", NATIONAL_ID: "national id number"}


def placeholder(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def describe(counts: Counter[str] | dict[str, int]) -> str:
    """'1 e-mail address, 2 card numbers': what a redaction replaced, for telling the person who wrote it."""
    return ", ".join(f"{n} {_NAMES.get(kind, kind.lower())}{'' if n == 1 else 's'}"
                     for kind, n in sorted(counts.items()) if n)


# Ours, where no kept detector applies. The groups named `secret` are replaced; the rest stays.
_OWN = (
    (re.compile(r"(?i)\bbearer\s+(?P<secret>[A-Za-z0-9._~+/=-]{8,})"), TOKEN),
    (re.compile(r"(?i)aws_secret_access_key\s*[=:]\s*[\"']?(?P<secret>[A-Za-z0-9/+=]{40})"), SECRET),
    (re.compile(r"\b(?P<secret>(?:sk|pk|rk)-[A-Za-z0-9_-]{16,})"), SECRET),  # sk-..., sk-proj-..., pk-lf-...
)

# Every detector needs one of these; text with none of them (most labels and names) is returned at once,
# without loading the detectors.
_MAYBE = re.compile(r"[@\d]|(?i:bearer|aws_secret)|[spr]k-|[rs]k_live|eyJ|PRIVATE KEY|gh[pousr]_|xox|glpat|"
                    r"A(?:KIA|SIA|BIA|CCA|3T)|SG\.|npm_|pypi-")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def findings(text: str) -> list[Finding]:
    """Where the personal data and secrets in `text` are, overlaps resolved: the longest wins, then RANK.
    Short texts are remembered (an alert storm repeats the same labels and summaries thousands of times)."""
    if not _MAYBE.search(text):
        return []
    if len(text) <= CACHED_TEXT:
        return list(_cached(text))
    return _find(text)


CACHED_TEXT = 2048  # characters; at most 4,096 such texts are kept: under 10 MB per process


@functools.lru_cache(maxsize=4096)
def _cached(text: str) -> tuple[Finding, ...]:
    return tuple(_find(text))


def _find(text: str) -> list[Finding]:
    try:
        found = detectors().find(text)
    except StillLoading:  # a line logged while this thread loads the detectors: our own patterns only
        found = []
    for pattern, kind in _OWN:
        found += [Finding(m.start("secret"), m.end("secret"), kind) for m in pattern.finditer(text)]
    chosen: list[Finding] = []
    for f in sorted(found, key=lambda f: (-(f.end - f.start), RANK[f.kind], f.start)):
        if all(f.end <= c.start or f.start >= c.end for c in chosen):
            chosen.append(f)
    return sorted(chosen, key=lambda f: f.start)


def redact_text(text: str, counts: Counter[str] | None = None) -> str:
    """The text with every finding replaced by its placeholder."""
    chosen = findings(text)
    if not chosen:
        return text
    tally: Counter[str] = counts if counts is not None else Counter()
    out, at = [], 0
    for f in chosen:
        out += [text[at:f.start], placeholder(f.kind)]
        tally[f.kind] += 1
        at = f.end
    out.append(text[at:])
    return "".join(out)


def redact_value(value: Any, counts: Counter[str] | None = None) -> Any:
    """JSON-like data with every string (keys included) redacted; numbers, booleans and None unchanged."""
    tally: Counter[str] = counts if counts is not None else Counter()
    if isinstance(value, str):
        return redact_text(value, tally)
    if isinstance(value, dict):
        return {redact_text(str(k), tally): redact_value(v, tally) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v, tally) for v in value]
    return value


T = TypeVar("T")


def outbound(value: T, keep: Collection[str] = (), counts: Counter[str] | None = None) -> T:
    """`value` as it may leave Firebreak: every string in it redacted (dict keys included), numbers untouched.

    A pydantic model comes back as a redacted copy of its own type; `keep` names top-level fields left as they
    are (configuration such as channel addresses or the playbook snapshot, identifiers such as fingerprints),
    which are Firebreak's own data, not what a trace or a person put in. Redacting twice changes nothing.
    """
    if isinstance(value, BaseModel):
        data = redact_value(value.model_dump(mode="json", exclude=set(keep)), counts)
        kept = {name: getattr(value, name) for name in keep if name in type(value).model_fields}
        return type(value).model_validate({**data, **kept})  # type: ignore[return-value]
    return redact_value(value, counts)  # type: ignore[no-any-return]
