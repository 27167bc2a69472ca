"""Redaction: each kind of personal data or secret becomes its typed placeholder; look-alikes stay."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from playbook.detectors import detectors
from playbook.redact import luhn_valid, redact_text, redact_value


@pytest.mark.parametrize(("raw", "expected"), [
    ("mail jane.doe+vip@example.co.uk now", "mail [REDACTED:EMAIL] now"),
    ("call +44 20 7946 0958 today", "call [REDACTED:PHONE] today"),
    ("call (555) 123-4567", "call [REDACTED:PHONE]"),
    ("call 555-123-4567.", "call [REDACTED:PHONE]."),
    ("INC-2026-0042: call +44 20 7946 0958", "INC-2026-0042: call [REDACTED:PHONE]"),  # beside an incident number
    ("DRILL-2026-0003 555-123-4567", "DRILL-2026-0003 [REDACTED:PHONE]"),
    ("TEL-0207-9460958", "TEL-[REDACTED:PHONE]"),  # a prefix, but no year: still read as a phone
    ("card 4111 1111 1111 1111 exp", "card [REDACTED:CARD] exp"),
    ("card 5500-0000-0000-0004", "card [REDACTED:CARD]"),
    ("key sk-proj-AbCdEf0123456789xyzXYZ", "key [REDACTED:SECRET]"),
    ("lf sk-lf-0123456789abcdef0123", "lf [REDACTED:SECRET]"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def", "Authorization: Bearer [REDACTED:TOKEN]"),
    ("aws AKIAIOSFODNN7EXAMPLE", "aws [REDACTED:SECRET]"),
    ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key=[REDACTED:SECRET]"),
])
def test_each_kind_is_replaced_with_its_placeholder(raw: str, expected: str) -> None:
    assert redact_text(raw) == expected


@pytest.mark.parametrize("raw", [
    "order 4111 1111 1111 1112",                 # fails the Luhn check: not a card
    "2026-11-27T12:02:05.123Z",                  # a timestamp
    "trace 0af7651916cd43dd8448eb211c80319c",    # a trace id
    "550e8400-e29b-41d4-a716-446655440000",      # a uuid
    "score 0.9123456789 version 12",
    "task-runner sk-short",
    "INC-2026-0042 needs acknowledgement",       # an incident number
])
def test_look_alikes_are_left_alone(raw: str) -> None:
    assert "REDACTED:CARD" not in redact_text(raw)
    if "4111" not in raw:
        assert redact_text(raw) == raw


def test_luhn() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112")


def test_values_are_walked_and_counted_numbers_untouched() -> None:
    counts: Counter[str] = Counter()
    data = {"user bob@example.com": ["ring 555-123-4567", {"n": 4111111111111111, "ok": True}], "v": 0.5}
    assert redact_value(data, counts) == {
        "user [REDACTED:EMAIL]": ["ring [REDACTED:PHONE]", {"n": 4111111111111111, "ok": True}], "v": 0.5}
    assert counts == {"EMAIL": 1, "PHONE": 1}


def test_outbound_redacts_a_model_into_its_own_type_keeping_named_fields() -> None:
    from playbook.redact import describe, outbound
    from tests.support import detection

    raw = detection(summary="from jane@example.com, card 4111 1111 1111 1111",
                    labels={"key": "sk-lf-0123456789abcdef0123"}, fingerprint="fp-jane@example.com")
    counts: Counter[str] = Counter()
    clean = outbound(raw, keep=("fingerprint",), counts=counts)
    assert type(clean) is type(raw) and clean.summary == "from [REDACTED:EMAIL], card [REDACTED:CARD]"
    assert clean.labels == {"key": "[REDACTED:SECRET]"} and clean.fingerprint == "fp-jane@example.com"
    assert clean.metrics == raw.metrics and clean.detected_at == raw.detected_at
    assert outbound(clean, keep=("fingerprint",)) == clean  # redacting twice changes nothing
    assert describe(counts) == "1 card number, 1 e-mail address, 1 API key or secret"
    assert outbound(["ring 555-123-4567", 3]) == ["ring [REDACTED:PHONE]", 3]


def texts_read_by(recognizer: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts a kept recognizer is asked to analyze from now on (it still answers as it would)."""
    read: list[str] = []
    analyze = recognizer.analyze

    def reading(text: str, *rest: object) -> object:
        read.append(text)
        return analyze(text, *rest)

    monkeypatch.setattr(recognizer, "analyze", reading)
    return read


def test_incident_numbers_are_not_read_for_phones(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nearly every text that leaves names its incident number; libphonenumber (~0.5 ms a call) is spared it, and
    still reads a phone beside it."""
    read = texts_read_by(detectors().phone, monkeypatch)
    assert redact_text("INC-2026-0042 and OPS7-2031-12345 opened") == "INC-2026-0042 and OPS7-2031-12345 opened"
    assert read == []
    assert redact_text("INC-2026-0043 call 555-123-4567") == "INC-2026-0043 call [REDACTED:PHONE]"
    assert read and "INC-2026-0043" not in read[0]


def test_ids_that_cannot_start_a_card_are_not_handed_to_the_card_recognizer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Presidio's card pattern starts at a word boundary with 1, 3, 4, 5 or 6: a zero-padded fingerprint or id is
    not read for cards (~0.15 ms each), and a card is still found."""
    card = next(rec for _, rec in detectors().recognizers if type(rec).__name__ == "CreditCardRecognizer")
    read = texts_read_by(card, monkeypatch)
    ids = "alert 0000000000000fa0, order 2026112700001234"
    assert redact_text(ids) == ids
    assert read == []
    assert redact_text("refund to 4111 1111 1111 1111 today") == "refund to [REDACTED:CARD] today" and read


def test_bare_digit_runs_are_not_read_for_phones(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare run of digits is never a phone here (it needs +, ( or separators), so libphonenumber is not asked."""
    read = texts_read_by(detectors().phone, monkeypatch)
    ids = "epoch 1764496123 id 00000000000000417 ratio 3.14159265358"
    assert redact_text(ids) == ids
    assert read == []
    assert redact_text("ring +442079460958 or 0000000000000418") == "ring [REDACTED:PHONE] or 0000000000000418"
    assert read and "0000000000000418" not in read[0]
