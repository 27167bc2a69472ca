"""Nothing that leaves Firebreak carries the personal data or secrets an alert brought in.

One incident whose alert quotes an e-mail address, a phone number, a Luhn-valid card number and an `sk-...` key
(in its summary and its labels, where an Alertmanager annotation lands), started the way the Temporal UI or a
foreign sender would start it, past Firebreak's own redacting door, so every boundary has to do its own work:
the ticket, the drafts and briefs, the Slack (webhook and Web API, approval requests included), SMTP, Statuspage
and webhook messages, the pages, the retrospective, the risk register and the worker's JSON log lines. The SME's
edit carries more of the same and is redacted before sending. Each output must show the markers, so the test
cannot pass by sending nothing.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from client.actions import send_action
from client.temporal import raise_detections
from observability.logs import IncidentFilter, JsonFormatter, RedactingFormatter, configure_logging
from playbook.models import Resolution, RetrospectiveNotes, Role, Severity
from playbook.state import IncidentInput, IncidentState
from tests.behaviour import advance_to, read_jsonl, started, terminate_leftovers, worker  # noqa: F401
from tests.fake_channels import (  # noqa: F401  (channel_secrets is an autouse fixture)
    KIM,
    SLACK_TOKEN,
    STATUSPAGE_KEY,
    FakeSlack,
    FakeStatuspage,
    channel_secrets,
    serving,
    smtp_sink,
)
from tests.support import ROSTER, decision, detection, human, recorder, wait_for, write_playbook
from workflows.incident import IncidentWorkflow

EMAIL, PHONE, CARD, KEY = "jane.doe@example.com", "+44 20 7946 0958", "4111 1111 1111 1111", \
    "sk-proj-AbCdEf0123456789xyzXYZ"
RAW = (EMAIL, PHONE, CARD, KEY, "4111111111111111", "AbCdEf0123456789xyzXYZ", "7946 0958", "jane.doe")
LEAK = f"user {EMAIL} ({PHONE}) pasted card {CARD} and key {KEY} into the chat"
EDIT_LEAK = "Customer 555-123-4567 wrote from bob@example.org with Bearer eyJhbGciOiJIUzI1NiJ9.abc.def"
RAW_EDIT = ("555-123-4567", "bob@example.org", "eyJhbGciOiJIUzI1NiJ9")
@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The worker's own logging set-up (FIREBREAK_LOG_FORMAT=json) writing into a buffer for the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging(environ={"FIREBREAK_LOG_FORMAT": "json"})
    buffer = io.StringIO()
    root.handlers[0].setStream(buffer)  # type: ignore[attr-defined]
    try:
        yield buffer
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def clean(what: str, text: str, raw: tuple[str, ...] = RAW + RAW_EDIT, marked: bool = True) -> None:
    for value in raw:
        assert value not in text, f"{what} carries {value!r}"
    if marked:
        assert "[REDACTED:" in text, f"{what} shows no redaction marker: the check would pass vacuously"


def sent(state: IncidentState, label: str) -> bool:
    return any(e.what.startswith(f"{label} sent to ") for e in state.timeline)


async def test_nothing_that_leaves_firebreak_carries_the_alerts_pii(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path, json_log: io.StringIO) -> None:
    with serving(FakeSlack()) as slack, serving(FakeStatuspage()) as statuspage, smtp_sink() as smtp, \
            recorder() as hook:
        playbook = write_playbook(tmp_path, roster=ROSTER + KIM, body=f"""
