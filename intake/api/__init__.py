"""The HTTP API for people: everything `firebreak` does from a terminal, with a personal token.

One module per verb group, as in cli/; each route authenticates the person (intake/people.py PeopleRoutes.person),
sends the same action the CLI sends through client/actions.py, and answers with the incident's own outcome:
200 accepted; 403 / 404 / 409 / 422 refused, with the workflow's reason; 202 sent but not processed yet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response

from intake.api import incidents, remediation, reports, responders, review
from intake.openapi_doc import answers, form_doc
from intake.people import PeopleRoutes
from intake.slack_command import SlackCommand
from integrations.store import Store
from playbook.models import Detection

Deliver = Callable[[list[Detection]], Awaitable[list[str]]]  # detections in, the incidents' workflow ids out


def api_router(routes: PeopleRoutes, deliver: Deliver, store: Callable[[], Store]) -> APIRouter:
    """Every route of the people's API; `deliver` hands a declared incident to Temporal as the alert routes do,
    `store` is where the worker keeps retrospectives and the risk register."""
    router = APIRouter(tags=["incidents"])
    router.include_router(incidents.router(routes, deliver))
    router.include_router(responders.router(routes))
    router.include_router(remediation.router(routes))
    router.include_router(review.router(routes))
    router.include_router(reports.router(routes, store))
    command = SlackCommand(routes, deliver)  # Slack's /firebreak: declares as the API does, so it is mounted here

    @router.post("/v1/slack/commands", tags=["people"], responses=answers(400, 401, 403, 408, 413, 415, 503),
                 openapi_extra=form_doc("command", "text", "user_id"))
    async def slack_command(request: Request) -> Response:
        """Slack slash command Request URL: `/firebreak status|ack INC-...`, `/firebreak declare KIND SERVICE
        [summary]`, signed, answered within 3 s."""
        return await command.handle(request)

    return router
