"""Reports from the artefacts: the risk register and the figures, as `firebreak risks` and `report` print them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from intake.openapi_doc import answers
from intake.people import PeopleRoutes
from integrations.readback import report_figures, risk_entries
from integrations.store import Store
from playbook.models import SignalKind


def router(routes: PeopleRoutes, store: Callable[[], Store]) -> APIRouter:
    api = APIRouter()

    @api.get("/v1/risks", responses=answers(401, 403, 422, 503))
    async def risks(request: Request, kind: SignalKind | None = None,
                    owasp: Annotated[str | None, Query(max_length=20, description="an OWASP LLM Top 10 id")] = None,
                    service: Annotated[str | None, Query(max_length=200)] = None) -> Response:
        """The risk register, one entry per resolved incident: `firebreak risks`. `skipped`: files that could not
        be read."""
        routes.person(request)
        entries, problems = await asyncio.to_thread(risk_entries, store(), kind.value if kind else None, owasp,
                                                    service)
        return JSONResponse({"entries": [e.model_dump(mode="json") for e in entries], "skipped": problems})

    @api.get("/v1/report", responses=answers(401, 403, 422, 503))
    async def report(request: Request, on_time_minutes: Annotated[float, Query(gt=0, le=10_000)] = 15.0) \
            -> Response:
        """Figures across incidents (acknowledge / resolve times, per step, cadence, approval latency): `firebreak
        report`. `figures` is null until a retrospective is recorded."""
        routes.person(request)
        result, problems = await asyncio.to_thread(report_figures, store(), on_time_minutes)
        return JSONResponse({"figures": result, "skipped": problems})

    return api
