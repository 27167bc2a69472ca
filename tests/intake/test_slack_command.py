"""Slack's slash command, signed exactly as Slack signs it (v0, HMAC-SHA256 of 'v0:{timestamp}:{body}'), answered
within 3 s with the incident's summary or its own answer: /firebreak status, ack and declare as the roster person
whose Slack id typed it. Real intake (uvicorn), real dev server, real worker."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from temporalio.testing import WorkflowEnvironment

from client.temporal import incident_workflow_id
from playbook.models import Detection, SignalKind
from tests.behaviour import (
    started,
    terminate_leftovers,  # noqa: F401  (autouse)
)
from tests.intake.support import Running
from tests.intake.test_people import SLACK_SECRET, open_incident, people_api
from tests.support import incident_worker, wait_for


async def command(api: Running, user: str, text: str, secret: str = SLACK_SECRET) -> tuple[int, dict[str, Any], float]:
    """The form Slack posts for a slash command (its documented fields), signed."""
    body = urlencode({"token": "deprecated", "team_id": "T0001", "team_domain": "example", "channel_id": "C0INC",
                      "channel_name": "incidents", "user_id": user, "user_name": user.lower(),
                      "command": "/firebreak", "text": text, "api_app_id": "A0001",
                      "response_url": "https://hooks.slack.com/commands/T0001/1/abc",
                      "trigger_id": "123.456.abc"}).encode()
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    started_at = time.monotonic()
    r = await api.http.post("/v1/slack/commands", content=body, headers={
        "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig,
        "Content-Type": "application/x-www-form-urlencoded"})
    return r.status_code, r.json(), time.monotonic() - started_at


async def test_firebreak_status_ack_and_declare_from_slack(dev_env: WorkflowEnvironment, task_queue: str,
                                                          tmp_path: Path, home: Path) -> None:
    async with people_api(dev_env, task_queue, tmp_path) as (api, _, playbook), \
            incident_worker(dev_env.client, task_queue, playbook, home):
        handle, number = await open_incident(dev_env, task_queue)

        status, body, _ = await command(api, "U0IAN", f"status {number}", secret="wrong")
        assert status == 401 and "signature" in body["message"]
        status, body, _ = await command(api, "U0NOBODY", f"status {number}")
        assert status == 200 and "not on Firebreak's roster" in body["text"]
        status, body, _ = await command(api, "U0IAN", "help")
        assert status == 200 and body["text"].startswith("Usage:")

        status, body, took = await command(api, "U0IAN", f"status {number}")
        assert status == 200 and took < 3, (took, body)
        assert body["response_type"] == "ephemeral" and f"*{number}*" in body["text"]
        assert "not acknowledged yet" in body["text"] and "toxicity on support-bot" in body["text"]
        status, body, _ = await command(api, "U0IAN", "status PZZZ-2026-9999")
        assert status == 200 and body["text"].startswith("Not done: no incident PZZZ-2026-9999")

        status, body, took = await command(api, "U0IAN", f"ack {number}")
        assert status == 200 and took < 3, (took, body)
        assert body == {"response_type": "in_channel", "text": f"{number}: acknowledged by ian."}
        await wait_for(handle, lambda s: s.acknowledged_by == "ian")
        status, body, _ = await command(api, "U0OLU", f"ack {number}")
        assert "refused: already acknowledged by ian" in body["text"]

        status, body, _ = await command(api, "U0IAN", "declare nonsense api-svc")
        assert status == 200 and body["text"].startswith("Not declared:")
        status, body, took = await command(api, "U0IAN", "declare hallucination api-svc made-up refund policy")
        assert status == 200 and took < 3, (took, body)
        declared = Detection(source="slack:ian", kind=SignalKind.HALLUCINATION, services=["api-svc"],
                             summary="made-up refund policy")
        started(dev_env.client.get_workflow_handle(incident_workflow_id(declared)))  # terminated after the test
        if body["response_type"] == "in_channel":  # a worker opened it within the 3 s
            assert body["text"].startswith("ian declared an incident.") and "hallucination on api-svc" in body["text"]
        else:
            assert body["text"].startswith("Declared (workflow incident-")
