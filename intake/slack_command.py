"""Slack's slash command (POST /v1/slack/commands): `/firebreak status INC-...`, `/firebreak ack INC-...` and
`/firebreak declare KIND SERVICE [summary]`, as the roster person whose Slack id typed it.

Signed and checked exactly as the buttons are (intake/slack_actions.py, signed_slack_body), and answered within
[intake.slack] answer_within_seconds (Slack wants 3 s) with the incident's summary or the incident's own answer;
what takes longer is answered "sent", and the incident processes it anyway. Slack's form fields, per its docs
("Enabling interactivity with Slash Commands"): command, text, user_id, channel_id, response_url, trigger_id.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from temporalio.service import RPCError

from client.actions import opened, wait_outcome
from client.admission import Inadmissible, admit
from client.workflow_types import IncidentWorkflow
from intake.errors import IntakeError
from intake.people import PeopleRoutes
from intake.slack_actions import SlackActions, ephemeral, signed_slack_body
from playbook.models import Detection, HumanAction, Role, SignalKind
from playbook.state import IncidentState

log = logging.getLogger("firebreak.intake.people")
USAGE = ("Usage: `/firebreak status INC-2026-0001`, `/firebreak ack INC-2026-0001`, `/firebreak declare KIND "
         f"SERVICE [summary]` (KIND: {', '.join(k.value for k in SignalKind)})")


def summary(state: IncidentState) -> str:
    """The incident in a few Slack lines: where it stands, who acknowledged, what waits for whom."""
    s = state
    ack = f"acknowledged by {s.acknowledged_by}" if s.acknowledged_by else "not acknowledged yet"
    lines = [f"*{s.number or s.workflow_id}* · {s.severity.value} · {s.status.value} · step {s.step.value}",
             f"{s.detection.kind.value} on {', '.join(s.detection.services)}; {s.alert_count} alert(s); {ack}"]
    pending = s.pending_approvals()
    if pending:
        lines.append("Waiting: " + "; ".join(f"`{a.request_id}` ({a.role.value}) {a.subject[:80]}"
                                            for a in pending[:5]))
    return "\n".join(lines)


class SlackCommand:
    def __init__(self, routes: PeopleRoutes, deliver: Callable[[list[Detection]], Awaitable[list[str]]]) -> None:
        self.routes, self.deliver = routes, deliver
        self.config, self.people = routes.config, routes.people
        self.actions = SlackActions(routes)

    async def handle(self, request: Request) -> Response:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.slack.answer_within_seconds
        body = await signed_slack_body(request, self.people, self.config)
        try:
            form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        except (UnicodeDecodeError, ValueError) as err:
            raise IntakeError(400, "expected Slack's form-encoded slash command", "body") from err
        user, words = form.get("user_id", ""), form.get("text", "").split()
        if not user:
            raise IntakeError(400, "the command names no user_id", "user_id")
        who = self.actions.slack_person(user)
        if who is None:
            return ephemeral(f"Your Slack user {user} is not on Firebreak's roster; ask for `slack_id = \"{user}\"` "
                             f"on your roster entry.")
        if not words or words[0] not in ("status", "ack", "declare") or len(words) < 2:
            return ephemeral(USAGE)
        try:
            async with asyncio.timeout(max(deadline - loop.time(), 0.1)):
                if words[0] == "declare":
                    return await self.declare(who, words[1:], deadline)
                return await self.on_incident(who, words[0], words[1], deadline)
        except IntakeError as err:
            return ephemeral(f"Not done: {err.message}.")
        except (TimeoutError, RPCError) as err:
            log.warning("slack command %s not answered within the budget: %s", words[0], err)
            return ephemeral(f"Not done: Temporal did not answer in time ({type(err).__name__}); try again.")

    async def on_incident(self, who: str, verb: str, ref: str, deadline: float) -> Response:
        left = deadline - asyncio.get_running_loop().time()
        target = await self.routes.target(ref, max(min(left / 2, 1.0), 0.1))
        if verb == "status":
            if target.state is None:
                return ephemeral(f"{target.number} did not answer in time (is a worker running?).")
            return ephemeral(summary(target.state))
        role = self.routes.role(who, None, Role.INCIDENT_COMMANDER)
        action = HumanAction(by=who, role=role, action_id=str(uuid.uuid4()), comment="from Slack")
        await target.handle.signal(IncidentWorkflow.acknowledge, action)
        outcome = await wait_outcome(target.handle, action.action_id,
                                     max(deadline - asyncio.get_running_loop().time() - 0.1, 0))
        if outcome is None:
            return ephemeral(f"{target.number}: acknowledge sent as {who} ({role.value}); the incident has not "
                             f"answered yet.")
        if not outcome.accepted:
            return ephemeral(f"{target.number}: refused: {outcome.message}.")
        return JSONResponse({"response_type": "in_channel", "text": f"{target.number}: {outcome.message} by {who}."})

    async def declare(self, who: str, words: list[str], deadline: float) -> Response:
        if len(words) < 2:
            return ephemeral(USAGE)
        try:
            detection = Detection(source=f"slack:{who}", kind=SignalKind(words[0]), services=[words[1]],
                                  summary=" ".join(words[2:]))
            admit([detection], numbered=False)
        except (ValueError, ValidationError, Inadmissible) as err:
            return ephemeral(f"Not declared: {str(err).splitlines()[0][:200]}. {USAGE}")
        workflow_id = (await self.deliver([detection]))[0]
        left = deadline - asyncio.get_running_loop().time() - 0.1
        state = await opened(self.routes.client.get_workflow_handle(workflow_id), max(left, 0))
        if state is None:
            return ephemeral(f"Declared (workflow {workflow_id}); no worker has opened it yet.")
        return JSONResponse({"response_type": "in_channel", "text": f"{who} declared an incident.\n{summary(state)}"})
