"""People in the loop over HTTP and Slack: personal tokens, approvals answered with the workflow's own outcome,
and Slack buttons verified exactly as Slack signs them. Real intake (uvicorn), real dev server, real worker."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import stat
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from temporalio.testing import WorkflowEnvironment

from intake.app import create_app
from intake.people import People
from intake.tokens import TokenStore
from integrations.slack import approval_blocks
from playbook.config import load_playbook
from playbook.models import ApprovalStatus
from playbook.state import IncidentState
from tests.behaviour import open_incident as open_unacknowledged
from tests.behaviour import terminate_leftovers  # noqa: F401  (autouse)
from tests.intake.support import Running, bearer, config, secrets, serving
from tests.support import ROSTER, Recorder, incident_worker, recorder, wait_for, write_playbook

BODY = """
[[severity.rules]]
kinds = ["toxicity"]
severity = "SEV2"
[actions.rollback_prompt]
kind = "manual"
instructions = "Roll ${service} back"
[services."*"]
stabilise = ["rollback_prompt"]
[tickets]
number_prefix = "P%s"
"""
SLACK_ROSTER = ROSTER.replace('name = "Ian Commander"', 'name = "Ian Commander"\nslack_id = "U0IAN"').replace(
    'name = "Olu Ops"', 'name = "Olu Ops"\ncontact = "slack:U0OLU"')
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


# ---------------------------------------------------------------- the token store


def test_a_token_is_shown_once_and_only_its_hash_is_kept(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "home" / "tokens.json")
    token, record = store.issue("olu")
    other, _ = store.issue("olu")
    assert token.startswith("fbp_") and len(token) > 40 and token != other
    raw = store.path.read_text()
    assert token not in raw and hashlib.sha256(token.encode()).hexdigest() in raw
    saved = json.loads(raw)["tokens"][0]
    assert saved["person"] == "olu" and saved["created_at"] and saved["id"] == record.id
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert store.person_for(token) == "olu" and store.person_for(token + "x") is None
    assert [r.person for r in store.list()] == ["olu", "olu"]
    assert [r.id for r in store.revoke("olu", record.id)] == [record.id]
    assert store.person_for(token) is None and store.person_for(other) == "olu"
    assert len(store.revoke("olu")) == 1 and store.list() == [] and store.revoke("olu") == []
    assert [p.name for p in store.path.parent.iterdir() if p.name.startswith(".tokens-")] == []  # no temp left

    # The intake's store remembers what it read; a revocation by another process (the CLI) still counts at once.
    again, again_record = store.issue("olu")
    assert store.person_for(again) == "olu"
    TokenStore(store.path).revoke("olu", again_record.id)
    assert store.person_for(again) is None


# ---------------------------------------------------------------- HTTP approvals


@asynccontextmanager
async def people_api(env: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                     **overrides: Any) -> AsyncIterator[tuple[Running, TokenStore, Path]]:
    playbook = write_playbook(tmp_path, BODY % uuid.uuid4().hex[:6].upper().replace("0", "A"), SLACK_ROSTER)
    tokens = TokenStore(tmp_path / "tokens.json")
    people = People(tokens=tokens, roster=load_playbook(playbook)[0].roster, slack_secret=SLACK_SECRET.encode())
    overrides.setdefault("slack", {"response_hosts": ["127.0.0.1"]})  # never hooks.slack.com from tests
    cfg = config(people={"outcome_wait_seconds": 2.0}, **overrides)
    app = create_app(cfg, secrets(cfg), client=env.client, task_queue=task_queue, people=people)
    async with serving(app) as api:
        yield api, tokens, playbook


def decided(state: IncidentState) -> bool:
    req = state.approval("stabilise-1")
    return req is not None and req.status != ApprovalStatus.PENDING


async def open_incident(env: WorkflowEnvironment, task_queue: str) -> tuple[Any, str]:
    """An unacknowledged incident (the shared helper, so it is terminated after the test) and its number."""
    handle, state = await open_unacknowledged(env, task_queue, acknowledge=False)
    return handle, str(state.number)


async def test_people_approve_over_http_with_the_workflows_answer(dev_env: WorkflowEnvironment, task_queue: str,
                                                                  tmp_path: Path, home: Path) -> None:
    async with people_api(dev_env, task_queue, tmp_path) as (api, tokens, playbook):
        ian, _ = tokens.issue("ian")
        sam, _ = tokens.issue("sam")
        olu, _ = tokens.issue("olu")
        gone, record = tokens.issue("olu")
        tokens.revoke("olu", record.id)
        async with incident_worker(dev_env.client, task_queue, playbook, home):
            handle, number = await open_incident(dev_env, task_queue)
            url = f"/v1/incidents/{number}/acknowledge"

            assert (await api.http.post(url)).status_code == 401
            r = await api.http.post(url, headers=bearer("fbp_not-a-token"))
            assert r.status_code == 403 and "unknown or revoked" in r.json()["message"]
            r = await api.http.post(url, headers=bearer(gone))
            assert r.status_code == 403, r.text
            r = await api.http.post(url, headers=bearer(sam))
            assert r.status_code == 403 and "only ai_ops or incident_commander" in r.json()["message"]
            r = await api.http.post(url, headers=bearer(ian), json={"comment": "on it"})
            assert r.status_code == 200, r.text
            assert r.json() | {"action_id": ""} == {
                "status": "accepted", "incident": number, "workflow_id": handle.id, "action_id": "", "by": "ian",
                "role": "incident_commander", "message": "acknowledged"}
            r = await api.http.post(f"/v1/incidents/{handle.id}/acknowledge", headers=bearer(ian))
            assert r.status_code == 409 and "already acknowledged by ian" in r.json()["message"]

            await wait_for(handle, lambda s: bool(s.pending_approvals()))
            assert (await api.http.get("/v1/approvals")).status_code == 401
            r = await api.http.get("/v1/approvals", headers=bearer(sam))
            assert r.status_code == 200, r.text
            row = next(w for w in r.json()["waiting"] if w["incident"] == number)
            assert (row["request_id"], row["role"], row["workflow_id"]) == ("stabilise-1", "ai_ops", handle.id)
            assert "Roll support-bot back" in row["what"] and row["why"] and row["deadline"]
            assert "escalated_to" in row

            approve = f"/v1/incidents/{number}/approvals/stabilise-1"
            r = await api.http.post(approve, headers=bearer(sam), json={"decision": "approve"})
            assert r.status_code == 403 and "needs the role ai_ops" in r.json()["message"], r.text
            r = await api.http.post(f"/v1/incidents/{number}/approvals/nope-9", headers=bearer(olu),
                                    json={"decision": "approve"})
            assert r.status_code == 404 and "stabilise-1" in r.json()["message"]
            r = await api.http.post("/v1/incidents/PZZZ-2026-9999/approvals/stabilise-1", headers=bearer(olu),
                                    json={"decision": "approve"})
            assert r.status_code == 404, r.text
            r = await api.http.post("/v1/incidents/incident-nothing-here/approvals/x", headers=bearer(olu),
                                    json={"decision": "approve"})
            assert r.status_code == 404, r.text
            r = await api.http.post(approve, headers=bearer(olu), json={"decision": "maybe"})
            assert r.status_code == 422 and r.json()["field"] == "decision"
        # The worker is gone: the approval is recorded by Temporal and answered 202, processed when it is back.
        started = time.monotonic()
        r = await api.http.post(approve, headers=bearer(olu), json={"decision": "approve", "comment": "go"})
        took = time.monotonic() - started
        assert r.status_code == 202 and "has not processed it" in r.json()["message"], r.text
        # Bounded by the route's own waits (2 s to find the incident, 2 s for its answer), not by the worker's
        # return: an unbounded wait would run into the client's 30 s timeout. The margin is for a loaded 2-core CI.
        assert took < 15, took
        async with incident_worker(dev_env.client, task_queue, playbook, home):
            state = await wait_for(handle, decided)
            assert state.approval("stabilise-1").decided_by == "olu"  # type: ignore[union-attr]
            assert state.outcome(r.json()["action_id"]).accepted  # type: ignore[union-attr]
            r = await api.http.post(approve, headers=bearer(olu), json={"decision": "reject"})
            assert r.status_code == 409 and "already approved by olu" in r.json()["message"], r.text
            await handle.terminate("test over")
        r = await api.http.post(approve, headers=bearer(olu), json={"decision": "approve"})
        assert r.status_code == 409 and "closed" in r.json()["message"], r.text


# ---------------------------------------------------------------- Slack buttons


def slack_request(user: str, value: str, secret: str = SLACK_SECRET, timestamp: int | None = None,
                  response_url: str = "https://hooks.slack.com/actions/T0001/1/abc",
                  message: dict[str, Any] | None = None, clicked: float | None = None) -> tuple[bytes, dict[str, str]]:
    """A block_actions request, form-encoded and signed as Slack documents it (v0:timestamp:body, HMAC-SHA256)."""
    payload = {"type": "block_actions", "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
               "api_app_id": "A0001", "team": {"id": "T0001", "domain": "example"},
               "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0INC",
                             "is_ephemeral": False},
               "trigger_id": "123.456.abc", "channel": {"id": "C0INC", "name": "incidents"},
               "response_url": response_url, **({"message": message} if message else {}),
               "actions": [{"type": "button", "action_id": value.split("|")[0], "block_id": "incident_actions",
                            "value": value, "text": {"type": "plain_text", "text": "Go"},
                            "action_ts": f"{time.time() if clicked is None else clicked:.6f}"}]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    sig = "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return body, {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig,
                  "Content-Type": "application/x-www-form-urlencoded"}


async def press(api: Running, user: str, value: str, **kw: Any) -> tuple[int, dict[str, Any], float]:
    body, headers = slack_request(user, value, **kw)
    started = time.monotonic()
    r = await api.http.post("/v1/slack/actions", content=body, headers=headers)
    return r.status_code, r.json(), time.monotonic() - started


async def test_slack_buttons_act_as_the_roster_person(dev_env: WorkflowEnvironment, task_queue: str,
                                                      tmp_path: Path, home: Path) -> None:
    async with (people_api(dev_env, task_queue, tmp_path) as (api, _, playbook),
                incident_worker(dev_env.client, task_queue, playbook, home)):
        handle, number = await open_incident(dev_env, task_queue)

        status, body, _ = await press(api, "U0IAN", f"ack|{number}", secret="wrong-secret")
        assert status == 401 and "signature" in body["message"]
        status, body, _ = await press(api, "U0IAN", f"ack|{number}", timestamp=int(time.time()) - 301)
        assert status == 401 and "timestamp" in body["message"]
        status, body, _ = await press(api, "U0NOBODY", f"ack|{number}")
        assert status == 200 and "not on Firebreak's roster" in body["text"]
        status, body, _ = await press(api, "U0IAN", "explode|x")
        assert status == 400

        status, body, took = await press(api, "U0IAN", f"ack|{number}")
        assert status == 200 and body["response_type"] == "ephemeral", body
        assert took < 3 and number in body["text"] and "ian" in body["text"], (took, body)
        await wait_for(handle, lambda s: s.acknowledged_by == "ian")

        await wait_for(handle, lambda s: bool(s.pending_approvals()))
        status, body, took = await press(api, "U0OLU", f"approve|{number}|stabilise-1")
        assert status == 200 and took < 3, (took, body)
        state = await wait_for(handle, decided)
        assert state.approval("stabilise-1").status == ApprovalStatus.APPROVED  # type: ignore[union-attr]
        assert state.approval("stabilise-1").decided_by == "olu"  # type: ignore[union-attr]
        status, body, took = await press(api, "U0OLU", f"reject|{number}|stabilise-1")
        assert status == 200 and took < 3 and "already approved" in body["text"], (took, body)
        await handle.terminate("test over")


@pytest.mark.parametrize("value", ["approve|INC-2026-0001", "ack|", "reject|INC-2026-0001|r|no_such_role"])
def test_bad_button_values_are_400(value: str) -> None:
    from intake.errors import IntakeError
    from intake.slack_actions import parse_slack_action

    body, _ = slack_request("U1", value)
    with pytest.raises(IntakeError) as err:
        parse_slack_action(body)
    assert err.value.status == 400


async def requests_once(fake: Recorder, count: int, polls: int = 60) -> list[dict[str, Any]]:
    """The recorder's requests once there are `count` of them (or after `polls` x 50 ms)."""
    for _ in range(polls):
        if len(fake.requests) >= count:
            break
        await asyncio.sleep(0.05)
    return list(fake.requests)


