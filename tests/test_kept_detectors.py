"""A corpus of every kind the kept detectors find (Presidio, libphonenumber, detect-secrets), and near-misses that
must stay, through every way out: the redaction function itself, the door into Temporal, the ticket, the brief
(drafted, then sent to a real HTTP webhook), the evidence pack, the log formatter and the PII watcher's scan of
traces in a fake Langfuse. The detectors run with no spaCy model and never reach the network.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.communicate import CommunicateActivities
from activities.context import ActivityContext
from activities.investigate import InvestigateActivities
from activities.tickets import TicketActivities
from integrations.artefacts import ArtefactStore
from observability.logs import JsonFormatter
from playbook.config import DataExposureWatcher, WebhookChannel
from playbook.messages import BriefInput, EvidenceInput, SendBrief, TicketInput
from playbook.models import IncidentStatus, Severity, Step
from playbook.redact import KINDS, describe, outbound, redact_text
from playbook.state import IncidentState
from tests.support import detection, recorder

JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5"
       "MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\n"
       "aFDrBz9vFqU4yV0sM1Gq7ZlQp3b2NrB8xW+5m9QeTq0kPDd1x5mGz9Q==\n-----END RSA PRIVATE KEY-----")
# (kind, what leaks); each must leave as [REDACTED:<kind>] and nothing of it may be seen.
CORPUS: list[tuple[str, str]] = [
    ("EMAIL", "jane.doe+vip@example.co.uk"),
    ("EMAIL", "jo@billing.corp.internal"),
    ("PHONE", "+44 20 7946 0958"),
    ("PHONE", "(415) 555-2671"),
    ("CARD", "4111 1111 1111 1111"),
    ("CARD", "5500-0000-0000-0004"),
    ("IBAN", "GB82 WEST 1234 5698 7654 32"),
    ("IBAN", "DE89370400440532013000"),
    ("IP", "203.0.113.77"),
    ("IP", "2001:db8:85a3::8a2e:370:7334"),
    ("NATIONAL_ID", "536-22-1942"),        # a US SSN
    ("NATIONAL_ID", "AB 12 34 56 C"),      # a UK National Insurance number
    ("TOKEN", JWT),
    ("SECRET", PEM),
    ("SECRET", "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"),            # GitHub
    ("SECRET", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),  # Slack
    ("SECRET", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),                    # Stripe
    ("SECRET", "AKIAIOSFODNN7EXAMPLE"),                                # AWS access key id
    ("SECRET", "sk-lf-0123456789abcdef0123"),                          # Langfuse (ours)
]
# Raw fragments that must not survive anywhere (the PEM's body line, not just its header).
FRAGMENTS = [raw for _, raw in CORPUS] + ["MIIEowIBAAKCAQEA0Z3VS5JJ", "7946 0958", "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV"]
NEAR_MISSES = [
    "release v2.10.3", "python 3.11.7", "on 2026-11-30 at 04:05:06", "2026-11-27T12:02:05.123Z",
    "2026-11-30 04:19:05,118 WARNING", "between 10:30 and 11:45",
    "run 550e8400-e29b-41d4-a716-446655440000", "commit 9dca1cf", "commit a7fc797e2b6d9c4f1e0a3b5d7c9e1f3a5b7d9c1e",
    "trace 0af7651916cd43dd8448eb211c80319c", "epoch 1732950000", "p95 0.9123456789 over 0.8", "port 8080",
    "order 4111 1111 1111 1112", "ratio 3/4", "retries 12 of 500", "sk-short", "INC-2026-0042",
    "intake at http://127.0.0.1:8800/readyz", "listening on [::1]:7233 and 0.0.0.0:8080",
]
LEAK = " | ".join(f"{kind.lower()}: {raw}" for kind, raw in CORPUS)
KEPT = " | ".join(NEAR_MISSES)
EXPECTED = Counter(kind for kind, _ in CORPUS)


def clean(what: str, text: str) -> None:
    for raw in FRAGMENTS:
        assert raw not in text, f"{what} carries {raw!r}"
    for kind in EXPECTED:
        assert f"[REDACTED:{kind}]" in text, f"{what} shows no [REDACTED:{kind}]"
    for kept in NEAR_MISSES:
        assert kept in text, f"{what} lost the near-miss {kept!r}"


@pytest.fixture(scope="module")
def offline() -> Iterator[None]:
    """No connection may be opened while the detectors load and run (Presidio's e-mail check would fetch the
    public-suffix list)."""
    real = socket.socket.connect

    def refuse(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"the detectors tried to reach {address}")
        real(self, address)

    socket.socket.connect = refuse  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        socket.socket.connect = real  # type: ignore[method-assign]


@pytest.mark.parametrize(("kind", "raw"), CORPUS)
def test_each_kind_is_found_by_a_kept_detector(offline: None, kind: str, raw: str) -> None:
    counts: Counter[str] = Counter()
    assert redact_text(f"before {raw} after", counts) == f"before [REDACTED:{kind}] after"
    assert counts == {kind: 1}


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_stay(offline: None, text: str) -> None:
    assert redact_text(text) == text


def test_the_whole_corpus_in_one_text_and_no_model_is_installed_or_loaded(offline: None) -> None:
    import sys

    import spacy.util

    counts: Counter[str] = Counter()
    text = redact_text(f"{LEAK} || {KEPT}", counts)
    clean("the redacted text", text)
    assert counts == EXPECTED and set(counts) <= set(KINDS)
    assert redact_text(text) == text  # redacting twice changes nothing
    assert describe({"IBAN": 2, "IP": 1, "NATIONAL_ID": 2}) == "2 IBANs, 1 IP address, 2 national id numbers"
    assert spacy.util.get_installed_models() == [] and not [m for m in sys.modules if m.startswith("en_core")]


def _state() -> IncidentState:
    now = datetime.now(UTC)
    return IncidentState(workflow_id="incident-x", number="INC-2026-0042", severity=Severity.SEV1,
                         status=IncidentStatus.ACKNOWLEDGED, step=Step.CONTAIN, acknowledged_by="ian",
                         detection=detection(summary=f"{LEAK} || {KEPT}", labels={"user": LEAK, "kept": KEPT},
                                             detected_at=now - timedelta(minutes=5)))


def test_every_way_out_uses_the_kept_detectors(offline: None, tmp_path: Path) -> None:
    store = ArtefactStore(tmp_path / "artefacts")
    ctx = ActivityContext(store=store, playbook_path=tmp_path / "playbook.toml")
    env, state = ActivityEnvironment(), _state()
    leaky = state.detection

    # The door into Temporal (client/temporal.py and the intake call outbound on every Detection).
    clean("the detection as it enters Temporal", outbound(leaky).model_dump_json())

    # The ticket.
    env.run(TicketActivities(ctx).create_ticket, TicketInput(workflow_id="incident-x", number="INC-2026-0042",
                                                             severity=Severity.SEV1, detection=leaky,
                                                             opened_at=datetime.now(UTC)))
    for name in ("ticket.json", "ticket.md"):
        clean(name, (store.root / "INC-2026-0042" / name).read_text())

    # The brief: drafted (what the approver sees), then sent to a webhook channel over HTTP.
    comms = CommunicateActivities(ctx)
    brief = env.run(comms.draft_brief, BriefInput(state=state, seq=1, next_update_due=None))
    assert "[REDACTED:" in brief.text and not any(raw in brief.text for raw in FRAGMENTS)
    edited = brief.model_copy(update={"text": f"{brief.text}\n\nSME: {LEAK} || {KEPT}"})  # the raw edit
    with recorder() as hook:
        env.run(comms.send_brief, SendBrief(key="k-1", channel="hook", brief=edited, approved_by="sam",
                                            channel_config=WebhookChannel(url=f"{hook.url}/firebreak")))
    (request,) = hook.requests
    clean("the webhook brief", json.loads(request["body"])["text"])

    # The evidence pack's copy of the detection.
    env.run(InvestigateActivities(ctx).collect_evidence, EvidenceInput(
        incident_number="INC-2026-0042", workflow_id="incident-x", detection=leaky, sources={}, variables={}))
    clean("the evidence pack", (store.root / "INC-2026-0042" / "evidence" / "detection.json").read_text())

    # A log line.
    import logging
    record = logging.LogRecord("firebreak.test", logging.WARNING, __file__, 1, "%s || %s", (LEAK, KEPT), None)
    clean("the JSON log line", json.loads(JsonFormatter().format(record))["message"])


def test_the_pii_watcher_counts_every_kind_and_never_the_near_misses(offline: None) -> None:
    from langfuse import Langfuse

    from integrations.langfuse.scans import scan_pii
    from tests.fake_langfuse import fake_langfuse

    with fake_langfuse() as fake:
        now = datetime.now(UTC)
        for i, (_, raw) in enumerate(CORPUS):
            fake.add_observation(trace_id=f"{i:032x}", start=now - timedelta(minutes=2), input="help",
                                 output=f"here you go: {raw}")
        fake.add_observation(trace_id="f" * 32, start=now - timedelta(minutes=2), input=KEPT, output=KEPT)
        client = Langfuse(public_key=fake.public_key, secret_key=fake.secret_key, base_url=fake.url,
                          tracing_enabled=False)
        watcher = DataExposureWatcher(kind="data_exposure", service="support-bot", base_url=fake.url)
        scan = scan_pii(client, watcher, now - timedelta(minutes=10), now)
    assert scan.scanned == len(CORPUS) + 1
    assert "f" * 32 not in scan.traces  # the near-misses are not findings
    assert {trace: kinds for trace, kinds in scan.traces.items()} == {
        f"{i:032x}": {kind: 1} for i, (kind, _) in enumerate(CORPUS)}


def test_workflow_code_never_loads_the_detectors() -> None:
    """Redaction runs in activities, the intake and the CLI: the workflows (and so every workflow sandbox, per
    workflow run) import neither redaction nor Presidio, spaCy or detect-secrets."""
    import subprocess
    import sys

    probe = ("import sys, workflows.incident, workflows.watch; print(sorted(m for m in sys.modules if m.split('.')[0] "
             "in ('presidio_analyzer', 'spacy', 'detect_secrets', 'phonenumbers') or m in ('playbook.redact', "
             "'playbook.detectors')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
