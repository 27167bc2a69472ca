"""The kept detectors behind playbook/redact.py: Presidio's pattern recognizers and detect-secrets' plugins.

Presidio (with Google's libphonenumber for phones) finds e-mail addresses, phone numbers, card numbers (Luhn),
IBANs (checksum), IP addresses and national ids (US SSN, UK NINO); detect-secrets' plugins find provider tokens
(AWS, GitHub, Slack, Stripe, OpenAI and more), JWTs and private keys. Both projects maintain these patterns and
validators; this module only runs them and says where in the text each finding is.

Presidio's recognizers are called one by one, without its AnalyzerEngine and so without any spaCy pipeline or
model: nothing is downloaded. The one network lookup they would make, tldextract fetching the public-suffix list
to validate an e-mail domain, is left out (see AnyDomainEmail).

Loading them costs about 1 s of CPU and 57-78 MB once per process (spaCy comes with presidio), so nothing is
imported until the first text that could hold a finding, or a server's start (observability/logs.py loads them
before it installs the redacting log formatters), and then once, under a lock (activities run in threads).
Nothing is loaded per incident or per workflow.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from dataclasses import dataclass
from typing import Any

EMAIL, PHONE, CARD, SECRET, TOKEN = "EMAIL", "PHONE", "CARD", "SECRET", "TOKEN"
IBAN, IP, NATIONAL_ID = "IBAN", "IP", "NATIONAL_ID"
KINDS = (EMAIL, PHONE, CARD, SECRET, TOKEN, IBAN, IP, NATIONAL_ID)
# Which finding wins where two overlap and are as long: secrets first, phones (the loosest) last.
RANK = {SECRET: 0, TOKEN: 1, CARD: 2, IBAN: 3, NATIONAL_ID: 4, EMAIL: 5, IP: 6, PHONE: 7}
PRESIDIO = {"EMAIL_ADDRESS": EMAIL, "PHONE_NUMBER": PHONE, "CREDIT_CARD": CARD, "IBAN_CODE": IBAN,
            "IP_ADDRESS": IP, "US_SSN": NATIONAL_ID, "UK_NINO": NATIONAL_ID}
MIN_SCORE = 0.3  # Presidio's "very weak" patterns (0.05: any 9 digits is an SSN) need context words we do not use

# detect-secrets plugins whose patterns name a provider's token format (entropy and keyword plugins are left
# out: they flag commit shas, trace ids and hashes, which must stay readable).
SECRET_PLUGINS = ("aws.AWSKeyDetector", "github_token.GitHubTokenDetector", "gitlab_token.GitLabTokenDetector",
                  "slack.SlackDetector", "stripe.StripeDetector", "openai.OpenAIDetector",
                  "sendgrid.SendGridDetector", "twilio.TwilioKeyDetector", "npm.NpmDetector",
                  "pypi_token.PypiTokenDetector", "discord.DiscordBotTokenDetector", "mailchimp.MailchimpDetector",
                  "square_oauth.SquareOAuthDetector", "telegram_token.TelegramBotTokenDetector")
_JWT_TAIL = re.compile(r"[A-Za-z0-9_=-]*")  # the rest of a token-like word
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_PHONE_NOT = re.compile(r"\d+(?:\.\d+)?")  # a bare number or a decimal is not a phone without + ( or separators
# Where a phone number could be: 7+ digits with separators between. libphonenumber reads only these stretches
# (it is slow on long texts: ~1 s for 40 KB, against ~1 ms for these stretches).
_PHONE_AT = re.compile(r"\+?\(?\d[\d\s().\-/]{5,}\d")
_DATE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")
# Dates and times, masked before looking for phones: "2026-11-30 04:19" must not read as a phone number.
_WHEN = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:[.,]\d+)?)?|\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?")
# Incident numbers as the store allocates them (`INC-2026-0042`: the playbook's prefix, the year, the sequence),
# masked too: nearly every text that leaves names one, and libphonenumber takes ~0.5 ms to say it is no phone.
_NUMBERED = re.compile(r"\b[A-Z][A-Z0-9]{0,9}-(?:19|20)\d{2}-\d{4,}\b")
_GAP = " ;\n\n; "  # between joined stretches: no phone number spans it


@dataclass(frozen=True)
class Finding:
    start: int
    end: int
    kind: str


class _Detectors:
    def __init__(self) -> None:
        from detect_secrets.plugins.jwt import JwtTokenDetector
        from detect_secrets.plugins.private_key import PrivateKeyDetector
        from presidio_analyzer.predefined_recognizers import (
            CreditCardRecognizer,
            EmailRecognizer,
            IbanRecognizer,
            IpRecognizer,
            PhoneRecognizer,
            UkNinoRecognizer,
            UsSsnRecognizer,
        )

        class AnyDomainEmail(EmailRecognizer):  # type: ignore[misc]
            """Presidio's e-mail pattern without its public-suffix check: that check fetches the suffix list over
            the network, and it drops addresses at internal domains (corp.internal, acme.example), which are
            personal data all the same."""

            def validate_result(self, pattern_text: str) -> None:
                return None  # keep the pattern's own score

        self.phone: Any = PhoneRecognizer()
        # Each with a gate: a cheap pattern that every text the recognizer could find something in matches (read
        # off its own patterns), so that the recognizer's slower regexes run only where they can find something.
        self.recognizers: list[tuple[re.Pattern[str], Any]] = [
            (re.compile("@"), AnyDomainEmail()),
            # 13+ digits from a word boundary, the first 1, 3, 4, 5 or 6: where Presidio's card pattern can start
            # (an id or fingerprint of zero-padded digits, `0000000000000fa0`, is not handed to it: ~0.15 ms each)
            (re.compile(r"\b[13456](?:[- ]?\d){12}"), CreditCardRecognizer()),
            (re.compile(r"[A-Z]{2}\d{2}"), IbanRecognizer()),                  # the country code and check digits
            (re.compile(r"\d{1,3}(?:\.\d{1,3}){3}|::|(?:[0-9A-Fa-f]{1,4}:){7}"), IpRecognizer()),
            (re.compile(r"\d{3}[- .]\d{2}[- .]\d{4}"), UsSsnRecognizer()),   # its patterns over MIN_SCORE
            (re.compile(r"(?i)[a-z]{2} ?\d{2} ?\d{2} ?\d{2} ?[a-d]"), UkNinoRecognizer()),
        ]
        self.secrets = [re.compile(p.pattern) for plugin in _plugins(SECRET_PLUGINS) for p in plugin.denylist]
        self.jwt = JwtTokenDetector()
        self.private_key = [re.compile(p.pattern) for p in PrivateKeyDetector().denylist]

    def find(self, text: str) -> list[Finding]:
        found: list[Finding] = []
        for gate, rec in self.recognizers:
            if not gate.search(text):
                continue
            for r in rec.analyze(text, rec.supported_entities, None):
                kind = PRESIDIO.get(r.entity_type)
                if kind is not None and r.score >= MIN_SCORE and not (kind == IP and _local(text[r.start:r.end])):
                    found.append(Finding(r.start, r.end, kind))
        found += self._phones(text, found)
        for pattern in self.secrets:  # to the end of the word: Slack's pattern stops at the first capital
            found += [Finding(m.start(), _word_end(text, m.end()), SECRET) for m in pattern.finditer(text)
                      if m.end() > m.start()]
        for pattern in self.jwt.denylist:
            for m in pattern.finditer(text):
                end = _word_end(text, m.end())  # the signature: the plugin's pattern stops short of it
                if self.jwt.is_formally_valid(text[m.start():end]):
                    found.append(Finding(m.start(), end, TOKEN))
        for pattern in self.private_key:
            for m in pattern.finditer(text):
                found.append(Finding(*_pem_block(text, m.start(), m.end()), SECRET))
        return found


    def _phones(self, text: str, taken: list[Finding]) -> list[Finding]:
        """libphonenumber over the stretches that could be phones and are not already a card, an IP or an id,
        joined into one text (one call, not one per stretch: each costs ~1 ms, and ~6 ms per phone-like
        stretch over its eight regions), mapped back to where they were."""
        for not_phone in (_WHEN, _NUMBERED):
            text = not_phone.sub(lambda m: "x" * len(m.group(0)), text)  # same length: the offsets hold
        parts, starts, at = [], [], 0
        for m in _PHONE_AT.finditer(text):
            s = m.group(0)
            if any(f.start <= m.start() + 1 and m.end() - 1 <= f.end for f in taken):
                continue
            # A bare run of digits (or a decimal) is never kept as a phone (below), so it is not read for one
            # either: epoch seconds, long ids and zero-padded counters cost libphonenumber ~0.2 ms each.
            if sum(c.isdigit() for c in s) >= 7 and not _DATE.fullmatch(s.strip()) and not _PHONE_NOT.fullmatch(s):
                begin = max(0, m.start() - 1)  # one character before: libphonenumber looks at what precedes
                parts.append(text[begin:m.end() + 1])
                starts.append((at, begin))
                at += len(parts[-1]) + len(_GAP)
        if not parts:
            return []
        joined = _GAP.join(parts)
        found = []
        for r in self.phone.analyze(joined, self.phone.supported_entities, None):
            if r.score < MIN_SCORE or _PHONE_NOT.fullmatch(joined[r.start:r.end]):
                continue
            offset, begin = next((o, b) for o, b in reversed(starts) if o <= r.start)
            found.append(Finding(begin + r.start - offset, begin + r.end - offset, PHONE))
        return found


def _local(address: str) -> bool:
    """Loopback and unspecified addresses (127.0.0.1, ::1, 0.0.0.0) name no one: they stay."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