[channels.ops_hook]
kind = "slack_webhook"
url = "{slack.url}/services/T0/B0/X0"
[channels.ops_slack]
kind = "slack"
channel = "C0INCIDENT"
base_url = "{slack.url}/api/"
[channels.leaders_mail]
kind = "email"
host = "127.0.0.1"
port = {smtp.port}
sender = "firebreak@example.com"
to = ["leaders@example.com"]
[channels.status]
kind = "statuspage"
page_id = "{statuspage.page_id}"
api_key_env = "STATUSPAGE_KEY"
base_url = "{statuspage.url}/v1"
[channels.hook]
kind = "webhook"
url = "{hook.url}/firebreak"
[communicate]
approval_channels = ["ops_slack"]
notify_channels = ["hook"]
[communicate.audiences.responders]
shape = "tactical"
channels = ["ops_hook", "ops_slack", "leaders_mail", "hook"]
[communicate.audiences.public]
shape = "tactical"
channels = ["status"]
external = true
[actions.check_chat]
kind = "manual"
instructions = "Check the conversation behind: ${{summary}}"
[services."*"]
stabilise = ["check_chat"]
""")
        async with worker(ts_env.client, task_queue, playbook, home) as ctx:
            # Started past the client's redaction, as `temporal workflow start` or the UI would.
            raw = detection(severity_hint=Severity.SEV1, summary=LEAK, labels={"user": EMAIL, "api_key": KEY})
            handle = started(await ts_env.client.start_workflow(
                IncidentWorkflow.run, IncidentInput(detection=raw), id=f"incident-{raw.fingerprint}",
                task_queue=task_queue, start_signal="alert", start_signal_args=[raw]))
            state = await wait_for(handle, lambda s: s.ticket is not None)
            number = str(state.number)
            # A second alert through Firebreak's own door (what the intake calls): redacted before Temporal.
            again = detection(severity_hint=Severity.SEV1, summary=f"again {EMAIL} {KEY}", alert_id="a-2",
                              fingerprint=raw.fingerprint)
            await raise_detections(ts_env.client, handle.id, [again], task_queue)
            await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
            state = await wait_for(handle, lambda s: any(a.request_id == "stabilise-1" for a in s.pending_approvals()))
            await handle.signal(IncidentWorkflow.approve, decision("stabilise-1", "olu", Role.AI_OPS))
            acked = state.acknowledged_at
            assert acked is not None
            await advance_to(ts_env, acked + timedelta(minutes=31))
            await wait_for(handle, lambda s: {a.request_id for a in s.pending_approvals()} >= {"brief-1",
                                                                                             "brief-1-public"})
            draft = (ctx.store.root / number / "briefs" / "0001-draft.md").read_text()
            edit = decision("brief-1", "sam", Role.DOMAIN_SME)
            edit.text = draft.replace("## Next steps", f"## Customer impact\n{EDIT_LEAK}\n\n## Next steps")
            await handle.signal(IncidentWorkflow.approve, edit)  # the SME's raw edit, as the UI would send it
            await handle.signal(IncidentWorkflow.approve, decision("brief-1-public", "sam", Role.DOMAIN_SME))
            await wait_for(handle, lambda s: any(a.request_id == "brief-1-public-release"
                                                 for a in s.pending_approvals()), ts_env)
            await handle.signal(IncidentWorkflow.approve, decision("brief-1-public-release", "kim",
                                                                   Role.COMMUNICATIONS))
            state = await wait_for(handle, lambda s: sent(s, "brief #1") and sent(s, "brief #1 (public)"), ts_env)
            # What people send through Firebreak's CLI, HTTP and Slack (send_action) is redacted before Temporal.
            note = await send_action(handle, IncidentWorkflow.add_note, human("ian", Role.INCIDENT_COMMANDER,
                                                                              f"called {PHONE}"), 10)
            assert note is not None and note.accepted
            await handle.signal(IncidentWorkflow.resolve, Resolution(**human("ian", Role.INCIDENT_COMMANDER,
                                                                             f"refunded {EMAIL}").model_dump()))
            await wait_for(handle, lambda s: s.retrospective_path is not None, ts_env)
            # The closing brief (it quotes the resolution's raw comment) goes out redacted too.
            await wait_for(handle, lambda s: {a.request_id for a in s.pending_approvals()} == {
                "brief-final", "brief-final-public"})
            for rid in ("brief-final", "brief-final-public"):
                await handle.signal(IncidentWorkflow.approve, decision(rid, "sam", Role.DOMAIN_SME))
            await wait_for(handle, lambda s: any(a.request_id == "brief-final-public-release"
                                                 for a in s.pending_approvals()))
            await handle.signal(IncidentWorkflow.approve, decision("brief-final-public-release", "kim",
                                                                   Role.COMMUNICATIONS))
            await wait_for(handle, lambda s: sent(s, "final brief") and sent(s, "final brief (public)"))
            await handle.signal(IncidentWorkflow.retrospective_done, RetrospectiveNotes(
                **human("ian", Role.INCIDENT_COMMANDER).model_dump(), root_cause=f"the bot echoed {CARD}"))
            state = await wait_for(handle, lambda s: s.closed_at is not None, ts_env)

    # Firebreak's door: the alert it let in is redacted in Temporal's own state and timeline.
    second = next(e for e in state.timeline if e.what == "alert a-2 received")
    clean("the second alert on the timeline", json.dumps(second.details))
    assert [e.details["text"] for e in state.timeline if e.what == "note"] == ["called [REDACTED:PHONE]"]
    # The ticket, the drafts and briefs as archived, the pages, the retrospective and the risk register.
    incident = ctx.store.root / number
    for name in ("ticket.json", "ticket.md", "notifications.jsonl", "retrospective.md", "retrospective.json"):
        clean(name, (incident / name).read_text())
    clean("risk register", (ctx.store.root / "_risk_register" / f"{number}.json").read_text())
    archived = sorted(p for p in [*incident.glob("briefs/*"), *incident.glob("comms/*")] if p.is_file())
    assert {"0001-draft.md", "0001-brief.md", "0001-edit.diff", "0001-public-brief.md", "0002-draft.md",
            "0002-brief.md", "0002-public-brief.md"} <= {p.name for p in archived}
    assert "refunded [REDACTED:EMAIL]" in (incident / "comms" / "0002-brief.md").read_text()
    for path in archived:
        clean(path.name, path.read_text(), marked=path.suffix in (".md", ".diff"))
    # The SME's edit went out, redacted, and the comms archive says what was taken out of it.
    brief = (incident / "comms" / "0001-brief.md").read_text()
    assert "## Customer impact\nCustomer [REDACTED:PHONE] wrote from [REDACTED:EMAIL] with Bearer " \
           "[REDACTED:TOKEN]" in brief
    records = {r["channel"]: r for r in read_jsonl(incident / "comms" / "archive.jsonl")
               if r["kind"] == "brief" and r["audience"] == "responders" and r["seq"] == 1}
    assert records["ops_slack"]["redacted"] == {"EMAIL": 1, "PHONE": 1, "TOKEN": 1}
    # Every message the channels received.
    assert len(slack.webhook_messages) == 2 and len(slack.brief_messages()) == 2  # brief #1 and the final brief
    # stabilise-1 (every gate is posted), brief-1, brief-1-public, its release and the same for the final
    assert len(slack.approval_requests()) == 7
    for message in [*slack.webhook_messages, *slack.messages, *slack.updates]:  # updates: decided, replaced
        clean("a Slack message", json.dumps(message))
    assert len(smtp.messages) == 2
    for mail in smtp.messages:
        clean("the e-mail", f"{mail['Subject']}\n{mail.get_content()}")
    (page,) = statuspage.incidents.values()
    clean("the Statuspage incident", json.dumps(page))
    for kind in ("incident_brief", "incident_notification"):  # some pages carry no alert text: checked together
        clean(f"the {kind} webhooks", "\n".join(r["body"] for r in hook.requests if f'"{kind}"' in r["body"]))
    # The worker's JSON log: the incident's opening line quoted the alert, redacted on its way out.
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    opened = [entry for entry in lines if f"{number} opened as SEV1" in entry["message"]]
    assert opened and opened[0]["incident"] == handle.id
    clean("the JSON log", json_log.getvalue())


def _record(msg: str, *args: Any, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("firebreak.test", logging.WARNING, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_log_formatters_redact_messages_extras_and_tracebacks() -> None:
    try:
        raise ValueError(f"cannot charge {CARD}")
    except ValueError:
        import sys

        exc = sys.exc_info()
    record = _record("mail %s with key %s", EMAIL, KEY, incident="incident-fp-1", caller=PHONE,
                     payload={"user": EMAIL})
    record.exc_info = exc
    IncidentFilter().filter(record)
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["message"] == "mail [REDACTED:EMAIL] with key [REDACTED:SECRET]"
    assert entry["caller"] == "[REDACTED:PHONE]" and "[REDACTED:EMAIL]" in entry["payload"]
    assert "cannot charge [REDACTED:CARD]" in entry["exception"] and entry["incident"] == "incident-fp-1"
    assert entry["level"] == "WARNING" and entry["ts"].startswith("20")  # timestamps are left alone
    clean("the JSON line", line, RAW)
    text = RedactingFormatter("%(levelname)s %(name)s: %(message)s").format(record)
    assert text.startswith("WARNING firebreak.test: mail [REDACTED:EMAIL] with key [REDACTED:SECRET]")
    clean("the text line", text, RAW)


def test_the_cli_redacts_an_edited_brief_and_tells_the_sme(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cli.people import _edited_text

    path = tmp_path / "edited.md"
    path.write_text(f"# Update\n\n{EDIT_LEAK}\n")
    text = _edited_text(str(path))
    assert text == "# Update\n\nCustomer [REDACTED:PHONE] wrote from [REDACTED:EMAIL] with Bearer [REDACTED:TOKEN]\n"
    assert capsys.readouterr().err == (f"firebreak: {path}: 1 e-mail address, 1 phone number, 1 bearer token replaced "
                                       f"with [REDACTED:...] markers; the brief is sent that way\n")


async def test_a_fingerprint_carrying_pii_is_hashed_and_still_groups(ts_env: WorkflowEnvironment, task_queue: str,
                                                                     tmp_path: Path, home: Path) -> None:
    """An Alertmanager groupKey holds its group_by label values: the user's e-mail must not become the incident's
    workflow id (shown in the UI, the CLI and every log line), and repeats must still join the same incident."""
    from client.temporal import incident_workflow_id, raise_detection

    group_key = f'{{}}:{{alertname="LeakedPII", user="{EMAIL}"}}'
    first = detection(fingerprint=group_key, alert_id=f"am:{EMAIL}:1")
    second = detection(fingerprint=group_key, alert_id=f"am:{EMAIL}:2")
    workflow_id = incident_workflow_id(first)
    assert workflow_id.startswith("incident-sha256-") and "jane" not in workflow_id
    assert incident_workflow_id(detection(fingerprint="fp-plain")) == "incident-fp-plain"  # unchanged otherwise

    async with worker(ts_env.client, task_queue, write_playbook(tmp_path), home):
        handle = started(await raise_detection(ts_env.client, first, task_queue=task_queue))
        assert handle.id == workflow_id
        await raise_detection(ts_env.client, second, task_queue=task_queue)
        state = await wait_for(handle, lambda s: s.alert_count == 2 and s.ticket is not None)
        assert state.detection.fingerprint is not None and state.detection.fingerprint.startswith("sha256:")
        assert len(state.seen_alert_ids) == 2 and all(a.startswith("sha256:") for a in state.seen_alert_ids)
        assert "jane.doe" not in state.model_dump_json()
