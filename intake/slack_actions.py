"""Slack's interactive buttons (POST /v1/slack/actions): Approve, Reject and Acknowledge clicked in Slack act as the
roster person whose slack_id clicked, through the same incident lookup and role rules as the people routes.

The click is verified (Slack's v0 signature), answered within 3 s (ephemerally), and an accepted decision replaces the
approval message's buttons afterwards: through the click's response_url while Slack takes it (5 uses within 30 minutes
of the click), otherwise -- late, refused, or a host not in [intake.slack] response_hosts -- with chat.update on the
channel id and ts the worker stored when it posted the request (that needs the Slack bot token on the intake too).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask
from temporalio.service import RPCError

from client.actions import ORIGIN, signal_action, wait_outcome
from client.workflow_types import IncidentWorkflow
from intake.auth import fresh, signed
from intake.body import FORM_TYPE, load_json, read_body
from intake.config import IntakeConfig
from intake.errors import IntakeError
from intake.people import MAX_BODY, People, PeopleRoutes, Target
from integrations import slack as slack_api
from integrations.channels import ChannelError
from integrations.store import read_lines
from playbook.config import SlackChannel
from playbook.models import ActionOutcome, Decision, HumanAction, Role

log = logging.getLogger("firebreak.intake.people")
LATE_OUTCOME_SECONDS = 30.0  # after the click was answered "sent": how long the follow-up waits for the outcome
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
RESPONSE_URL_WINDOW = 29 * 60  # Slack: within 30 minutes of the click; a minute's margin


class SlackActions:
    """The Slack route's handling, on top of the people routes (who, which incident, which role)."""

    def __init__(self, routes: PeopleRoutes) -> None:
        self.routes = routes
        self.config, self.people = routes.config, routes.people

    async def handle(self, request: Request) -> Response:
        started = asyncio.get_running_loop().time()
        budget = self.config.slack.answer_within_seconds
        body = await signed_slack_body(request, self.people, self.config)
        click = parse_slack_action(body)
        user, verb, ref, request_id, role = click.user, click.verb, click.ref, click.request_id, click.role
        who = self.slack_person(user)
        if who is None:
            return ephemeral(f"Your Slack user {user} is not on Firebreak's roster; ask for `slack_id = \"{user}\"` "
                             f"on your roster entry.")
        try:
            async with asyncio.timeout(max(budget - (asyncio.get_running_loop().time() - started), 0.1)):
                target = await self.routes.target(ref, 0.5)
                wanted = None
                if verb != "ack" and target.state is not None:
                    req = target.state.approval(request_id or "")
                    if req is None:
                        return ephemeral(f"{target.number} has no approval request {request_id}.")
                    wanted = req.role
                chosen = self.routes.role(who, role, wanted or Role.INCIDENT_COMMANDER)
                action: HumanAction
                signal: Any
                if verb == "ack":
                    action, signal = HumanAction(by=who, role=chosen, action_id=str(uuid.uuid4()),
                                                 comment="from Slack"), IncidentWorkflow.acknowledge
                else:
                    action = Decision(by=who, role=chosen, action_id=str(uuid.uuid4()), request_id=request_id or "",
                                      comment="from Slack")
                    signal = IncidentWorkflow.approve if verb == "approve" else IncidentWorkflow.reject
                ORIGIN.set(f"slack user {user} via {ORIGIN.get() or 'http'}")
                await signal_action(target.handle, signal, action, budget, target.number)
        except IntakeError as err:
            return ephemeral(f"Not done: {err.message}.")
        except (TimeoutError, RPCError) as err:
            log.warning("slack action %s on %s not sent within %.1f s: %s", verb, ref, budget, err)
            return ephemeral(f"Not done: Temporal did not answer in time ({type(err).__name__}); try again.")
        left = budget - (asyncio.get_running_loop().time() - started)
        outcome = await wait_outcome(target.handle, action.action_id, left) if left > 0.05 else None
        what = "acknowledged" if verb == "ack" else f"{verb} {request_id}"
        # A decision that is (or may yet be) accepted replaces the message's buttons, after this answer is sent.
        later = None
        if verb != "ack" and (outcome is None or outcome.accepted):
            later = BackgroundTask(self.replace_decided, click, target, action, outcome)
        if outcome is None:
            return ephemeral(f"{target.number}: {what} sent as {who} ({chosen.value}); the incident has not "
                             f"answered yet. `firebreak show {target.number}` shows the outcome.", later)
        if outcome.accepted:
            return ephemeral(f"{target.number}: {outcome.message} (by {who} as {chosen.value}).", later)
        return ephemeral(f"{target.number}: refused: {outcome.message}.")

    def response_url_ok(self, click: SlackAction, target: Target) -> bool:
        """Only hosts in [intake.slack] response_hosts (hooks.slack.com), over https (http for loopback only): a
        payload cannot make the intake call anywhere else."""
        if not click.response_url:
            return False
        try:
            parts = urlsplit(click.response_url)
            host = (parts.hostname or "").lower()
        except ValueError:  # e.g. an unclosed IPv6 bracket
            parts, host = urlsplit(""), ""
        if (host in {h.lower() for h in self.config.slack.response_hosts}
                and (parts.scheme == "https" or (parts.scheme == "http" and host in LOOPBACK))):
            return True
        log.warning("slack: %s (%s): not replacing the approval message: response_url host %r is not in "
                    "[intake.slack] response_hosts (or not https)", target.number, target.handle.id, host)
        return False

    async def replace_decided(self, click: SlackAction, target: Target, action: HumanAction,
                              outcome: ActionOutcome | None) -> None:
        """After the click was answered: replace the approval message with who decided and when, no buttons. Waits
        (bounded) for the outcome when the incident had not answered in time; a late refusal goes to the clicker
        ephemerally. Failures are logged, never raised."""
        try:
            if outcome is None:
                outcome = await wait_outcome(target.handle, action.action_id, LATE_OUTCOME_SECONDS)
            if outcome is None:
                log.warning("slack: %s (%s): no outcome for %s %s within %g s; the approval message keeps its "
                            "buttons", target.number, target.handle.id, click.verb, click.request_id,
                            LATE_OUTCOME_SECONDS)
                return
            timeout = self.config.slack.response_timeout_seconds
            use_url = self.response_url_usable(click) and self.response_url_ok(click, target)
            if not outcome.accepted:
                if use_url:
                    await asyncio.to_thread(slack_api.respond, click.response_url, f"{target.number}: refused: "
                                            f"{outcome.message}.", None, replace_original=False, timeout=timeout)
                return
            person = self.people.roster.people.get(action.by) if self.people.roster else None
            name = f"{person.name} ({action.by}, {action.role.value})" if person else \
                f"{action.by} ({action.role.value})"
            when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
            line = slack_api.mrkdwn_escape(f"{'Approved' if click.verb == 'approve' else 'Rejected'} by {name} at "
                                           f"{when}")
            original = click.message.get("blocks")
            text = str(click.message.get("text") or f"{target.number}: {click.request_id}")
            blocks = slack_api.decided_blocks(original if isinstance(original, list) else [], text, line)
            if use_url:
                try:
                    await asyncio.to_thread(slack_api.respond, click.response_url, f"{text}\n{line}", blocks,
                                            replace_original=True, timeout=timeout)
                    return
                except ChannelError as err:
                    log.info("slack: %s: the response_url was refused (%s); updating the stored message instead",
                             target.number, err)
            await asyncio.to_thread(self.update_stored, target.number, click, f"{text}\n{line}", blocks)
        except Exception as err:  # noqa: BLE001 - the click was answered already; this is best effort
            log.warning("slack: %s (%s): replacing the approval message for %s %s failed: %s", target.number,
                        target.handle.id, click.verb, click.request_id, err)

    @staticmethod
    def response_url_usable(click: SlackAction, now: float | None = None) -> bool:
        """Slack takes a response_url up to 5 times within 30 minutes of the click (this flow uses it once): past
        the window, with a minute's margin for clocks, the message is updated with chat.update instead."""
        if not click.response_url:
            return False
        age = (time.time() if now is None else now) - (click.clicked_at or 0.0)
        return click.clicked_at is None or age < RESPONSE_URL_WINDOW

    def update_stored(self, number: str, click: SlackAction, text: str, blocks: list[dict[str, Any]]) -> int:
        """chat.update on every message this approval request was posted as: the channel id and ts the worker
        stored when it posted it (comms archive), never what a payload names. How many were updated."""
        store = self.people.store
        if store is None:
            log.warning("slack: %s: no artefact store on this intake; the approval message keeps its buttons", number)
            return 0
        posts = [r for r in read_lines(store, f"{number}/comms/archive.jsonl")
                 if r.get("kind") == "approval_request" and r.get("request_id") == click.request_id]
        updated = 0
        for post in posts:
            channel = self.people.channels.get(str(post.get("channel")))
            if not isinstance(channel, SlackChannel) or not post.get("slack_channel") or not post.get("ts"):
                log.warning("slack: %s: %s in %s has no stored channel id and ts (posted by an older worker?) or its "
                            "channel is gone from the playbook; it keeps its buttons", number, click.request_id,
                            post.get("channel"))
                continue
            slack_api.update_message(channel, slack_api.Posted(str(post["slack_channel"]), str(post["ts"])), text,
                                     blocks)
            updated += 1
        return updated

    def slack_person(self, user: str) -> str | None:
        if self.people.roster is None:
            return None
        return next((pid for pid, p in self.people.roster.people.items() if p.slack_user == user), None)