def _word_end(text: str, end: int) -> int:
    return end + len(_JWT_TAIL.match(text, end).group(0))  # type: ignore[union-attr]


def _plugins(names: tuple[str, ...]) -> list[Any]:
    import importlib

    out = []
    for name in names:
        module, cls = name.rsplit(".", 1)
        out.append(getattr(importlib.import_module(f"detect_secrets.plugins.{module}"), cls)())
    return out


def _pem_block(text: str, start: int, end: int) -> tuple[int, int]:
    """The whole PEM block around a 'BEGIN ... PRIVATE KEY' header: to its END line, or to the end of the text
    when it was cut off (the body alone is the secret)."""
    begin = text.rfind("-----", 0, start)
    start = begin if begin != -1 and start - begin <= 5 else start
    closing = _PEM_END.search(text, end)
    return start, closing.end() if closing else len(text)


_lock = threading.Lock()
_loading = threading.local()
_loaded: _Detectors | None = None


class StillLoading(RuntimeError):
    """Asked for the detectors by the thread that is loading them: a log line written during their imports,
    redacted by a redacting log formatter. Waiting on the lock there would deadlock that thread for good."""


def detectors() -> _Detectors:
    """The detectors, loaded on first use and kept for the life of the process."""
    global _loaded
    if _loaded is None:
        if getattr(_loading, "active", False):
            raise StillLoading("the detectors are being loaded by this thread")
        with _lock:
            if _loaded is None:
                _loading.active = True
                try:
                    _loaded = _Detectors()
                finally:
                    _loading.active = False
    return _loaded


def loaded() -> bool:
    return _loaded is not None
