"""Redaction: replace personal data and secrets with typed placeholders before anything is stored.

Covers e-mail addresses, phone numbers, payment card numbers (only digit runs that pass the Luhn check),
and API keys / tokens (OpenAI-style `sk-...`, Langfuse `pk-lf-`/`sk-lf-`, `Bearer ...`, AWS access key ids,
GitHub and Slack tokens). Placeholders look like `[REDACTED:EMAIL]`, so a reader sees what was there.

`redact_text` works on one string; `redact_value` walks JSON-like data (dicts, lists, strings) and leaves
numbers and booleans alone. Both count what they replaced, so the evidence pack can say how much it hid.

`outbound` is the one function every boundary where data leaves Firebreak calls: the ticket writer, the brief
drafter and channel senders, the Slack approval requests, notifications, the retrospective and risk register, the
log formatters, and the doors into Temporal (detections in client/temporal.py, people's actions in
client/actions.py). It takes strings, JSON-like data or pydantic models (returning a redacted copy of the same
type), so a new channel or artefact redacts with one call.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from pydantic import BaseModel

EMAIL = "EMAIL"
PHONE = "PHONE"
CARD = "CARD"
SECRET = "SECRET"
TOKEN = "TOKEN"


_NAMES = {EMAIL: "e-mail address", PHONE: "phone number", CARD: "card number", SECRET: "API key or secret",
          TOKEN: "bearer token"}


def placeholder(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def describe(counts: Counter[str] | dict[str, int]) -> str:
    """'1 e-mail address, 2 card numbers': what a redaction replaced, for telling the person who wrote it."""
    return ", ".join(f"{n} {_NAMES.get(kind, kind.lower())}{'' if n == 1 else 's'}"
                     for kind, n in sorted(counts.items()) if n)


_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}")
_SECRETS = re.compile(
    r"\b(?:"
    r"(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}"            # sk-..., sk-proj-..., sk-lf-..., pk-lf-...
    r"|(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{16}"  # AWS access key ids
    r"|gh[pousr]_[A-Za-z0-9]{20,}"                # GitHub tokens
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"              # Slack tokens
    r")")
_AWS_SECRET = re.compile(r"(?i)(aws_secret_access_key\s*[=:]\s*[\"']?)[A-Za-z0-9/+=]{40}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<![\w.])\d(?:[ -]?\d){12,18}(?!\w|\.\d)")
_PHONE = re.compile(
    r"(?<![\w+.])(?:"
    r"\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]?\d{2,4}){1,3}"   # +44 20 7946 0958, +15551234567
    r"|\(\d{2,4}\)[\s.-]?\d{3,4}[\s.-]?\d{3,4}"                                # (555) 123-4567
    r"|\d{3}[\s.-]\d{3,4}[\s.-]\d{4}"                                          # 555-123-4567
    r")(?!\w|\.\d)")


# Every pattern above needs one of these; text with none of them (most labels and names) is returned at once.
_MAYBE = re.compile(r"[@\d]|(?i:bearer|aws_secret_access_key)|[spr]k-|A(?:KIA|SIA|GPA|IDA|ROA)|gh[pousr]_"
                    r"|xox[abposr]-")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def redact_text(text: str, counts: Counter[str] | None = None) -> str:
    """The text with secrets, e-mails, card numbers and phone numbers replaced, in that order."""
    if not _MAYBE.search(text):
        return text
    tally: Counter[str] = counts if counts is not None else Counter()

    def sub(pattern: re.Pattern[str], kind: str, keep: Callable[[re.Match[str]], str] | None = None) -> None:
        nonlocal text

        def repl(m: re.Match[str]) -> str:
            tally[kind] += 1
            return (keep(m) if keep else "") + placeholder(kind)
        text = pattern.sub(repl, text)

    sub(_BEARER, TOKEN, lambda m: m.group(1) + " ")
    sub(_AWS_SECRET, SECRET, lambda m: m.group(1))
    sub(_SECRETS, SECRET)
    sub(_EMAIL, EMAIL)

    def card(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            tally[CARD] += 1
            return placeholder(CARD)
        return m.group(0)
    text = _CARD.sub(card, text)
    sub(_PHONE, PHONE)
    return text


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