async def test_a_decided_slack_message_is_replaced_without_buttons(dev_env: WorkflowEnvironment, task_queue: str,
                                                                   tmp_path: Path, home: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    with recorder() as fake:
        async with (people_api(dev_env, task_queue, tmp_path) as (api, _, playbook),
                    incident_worker(dev_env.client, task_queue, playbook, home)):
            first, number = await open_incident(dev_env, task_queue)
            second, other = await open_incident(dev_env, task_queue)
            for handle, ref in ((first, number), (second, other)):
                assert (await press(api, "U0IAN", f"ack|{ref}"))[0] == 200
                await wait_for(handle, lambda s: bool(s.pending_approvals()))
            blocks = approval_blocks(number, "stabilise-1", "Roll support-bot back", "the draft", "toxicity p95")
            message = {"type": "message", "text": f"{number}: approval needed", "blocks": blocks}
            url = f"{fake.url}/actions/T0001/1/first"

            status, body, took = await press(api, "U0OLU", f"approve|{number}|stabilise-1", response_url=url,
                                             message=message)
            assert status == 200 and took < 3 and "approved" in body["text"], (took, body)
            [sent] = await requests_once(fake, 1)
            assert (sent["method"], sent["path"]) == ("POST", "/actions/T0001/1/first")
            replaced = json.loads(sent["body"])
            assert replaced["replace_original"] is True and "response_type" not in replaced, replaced
            assert replaced["text"].startswith(f"{number}: approval needed\nApproved by Olu Ops (olu, ai_ops) at ")
            kept = [b["type"] for b in replaced["blocks"]]
            assert "actions" not in kept and kept == ["section", "section", "context"], kept
            assert replaced["blocks"][0] == blocks[0]
            assert replaced["blocks"][-1]["elements"][0]["text"].startswith("Approved by Olu Ops (olu, ai_ops) at ")

            # A second click: the incident refuses it, ephemerally, and the message is not replaced again.
            status, body, took = await press(api, "U0OLU", f"reject|{number}|stabilise-1", response_url=url,
                                             message=message)
            assert status == 200 and took < 3, (took, body)
            assert body["response_type"] == "ephemeral" and body["replace_original"] is False
            assert "refused" in body["text"] and "already approved by olu" in body["text"], body

            # A response_url on a host not in [intake.slack] response_hosts (the same fake, named differently).
            forged = f"{fake.url.replace('127.0.0.1', 'localhost')}/actions/forged"
            with caplog.at_level(logging.WARNING, logger="firebreak.intake.people"):
                status, body, _ = await press(api, "U0OLU", f"reject|{other}|stabilise-1", response_url=forged)
                assert status == 200 and "refused" not in body["text"], body
                state = await wait_for(second, decided)
                assert state.approval("stabilise-1").status == ApprovalStatus.REJECTED  # type: ignore[union-attr]
                assert len(await requests_once(fake, 2, polls=10)) == 1, fake.requests
            assert any("'localhost' is not in [intake.slack] response_hosts" in r.getMessage() and other in
                       r.getMessage() for r in caplog.records), caplog.text
            for handle in (first, second):
                await handle.terminate("test over")


@pytest.mark.parametrize(("url", "hosts", "ok"), [
    ("https://hooks.slack.com/actions/T0001/1/abc", None, True),
    ("http://hooks.slack.com/actions/T0001/1/abc", None, False),  # https only, but for loopback
    ("https://hooks.slack.com.evil.example/x", None, False),
    ("https://hooks.slack.com@evil.example/x", None, False),
    ("https://evil.example/hooks.slack.com", None, False),
    ("http://[::1/x", None, False),
    ("", None, False),
    ("http://127.0.0.1:9/x", None, False),
    ("http://127.0.0.1:9/x", ["127.0.0.1"], True),
])
def test_only_allowed_response_url_hosts(url: str, hosts: list[str] | None, ok: bool) -> None:
    from types import SimpleNamespace

    from intake.people import PeopleRoutes, Target
    from intake.slack_actions import SlackActions, parse_slack_action

    routes = PeopleRoutes(config(**({"slack": {"response_hosts": hosts}} if hosts else {})), People(), lambda: None)
    click = parse_slack_action(slack_request("U1", "approve|INC-1|r-1", response_url=url)[0])
    target = Target(SimpleNamespace(id="wf-1"), "INC-1", None)  # type: ignore[arg-type]
    assert SlackActions(routes).response_url_ok(click, target) is ok
