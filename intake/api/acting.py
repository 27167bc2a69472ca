"""What every action route shares: who acts (token), in which role, on which incident, and the send."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from intake.people import PeopleRoutes
from playbook.models import HumanAction, Role


class Acting(BaseModel):
    """Fields every action takes."""

    role: Role | None = Field(default=None, description="the role you act in (default: your only role on the "
                                                        "roster, or the role the action needs if you hold it)")
    comment: str = Field(default="", max_length=4000)


async def send(routes: PeopleRoutes, request: Request, ref: str, model: type[Acting], signal: Any,
               build: Callable[[Any, str, Role, str], HumanAction], wanted: Role | None = None,
               empty_ok: bool = False) -> Response:
    """Read the body as `model`, find the incident, build the action (`build(body, by, role, action_id)`) and send
    it as the CLI does; the answer is the incident's outcome (PeopleRoutes.answer)."""
    who = routes.person(request)
    body = await routes.body(request, model, empty_ok=empty_ok)
    target = await routes.target(ref, min(2.0, routes.wait))
    role = routes.role(who, body.role, wanted)
    return await routes.act(target, signal, build(body, who, role, str(uuid.uuid4())), routes.wait)