def ephemeral(text: str, background: BackgroundTask | None = None) -> Response:
    return JSONResponse({"response_type": "ephemeral", "replace_original": False, "text": text},
                        background=background)


async def signed_slack_body(request: Request, people: People, config: IntakeConfig) -> bytes:
    """The form a Slack request carries, once its signature holds: 403 when this intake has no signing secret,
    401 when the signature or its timestamp does not hold (button clicks and the slash command alike)."""
    if not people.slack_secret:
        raise IntakeError(403, f"Slack is not configured on this intake: set {config.slack.signing_secret_env} to "
                          f"the Slack app's signing secret", "X-Slack-Signature")
    body = await read_body(request, MAX_BODY, config.body_timeout_seconds, FORM_TYPE, empty_ok=True)
    verify_slack(people.slack_secret, body, request.headers.get("x-slack-request-timestamp"),
                 request.headers.get("x-slack-signature"), config.slack.max_age_seconds)
    return body


def verify_slack(secret: bytes, body: bytes, timestamp: str | None, signature: str | None, max_age: int,
                 now: float | None = None) -> None:
    """Slack's v0 request signature: HMAC-SHA256 of 'v0:{timestamp}:{raw body}'; 401 when it does not hold."""
    if not timestamp or not signature:
        raise IntakeError(401, "missing X-Slack-Request-Timestamp or X-Slack-Signature", "X-Slack-Signature")
    if not timestamp.isdigit():
        raise IntakeError(401, "X-Slack-Request-Timestamp is not a Unix time", "X-Slack-Request-Timestamp")
    if not fresh(timestamp, max_age, now):
        raise IntakeError(401, f"the request timestamp is more than {max_age} s away from now (replayed or a "
                          f"clock is wrong)", "X-Slack-Request-Timestamp")
    given = signature.strip()
    if not given.startswith("v0=") or not signed(secret, b"v0:" + timestamp.encode() + b":" + body, given[3:]):
        raise IntakeError(401, "the Slack signature does not match (check the signing secret)", "X-Slack-Signature")


class SlackAction(NamedTuple):
    user: str  # Slack user id
    verb: str  # approve, reject or ack
    ref: str  # the incident
    request_id: str | None
    role: Role | None
    response_url: str  # where to replace the message, "" when the payload has none
    message: dict[str, Any]  # the message the button was on ({} when the payload has none)
    clicked_at: float | None = None  # the action's action_ts (Unix seconds), when the payload has one


def parse_slack_action(body: bytes) -> SlackAction:
    """The click in a block_actions payload.

    The button's value is 'approve|INC-2026-0042|stabilise-1', 'reject|...|...' or 'ack|INC-2026-0042', with an
    optional '|role' at the end.
    """
    try:
        form = parse_qs(body.decode(), strict_parsing=True)
        payload = load_json(form["payload"][0].encode(), "payload")
    except (UnicodeDecodeError, ValueError, KeyError) as err:
        raise IntakeError(400, "expected a form-encoded 'payload' field holding JSON (Slack interactivity)",
                          "payload") from err
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        raise IntakeError(400, "only block_actions payloads are handled", "payload.type")
    user = (payload.get("user") or {}).get("id")
    actions = payload.get("actions") or []
    if not isinstance(user, str) or not user or not actions or not isinstance(actions[0], dict):
        raise IntakeError(400, "the payload has no user id or no action", "payload")
    parts = str(actions[0].get("value") or "").split("|")
    verb = parts[0]
    if verb not in ("approve", "reject", "ack") or len(parts) < 2 or not parts[1]:
        raise IntakeError(400, "the button value must be 'approve|INCIDENT|REQUEST', 'reject|INCIDENT|REQUEST' or "
                          "'ack|INCIDENT'", "payload.actions[0].value")
    request_id = parts[2] if verb != "ack" and len(parts) > 2 and parts[2] else None
    if verb != "ack" and request_id is None:
        raise IntakeError(400, f"the {verb} button names no request id", "payload.actions[0].value")
    role_at = 2 if verb == "ack" else 3
    try:
        role = Role(parts[role_at]) if len(parts) > role_at and parts[role_at] else None
    except ValueError as err:
        raise IntakeError(400, f"unknown role '{parts[role_at]}' in the button value", "payload.actions[0].value") \
            from err
    response_url = payload.get("response_url")
    message = payload.get("message")
    try:
        clicked_at: float | None = float(str(actions[0].get("action_ts")))
    except (TypeError, ValueError):
        clicked_at = None
    return SlackAction(user, verb, parts[1], request_id, role, response_url if isinstance(response_url, str) else "",
                       message if isinstance(message, dict) else {}, clicked_at)
